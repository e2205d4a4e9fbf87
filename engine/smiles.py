"""The certified SMILES fast path's compiled parser: SMILES bytes -> the graph arrays the Morgan kernels take.

A molecule is *accepted* only when this code can show that RDKit (the versions in
:data:`.fastpath.VERIFIED_RDKIT`) would build the same atoms, hydrogen counts, charges, ring membership
and bond types after sanitisation; anything else is *deferred* to RDKit, molecule by molecule.  Nothing
is ever rejected here: a SMILES RDKit refuses is deferred too, so its reason is RDKit's own.

What is ported, from RDKit's own sources (the pinned release's ``Aromaticity.cpp``, ``Kekulize.cpp``,
``SmilesParseOps.cpp``, ``PeriodicTable``):

* SMILES syntax: organic-subset atoms (``B C N O P S F Cl Br I``, aromatic ``c n o s``), bracket atoms of
  a whitelist (the organic elements, ``Si``, alkali and Mg/Ca/Zn ions: :func:`_bracket_ok`) with ``H``
  counts, charges, ``@``/``@@`` (read and ignored: the fast path serves achiral ECFP only) and atom classes;
  bonds ``- = # / \\``; branches; ring closures
  ``0-9`` and ``%nn``; ``.``.  An implicit bond between two aromatic atoms is aromatic in a ring and
  single outside one.
* Hydrogens of organic-subset atoms from RDKit's valence lists (the first allowed valence at or above the
  explicit one); aromatic atoms by class (``c`` with two or three connections, ``c(=X)``, ``n`` with two
  or three, ``[nH]``, ``[n+]``, ``[nH+]``, ``o``, ``s`` with two).
* Kekulisation: written-aromatic atoms that need a double bond must be perfectly matched over the
  aromatic bonds (a bounded search; no matching, or a search past its bound, defers).
* Aromaticity, RDKit's default model: ``countAtomElec``, ``getAtomDonorTypeArom`` (exocyclic bonds to
  more electronegative atoms steal an electron), ``isAtomCandForArom``, the 9+-ring O/S rule, candidate
  rings, fused systems of rings sharing exactly one bond, and ``applyHuckelToFused`` (combinations of up
  to 6 rings in lexicographic order, atoms counted when in one or two rings of the combination, bonds
  marked when in exactly one, stopping once every ring bond of the system is done).
* Rings: RDKit perceives aromaticity over the symmetrised SSSR.  Instead of computing one, a ring system
  is accepted only when its cycles of up to 8 atoms are independent and exactly as many as its cycle rank
  (then they are its unique minimum cycle basis, and symmetrisation adds nothing), or when it is a single
  ring of any size.

Gates: the study behind this parser deferred peri-fused candidate systems (an atom in three or more
candidate rings) and candidate rings sharing more than one bond, where a port of older RDKit sources had
gone wrong.  This port follows the pinned release's code and the parity run over the large data sets found
no difference with them lifted, so they are off by default (``GATE_*`` keeps them available); fused systems
of more than 12 candidate rings are always deferred.
A written-aromatic bond that does not come out aromatic keeps its Kekulé order, which is RDKit's choice among
the Kekulé structures: the molecule is taken only when every Kekulé structure gives that bond the same
order (searched for), and deferred otherwise.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

#: statuses of :func:`parse_smiles_block`: accepted, or the stage that deferred the molecule
ACCEPTED, DEFERRED = 0, 1
STAGES = {
    1: "empty",
    2: "syntax outside the certified domain",
    3: "ring closures",
    4: "atom, charge or valence outside the certified domain",
    5: "no Kekulé structure found",
    6: "ring system without a unique small ring basis",
    7: "fused-ring gate",
    8: "a written-aromatic bond RDKit does not perceive as aromatic, its Kekulé order not forced",
}

#: gate bits of the ``gates`` argument: conservative refusals kept from the feasibility study, lifted by
#: default since the parity run over the large sets (MOSES 176k + 1.58M, ZINC 50k, ChEMBL 10k: no
#: difference with them off) showed them unneeded for this port; a new RDKit release is checked with them
#: off too (``tests/test_fastpath.py``), and they can be put back per call
GATE_PERI = 1
GATE_BRIDGED = 2
GATES_ALL = 0

#: the longest cycle enumerated in a ring system of more than one ring
MAX_SMALL_RING = 8
#: ring systems larger than this (rank, bonds) are deferred
MAX_RANK = 24
#: cycles of up to MAX_SMALL_RING atoms enumerated in one ring system, at most
MAX_CYCLES = 64
MAX_FUSED = 12

# electron donor types (RDKit's ElectronDonorType)
_VACANT, _ONE, _TWO, _ONE_OR_TWO, _ANY, _NO = 0, 1, 2, 3, 4, 5


def _tables():
    """RDKit's per-element data for the elements the fast path knows (Z < 36): default valence,
    outer-shell electrons, the organic subset's valence lists."""
    default_valence = np.full(64, -1, dtype=np.int32)
    outer = np.zeros(64, dtype=np.int32)
    # RDKit 2025.03 - 2026.09 PeriodicTable (GetDefaultValence, GetNOuterElecs) for Z = 1..20 and 30
    for z, dv, ne in (
        (1, 1, 1), (2, 0, 2), (3, 1, 1), (4, 2, 2), (5, 3, 3), (6, 4, 4), (7, 3, 5), (8, 2, 6), (9, 1, 7),
        (10, 0, 8), (11, 1, 1), (12, 2, 2), (13, 3, 3), (14, 4, 4), (15, 3, 5), (16, 2, 6), (17, 1, 7),
        (18, 0, 8), (19, 1, 1), (20, 2, 2), (30, -1, 2), (35, 1, 7),
    ):  # fmt: skip
        default_valence[z] = dv
        outer[z] = ne
    # organic subset valence lists (GetValenceList), up to three entries, -1 padded
    valences = np.full((64, 3), -1, dtype=np.int32)
    for z, vs in (
        (5, (3,)),
        (6, (4,)),
        (7, (3,)),
        (8, (2,)),
        (9, (1,)),
        (15, (3, 5)),
        (16, (2, 4, 6)),
        (17, (1,)),
        (35, (1,)),
    ):
        valences[z, : len(vs)] = vs
    default_valence[53] = 1
    outer[53] = 7
    valences[53] = (1, 3, 5)
    return default_valence, outer, valences


DEFAULT_VALENCE, OUTER_ELECTRONS, VALENCE_LIST = _tables()


@kernel
def _more_electronegative(z1, z2, outer):
    """RDKit's ``PeriodicTable::moreElectroNegative``: more outer electrons, then the lower atomic number."""
    n1 = outer[z1]
    n2 = outer[z2]
    if n1 > n2:
        return True
    return n1 == n2 and z1 < z2


@kernel
def _bracket_ok(z, charge, valence, degree):
    """Bracket atoms the fast path takes: (element, charge) with the total valence (bonds + H) it must
    have, so that RDKit neither refuses it nor gives it radical electrons."""
    if z == 6:
        return charge == 0 and valence == 4
    if z == 7:
        return (charge == 0 and valence == 3) or (charge == 1 and valence == 4) or (charge == -1 and valence == 2)
    if z == 8:
        return (charge == 0 and valence == 2) or (charge == -1 and valence == 1) or (charge == 1 and valence == 3)
    if z == 16:
        return (
            (charge == 0 and (valence == 2 or valence == 4 or valence == 6))
            or (charge == -1 and valence == 1)
            or (charge == 1 and valence == 3)
        )
    if z == 15:
        return (charge == 0 and (valence == 3 or valence == 5)) or (charge == 1 and valence == 4)
    if z == 5:
        return (charge == 0 and valence == 3) or (charge == -1 and valence == 4)
    if z == 14:
        return charge == 0 and valence == 4
    if z == 9 or z == 17 or z == 35 or z == 53:
        return (charge == 0 and valence == 1) or (charge == -1 and valence == 0 and degree == 0)
    if z == 3 or z == 11 or z == 19:
        return charge == 1 and valence == 0 and degree == 0
    if z == 12 or z == 20 or z == 30:
        return charge == 2 and valence == 0 and degree == 0
    return False


@kernel
def _symbol(c0, c1):
    """Element of a bracket symbol: ``(Z, characters used)``; Z = 0 for one the fast path does not take."""
    up = np.uint8(c0)
    lo = np.uint8(c1)
    if up == 67:  # C
        if lo == 108:  # l
            return 17, 2
        if lo == 97:  # a
            return 20, 2
        if 97 <= lo <= 122:
            return 0, 0
        return 6, 1
    if up == 78:  # N
        if lo == 97:  # a
            return 11, 2
        if 97 <= lo <= 122:
            return 0, 0
        return 7, 1
    if up == 79:  # O
        if 97 <= lo <= 122:
            return 0, 0
        return 8, 1
    if up == 83:  # S
        if lo == 105:  # i
            return 14, 2
        if 97 <= lo <= 122:
            return 0, 0
        return 16, 1
    if up == 80:  # P
        if 97 <= lo <= 122:
            return 0, 0
        return 15, 1
    if up == 66:  # B
        if lo == 114:  # r
            return 35, 2
        if 97 <= lo <= 122:
            return 0, 0
        return 5, 1
    if up == 70:  # F
        if 97 <= lo <= 122:
            return 0, 0
        return 9, 1
    if up == 73:  # I
        if 97 <= lo <= 122:
            return 0, 0
        return 53, 1
    if up == 75:  # K
        if 97 <= lo <= 122:
            return 0, 0
        return 19, 1
    if up == 76 and lo == 105:  # Li
        return 3, 2
    if up == 77 and lo == 103:  # Mg
        return 12, 2
    if up == 90 and lo == 110:  # Zn
        return 30, 2
    return 0, 0


@kernel
def parse_smiles_block(
    blocks, blo, bhi, buf, offsets, gates, max_atoms, max_rings, status, n_atoms, n_bonds, atomic_num, total_degree,
    total_hs, charge_out, in_ring_out, bond_begin, bond_end, bond_type,
):  # fmt: skip
    """Parse the SMILES of blocks ``blo..bhi-1`` of ``buf`` (``offsets``: n + 1 byte offsets).

    The accepted molecules of block ``k`` write their atoms and bonds one after another from position
    ``offsets[blocks[k]]`` of the output arrays (a SMILES has at least as many bytes as atoms and as
    bonds, so a block never reaches the next one's start), their counts in ``n_atoms``/``n_bonds`` and
    ``status[i]`` (``ACCEPTED``, or the stage that deferred it).
    """
    lo = blocks[blo]
    hi = blocks[bhi]
    longest = 1
    for i in range(lo, hi):
        longest = max(longest, offsets[i + 1] - offsets[i])
    L = longest + 1
    # per-atom scratch
    z = np.empty(L, np.int32)
    arom = np.empty(L, np.bool_)
    brk = np.empty(L, np.bool_)
    hx = np.empty(L, np.int32)  # explicit (bracket) H
    hs = np.empty(L, np.int32)  # total H
    chg = np.empty(L, np.int32)
    parent = np.empty(L, np.int32)
    pbond = np.empty(L, np.int32)
    depth = np.empty(L, np.int32)
    frag = np.empty(L, np.int32)
    deg = np.empty(L, np.int32)
    ev = np.empty(L, np.int32)
    need_d = np.empty(L, np.bool_)
    matched = np.empty(L, np.bool_)
    edon = np.empty(L, np.int32)
    cand = np.empty(L, np.bool_)
    ring_atom = np.empty(L, np.bool_)
    comp = np.empty(L, np.int32)
    ring_count = np.empty(L, np.int32)
    mark = np.empty(L, np.bool_)
    sys_list = np.empty(L, np.int32)
    # per-bond scratch
    bb = np.empty(L, np.int32)
    be = np.empty(L, np.int32)
    order = np.empty(L, np.int32)  # 1, 2, 3; 4 = written aromatic (in a ring after the ring pass)
    closure = np.empty(L, np.bool_)
    ring_bond = np.empty(L, np.bool_)
    wrote_arom = np.empty(L, np.bool_)
    is_arom = np.empty(L, np.bool_)
    # adjacency
    nptr = np.empty(L + 1, np.int32)
    nat = np.empty(2 * L, np.int32)
    nbd = np.empty(2 * L, np.int32)
    fillp = np.empty(L, np.int32)
    stack = np.empty(L, np.int32)
    ropen = np.full(100, -1, np.int32)
    rsym = np.empty(100, np.int32)
    # kekulisation search
    kstack = np.empty(L, np.int32)
    kchoice = np.empty(L, np.int32)
    kek_save = np.empty(L, np.int32)
    # ring systems
    cyc_atoms = np.empty((MAX_CYCLES + MAX_RANK, L), np.int32)  # a rank-1 system's ring may be long
    cyc_len = np.empty(MAX_CYCLES + MAX_RANK, np.int32)
    cyc_mask = np.empty(MAX_CYCLES, np.uint64)
    cyc_red = np.empty(MAX_CYCLES, np.uint64)
    keep = np.empty(MAX_RANK, np.int32)
    basis = np.empty(64, np.uint64)
    comp_bond_local = np.empty(L, np.int32)  # bond -> index inside its ring system (< 64)
    path = np.empty(MAX_SMALL_RING + 1, np.int32)
    pit = np.empty(MAX_SMALL_RING + 1, np.int32)
    # candidate rings (all systems of the molecule)
    crings_atoms = np.empty((4 * MAX_RANK, L), np.int32)
    crings_len = np.empty(4 * MAX_RANK, np.int32)
    crings_bonds = np.empty((4 * MAX_RANK, L), np.int32)
    fused_of = np.empty(4 * MAX_RANK, np.int32)
    fused_list = np.empty(4 * MAX_RANK, np.int32)
    comb = np.empty(8, np.int32)
    seen_ring = np.empty(4 * MAX_RANK, np.bool_)
    fused_m = np.empty((4 * MAX_RANK, 4 * MAX_RANK), np.bool_)
    atom_cnt = np.empty(L, np.int32)
    bond_cnt = np.empty(L, np.int32)
    done_bond = np.empty(L, np.bool_)
    sys_bond = np.empty(L, np.bool_)

    cur_a = 0
    cur_b = 0
    block = blo - 1
    for i in range(lo, hi):
        if block < bhi - 1 and i == blocks[block + 1]:
            block += 1  # a new block writes from its first byte
            cur_a = offsets[i]
            cur_b = offsets[i]
        s = offsets[i]
        e = offsets[i + 1]
        status[i] = DEFERRED
        n_atoms[i] = 0
        n_bonds[i] = 0
        if e == s:
            continue
        # ------------------------------------------------------------ tokenising
        status[i] = 2
        took, na, nb = _tokenise(
            buf, s, e, max_atoms, max_rings, z, arom, brk, hx, chg, frag, bb, be, order, closure, parent,
            pbond, depth, stack, ropen, rsym,
        )  # fmt: skip
        if not took:
            continue
        # ------------------------------------------------------------ rings (bridges are the non-ring bonds)
        status[i] = 3
        for b in range(nb):
            ring_bond[b] = False
        for b in range(nb):
            if not closure[b]:
                continue
            ring_bond[b] = True
            u = bb[b]
            v = be[b]
            while u != v:
                if depth[u] >= depth[v]:
                    ring_bond[pbond[u]] = True
                    u = parent[u]
                else:
                    ring_bond[pbond[v]] = True
                    v = parent[v]
        for a in range(na):
            ring_atom[a] = False
            deg[a] = 0
        for b in range(nb):
            deg[bb[b]] += 1
            deg[be[b]] += 1
            if ring_bond[b]:
                ring_atom[bb[b]] = True
                ring_atom[be[b]] = True
            wrote_arom[b] = False
            if order[b] == 4:
                if ring_bond[b]:
                    wrote_arom[b] = True
                else:
                    order[b] = 1  # an implicit bond between aromatic atoms outside a ring is single
        # adjacency
        nptr[0] = 0
        for a in range(na):
            nptr[a + 1] = nptr[a] + deg[a]
            fillp[a] = nptr[a]
        for b in range(nb):
            u = bb[b]
            v = be[b]
            nat[fillp[u]] = v
            nbd[fillp[u]] = b
            fillp[u] += 1
            nat[fillp[v]] = u
            nbd[fillp[v]] = b
            fillp[v] += 1
        # ------------------------------------------------------------ hydrogens and valences
        status[i] = 4
        if not _hydrogens(na, nptr, nbd, wrote_arom, order, arom, z, brk, chg, hx, hs, need_d, deg):
            continue
        # ------------------------------------------------------------ Kekulé structure of written-aromatic bonds
        status[i] = 5
        for a in range(na):
            matched[a] = not need_d[a]
        for b in range(nb):
            if wrote_arom[b]:
                order[b] = 1
        if _match(na, nptr, nat, nbd, wrote_arom, matched, order, kstack, kchoice) != 1:
            continue  # no Kekulé structure (RDKit refuses it; its message comes from the fallback) or too long
        # explicit valence of the Kekulé form (bonds + bracket H), as RDKit's getValence(EXPLICIT)
        for a in range(na):
            v = hx[a]
            for k in range(nptr[a], nptr[a + 1]):
                v += order[nbd[k]]
            ev[a] = v
        # ------------------------------------------------------------ donor types and candidates (ring atoms)
        _donors(na, z, chg, brk, hx, hs, deg, ev, ring_atom, ring_bond, order, nptr, nat, nbd, edon, cand)
        # ------------------------------------------------------------ ring systems and their unique small basis
        status[i] = 6
        ncr = _candidate_rings(
            na, nb, is_arom, comp, ring_atom, stack, nptr, nat, nbd, ring_bond, cand, sys_list, mark,
            comp_bond_local, cyc_atoms, cyc_len, path, pit, cyc_mask, basis, cyc_red, keep, edon, z, deg,
            chg, order, crings_atoms, crings_bonds, crings_len,
        )  # fmt: skip
        if ncr < 0:
            continue
        # ------------------------------------------------------------ Hückel over fused systems
        status[i] = 7
        if not _huckel(
            ncr, na, nb, gates, ring_count, crings_len, crings_atoms, crings_bonds, fused_of, fused_m,
            stack, fused_list, sys_bond, done_bond, comb, seen_ring, atom_cnt, bond_cnt, edon, order,
            is_arom,
        ):  # fmt: skip
            continue
        # a written-aromatic bond RDKit does not perceive as aromatic keeps its Kekulé order, which is RDKit's
        # choice among the Kekulé structures: taken only when every structure gives it the same order
        status[i] = 8
        ok = True
        for b in range(nb):
            if wrote_arom[b] and not is_arom[b]:
                if not _forced(
                    b, na, nb, bb, be, nptr, nat, nbd, wrote_arom, need_d, matched, order, kek_save, kstack, kchoice
                ):
                    ok = False
                    break
        if not ok:
            continue
        # ------------------------------------------------------------ output
        for a in range(na):
            atomic_num[cur_a + a] = z[a]
            total_degree[cur_a + a] = deg[a] + hs[a]
            total_hs[cur_a + a] = hs[a]
            charge_out[cur_a + a] = chg[a]
            in_ring_out[cur_a + a] = ring_atom[a]
        for b in range(nb):
            bond_begin[cur_b + b] = bb[b]
            bond_end[cur_b + b] = be[b]
            bond_type[cur_b + b] = 12 if is_arom[b] else order[b]
        cur_a += na
        cur_b += nb
        n_atoms[i] = na
        n_bonds[i] = nb
        status[i] = ACCEPTED


@kernel
def _hydrogens(na, nptr, nbd, wrote_arom, order, arom, z, brk, chg, hx, hs, need_d, deg):
    """Hydrogen counts from RDKit's valence lists (aromatic atoms by class) and which written-aromatic atoms
    need a double bond (``need_d``); False to defer an atom outside the certified domain."""
    ok = True
    for a in range(na):
        need_d[a] = False
        n_ar = 0
        n_sum = 0
        n_dbl_out = 0
        n_other = 0
        for k in range(nptr[a], nptr[a + 1]):
            b = nbd[k]
            if wrote_arom[b]:
                n_ar += 1
            else:
                n_sum += order[b]
                n_other += 1
                if order[b] == 2:
                    n_dbl_out += 1
                elif order[b] == 3:
                    n_dbl_out += 10
        if arom[a]:
            if z[a] == 6 and not brk[a]:
                if n_ar == 2 and n_other == 0:
                    hs[a] = 1
                    need_d[a] = True
                elif n_ar == 2 and n_other == 1 and n_dbl_out == 0:
                    hs[a] = 0
                    need_d[a] = True
                elif n_ar == 3 and n_other == 0:
                    hs[a] = 0
                    need_d[a] = True
                elif n_ar == 2 and n_other == 1 and n_dbl_out == 1:
                    hs[a] = 0
                else:
                    ok = False
                    break
            elif z[a] == 7 and not brk[a]:
                if n_ar == 2 and n_other == 0:
                    hs[a] = 0
                    need_d[a] = True
                elif (n_ar == 2 and n_other == 1 and n_dbl_out == 0) or (n_ar == 3 and n_other == 0):
                    hs[a] = 0
                else:
                    ok = False
                    break
            elif z[a] == 7:  # [nH] [n+] [nH+]
                if chg[a] == 0 and hx[a] == 1 and n_ar == 2 and n_other == 0:
                    hs[a] = 1
                elif (
                    chg[a] == 1
                    and hx[a] == 0
                    and n_dbl_out == 0
                    and ((n_ar == 2 and n_other == 1) or (n_ar == 3 and n_other == 0))
                ):
                    hs[a] = 0
                    need_d[a] = True
                elif chg[a] == 1 and hx[a] == 1 and n_ar == 2 and n_other == 0:
                    hs[a] = 1
                    need_d[a] = True
                else:
                    ok = False
                    break
            elif (z[a] == 8 or z[a] == 16) and not brk[a]:
                if n_ar == 2 and n_other == 0:
                    hs[a] = 0
                else:
                    ok = False
                    break
            else:
                ok = False
                break
        elif brk[a]:
            if n_ar != 0 or not _bracket_ok(z[a], chg[a], n_sum + hx[a], deg[a]):
                ok = False
                break
            hs[a] = hx[a]
        else:
            if n_ar != 0:
                ok = False
                break
            h = -1
            for j in range(3):
                v = VALENCE_LIST[z[a], j]
                if v >= n_sum:
                    h = v - n_sum
                    break
            if h < 0:  # above every allowed valence: RDKit refuses it or rewrites it (cleanUp)
                ok = False
                break
            hs[a] = h
    if not ok:
        return False
    return True


@kernel
def _donors(na, z, chg, brk, hx, hs, deg, ev, ring_atom, ring_bond, order, nptr, nat, nbd, edon, cand):
    """RDKit's ``getAtomDonorTypeArom`` and ``isAtomCandForArom`` for every ring atom (``edon``, ``cand``)."""
    for a in range(na):
        cand[a] = False
        edon[a] = _NO
        if not ring_atom[a]:
            continue
        za = z[a]
        dv = DEFAULT_VALENCE[za]
        nelec = -1
        if dv > 1:
            dg = deg[a] + hs[a]
            if dg <= 3:
                nlp = OUTER_ELECTRONS[za] - dv - chg[a]
                if nlp < 0:
                    nlp = 0
                nelec = (dv - dg) + nlp
                if nelec > 1 and ev[a] - deg[a] > 1:
                    nelec = 1
        who = -1
        cyc_mult = False
        for k in range(nptr[a], nptr[a + 1]):
            b = nbd[k]
            if order[b] >= 2:
                if ring_bond[b]:
                    cyc_mult = True
                elif who < 0:
                    who = nat[k]
        d = _NO
        if nelec < 0:
            d = _NO
        elif nelec == 0:
            if who >= 0:
                d = _VACANT
            elif cyc_mult:
                d = _ONE
        elif nelec == 1:
            if who >= 0:
                d = _VACANT if _more_electronegative(z[who], za, OUTER_ELECTRONS) else _ONE
            elif ev[a] != deg[a] + hx[a]:  # incidentMultipleBond
                d = _ONE
            elif chg[a] == 1:
                d = _VACANT
        else:
            if who >= 0 and _more_electronegative(z[who], za, OUTER_ELECTRONS):
                nelec -= 1
            d = _ONE if nelec % 2 == 1 else _TWO
        edon[a] = d
        # isAtomCandForArom
        c_ok = d != _NO and za <= 18
        if c_ok and dv > 0:
            zc = za - chg[a]
            if 0 < zc < 64 and ev[a] + (0 if brk[a] else hs[a]) > DEFAULT_VALENCE[zc]:
                c_ok = False
        if c_ok and ev[a] - deg[a] > 1:
            n_mult = 0
            for k in range(nptr[a], nptr[a + 1]):
                if order[nbd[k]] >= 2:
                    n_mult += 1
            if n_mult > 1:
                c_ok = False
        cand[a] = c_ok


@kernel
def _tokenise(
    buf, s, e, max_atoms, max_rings, z, arom, brk, hx, chg, frag, bb, be, order, closure, parent, pbond, depth,
    stack, ropen, rsym,
):  # fmt: skip
    """Read SMILES ``buf[s:e]`` into atoms and bonds: ``(1, atoms, bonds)``, or ``(0, 0, 0)`` to defer."""
    ok = True
    na = 0
    nb = 0
    prev = -1
    pend = 0  # 0 none, 1 '-', 2 '=', 3 '#', 5 '/' or '\'
    sp = 0
    nfrag = 0
    ok = True
    n_open = 0  # ring-closure numbers open now
    pos = s
    opened = False  # just after '(' : an atom or a bond symbol must follow
    while pos < e and ok:
        c = buf[pos]
        if opened and not (c == 45 or c == 61 or c == 35 or c == 47 or c == 92):
            opened = False
            if not (c == 91 or (65 <= c <= 90) or (97 <= c <= 122)):
                ok = False
                break
        atom = False
        az = 0
        aa = False
        ab = False
        ah = 0
        ac = 0
        if c == 67:  # C / Cl
            if pos + 1 < e and buf[pos + 1] == 108:
                az = 17
                pos += 2
            else:
                az = 6
                pos += 1
            atom = True
        elif c == 66:  # B / Br
            if pos + 1 < e and buf[pos + 1] == 114:
                az = 35
                pos += 2
            else:
                az = 5
                pos += 1
            atom = True
        elif c == 78:
            az = 7
            pos += 1
            atom = True
        elif c == 79:
            az = 8
            pos += 1
            atom = True
        elif c == 83:
            az = 16
            pos += 1
            atom = True
        elif c == 80:
            az = 15
            pos += 1
            atom = True
        elif c == 70:
            az = 9
            pos += 1
            atom = True
        elif c == 73:
            az = 53
            pos += 1
            atom = True
        elif c == 99:  # c
            az = 6
            aa = True
            pos += 1
            atom = True
        elif c == 110:  # n
            az = 7
            aa = True
            pos += 1
            atom = True
        elif c == 111:  # o
            az = 8
            aa = True
            pos += 1
            atom = True
        elif c == 115:  # s
            az = 16
            aa = True
            pos += 1
            atom = True
        elif c == 91:  # [
            ab = True
            pos += 1
            if pos >= e or (48 <= buf[pos] <= 57):  # isotopes: deferred (deltaMass)
                ok = False
                break
            c0 = buf[pos]
            c1 = buf[pos + 1] if pos + 1 < e else 0
            if c0 == 110:  # aromatic n
                az = 7
                aa = True
                pos += 1
            else:
                az, used = _symbol(c0, c1)
                if az == 0:
                    ok = False
                    break
                pos += used
            if pos < e and buf[pos] == 64:  # @ / @@ (ignored), other chirality classes deferred
                pos += 1
                if pos < e and buf[pos] == 64:
                    pos += 1
                if pos < e and 65 <= buf[pos] <= 90 and buf[pos] != 72:
                    ok = False
                    break
            if pos < e and buf[pos] == 72:  # H count
                pos += 1
                ah = 1
                if pos < e and 48 <= buf[pos] <= 57:
                    ah = buf[pos] - 48
                    pos += 1
            if pos < e and (buf[pos] == 43 or buf[pos] == 45):
                sign = 1 if buf[pos] == 43 else -1
                pos += 1
                mag = 1
                if pos < e and 48 <= buf[pos] <= 57:
                    mag = buf[pos] - 48
                    pos += 1
                else:
                    while pos < e and buf[pos] == (43 if sign == 1 else 45):
                        mag += 1
                        pos += 1
                ac = sign * mag
            if pos < e and buf[pos] == 58:  # atom class
                pos += 1
                if pos >= e or not (48 <= buf[pos] <= 57):
                    ok = False
                    break
                while pos < e and 48 <= buf[pos] <= 57:
                    pos += 1
            if pos >= e or buf[pos] != 93:
                ok = False
                break
            pos += 1
            atom = True
        if atom:
            a = na
            na += 1
            z[a] = az
            arom[a] = aa
            brk[a] = ab
            hx[a] = ah
            chg[a] = ac
            frag[a] = nfrag
            if prev >= 0:
                if pend == 0:
                    o = 4 if (aa and arom[prev]) else 1
                elif pend == 1:
                    o = 1
                elif pend == 5:
                    if aa and arom[prev]:
                        ok = False
                        break
                    o = 1
                else:
                    if (aa and arom[prev]) or (pend == 3 and (aa or arom[prev])):
                        ok = False
                        break
                    o = pend
                bb[nb] = prev
                be[nb] = a
                order[nb] = o
                closure[nb] = False
                parent[a] = prev
                pbond[a] = nb
                depth[a] = depth[prev] + 1
                nb += 1
            else:
                if pend != 0:
                    ok = False
                    break
                parent[a] = -1
                pbond[a] = -1
                depth[a] = 0
            pend = 0
            prev = a
            continue
        if c == 40:  # (
            if prev < 0 or pend != 0:
                ok = False
                break
            stack[sp] = prev
            sp += 1
            pos += 1
            opened = True
        elif c == 41:  # )
            if sp == 0 or pend != 0:
                ok = False
                break
            sp -= 1
            prev = stack[sp]
            pos += 1
        elif c == 45:
            if pend != 0:
                ok = False
                break
            pend = 1
            pos += 1
        elif c == 61:
            if pend != 0:
                ok = False
                break
            pend = 2
            pos += 1
        elif c == 35:
            if pend != 0:
                ok = False
                break
            pend = 3
            pos += 1
        elif c == 47 or c == 92:
            if pend != 0:
                ok = False
                break
            pend = 5
            pos += 1
        elif (48 <= c <= 57) or c == 37:
            if prev < 0:
                ok = False
                break
            if c == 37:
                if pos + 2 >= e or not (48 <= buf[pos + 1] <= 57) or not (48 <= buf[pos + 2] <= 57):
                    ok = False
                    break
                rn = (buf[pos + 1] - 48) * 10 + (buf[pos + 2] - 48)
                pos += 3
            else:
                rn = c - 48
                pos += 1
            if ropen[rn] < 0:
                ropen[rn] = prev
                rsym[rn] = pend
                pend = 0
                n_open += 1
            else:
                o_atom = ropen[rn]
                ropen[rn] = -1
                n_open -= 1
                s1 = rsym[rn]
                s2 = pend
                pend = 0
                if o_atom == prev or frag[o_atom] != frag[prev]:
                    ok = False
                    break
                if s1 != 0 and s2 != 0 and s1 != s2:
                    ok = False
                    break
                sym = s1 if s1 != 0 else s2
                for b in range(nb):  # a second bond between the same atoms
                    if (bb[b] == o_atom and be[b] == prev) or (bb[b] == prev and be[b] == o_atom):
                        ok = False
                if not ok:
                    break
                both = arom[o_atom] and arom[prev]
                if sym == 0:
                    o = 4 if both else 1
                elif sym == 1:
                    o = 1
                else:
                    if both or (sym == 3 and (arom[o_atom] or arom[prev])):
                        ok = False
                        break
                    o = 1 if sym == 5 else sym
                bb[nb] = o_atom
                be[nb] = prev
                order[nb] = o
                closure[nb] = True
                nb += 1
        elif c == 46:  # .
            if pend != 0 or sp != 0 or prev < 0:
                ok = False
                break
            prev = -1
            nfrag += 1
            pos += 1
        else:
            ok = False
            break
    if n_open != 0:
        for r in range(100):  # leave the table clean for the next molecule
            ropen[r] = -1
        return 0, 0, 0
    if not ok or sp != 0 or pend != 0 or na == 0 or na > max_atoms or prev < 0:
        return 0, 0, 0  # (prev < 0 at the end: a trailing '.')
    if nb - na + nfrag + 1 > max_rings:
        return 0, 0, 0
    return 1, na, nb


@kernel
def _candidate_rings(
    na, nb, is_arom, comp, ring_atom, stack, nptr, nat, nbd, ring_bond, cand, sys_list, mark, comp_bond_local,
    cyc_atoms, cyc_len, path, pit, cyc_mask, basis, cyc_red, keep, edon, z, deg, chg, order, crings_atoms,
    crings_bonds, crings_len,
):  # fmt: skip
    """The candidate rings of every ring system (RDKit's SSSR rings whose atoms are all candidates), written to
    ``crings_*``: their number, or -1 to defer (a system without a unique small ring basis)."""
    ok = True
    any_cand = False
    for a in range(na):
        if cand[a]:
            any_cand = True
            break
    for b in range(nb):
        is_arom[b] = False
    ncr = 0
    if any_cand:
        for a in range(na):
            comp[a] = -1
        ncomp = 0
        for a0 in range(na):
            if not ring_atom[a0] or comp[a0] >= 0:
                continue
            # the ring system of a0 (connected by ring bonds)
            comp[a0] = ncomp
            top = 0
            stack[top] = a0
            top += 1
            n_sys_atoms = 0
            n_sys_cand = 0
            deg_sum = 0
            while top > 0:
                top -= 1
                u = stack[top]
                sys_list[n_sys_atoms] = u
                n_sys_atoms += 1
                if cand[u]:
                    n_sys_cand += 1
                for k in range(nptr[u], nptr[u + 1]):
                    if ring_bond[nbd[k]]:
                        deg_sum += 1
                        if comp[nat[k]] < 0:
                            comp[nat[k]] = ncomp
                            stack[top] = nat[k]
                            top += 1
            this = ncomp
            ncomp += 1
            n_sys_bonds = deg_sum // 2
            rank = n_sys_bonds - n_sys_atoms + 1
            if n_sys_cand < 3 or (rank == 1 and n_sys_cand < n_sys_atoms):
                continue  # no ring can be all candidates
            if rank > MAX_RANK or n_sys_bonds > 64:
                ok = False
                break
            if rank > 1:
                # no cycle among the system's candidate atoms: no candidate ring whatever its rings are
                e_c = 0
                for j in range(n_sys_atoms):
                    u = sys_list[j]
                    mark[u] = False
                    if cand[u]:
                        for k in range(nptr[u], nptr[u + 1]):
                            if ring_bond[nbd[k]] and cand[nat[k]]:
                                e_c += 1
                e_c //= 2
                c_c = 0
                for j in range(n_sys_atoms):
                    a = sys_list[j]
                    if not cand[a] or mark[a]:
                        continue
                    c_c += 1
                    mark[a] = True
                    top = 0
                    stack[top] = a
                    top += 1
                    while top > 0:
                        top -= 1
                        u = stack[top]
                        for k in range(nptr[u], nptr[u + 1]):
                            v = nat[k]
                            if ring_bond[nbd[k]] and cand[v] and not mark[v]:
                                mark[v] = True
                                stack[top] = v
                                top += 1
                if e_c - n_sys_cand + c_c <= 0:
                    continue
            # the system's bonds, numbered from 0 (bit positions of the cycles' masks)
            nl = 0
            for j in range(n_sys_atoms if rank > 1 else 0):
                u = sys_list[j]
                for k in range(nptr[u], nptr[u + 1]):
                    if ring_bond[nbd[k]] and u < nat[k]:
                        comp_bond_local[nbd[k]] = nl
                        nl += 1
            ncyc = 0
            if rank == 1:
                # one ring: walk it
                prev_a = -1
                u = a0
                ln = 0
                while True:
                    cyc_atoms[0, ln] = u
                    ln += 1
                    nxt = -1
                    for k in range(nptr[u], nptr[u + 1]):
                        if ring_bond[nbd[k]] and comp[nat[k]] == this and nat[k] != prev_a:
                            nxt = nat[k]
                            break
                    prev_a = u
                    u = nxt
                    if u == a0 or u < 0 or ln > na:
                        break
                if u != a0:
                    ok = False
                    break
                cyc_len[0] = ln
                ncyc = 1
            else:
                # every cycle of up to MAX_SMALL_RING atoms, each once (lowest atom first, then the
                # direction whose second atom is lower than its last)
                for st in range(na):
                    if comp[st] != this or not ok:
                        continue
                    path[0] = st
                    pit[0] = nptr[st]
                    plen = 1
                    while plen > 0 and ok:
                        u = path[plen - 1]
                        k = pit[plen - 1]
                        if k >= nptr[u + 1]:
                            plen -= 1
                            continue
                        pit[plen - 1] = k + 1
                        if not ring_bond[nbd[k]]:
                            continue
                        v = nat[k]
                        if v == st:
                            if plen >= 3 and path[1] < path[plen - 1]:
                                if ncyc >= MAX_CYCLES:
                                    ok = False
                                    break
                                for j in range(plen):
                                    cyc_atoms[ncyc, j] = path[j]
                                cyc_len[ncyc] = plen
                                ncyc += 1
                            continue
                        if v < st or comp[v] != this or plen >= MAX_SMALL_RING:
                            continue
                        on_path = False
                        for j in range(plen):
                            if path[j] == v:
                                on_path = True
                                break
                        if on_path:
                            continue
                        path[plen] = v
                        pit[plen] = nptr[v]
                        plen += 1
                if not ok:
                    break
            # bond masks, independence over GF(2) (a single ring needs neither)
            for c in range(ncyc if ncyc > 1 else 0):
                m = np.uint64(0)
                ln = cyc_len[c]
                for j in range(ln):
                    u = cyc_atoms[c, j]
                    v = cyc_atoms[c, (j + 1) % ln]
                    for k in range(nptr[u], nptr[u + 1]):
                        if nat[k] == v:
                            m |= np.uint64(1) << np.uint64(comp_bond_local[nbd[k]])
                            break
                cyc_mask[c] = m
            if ncyc > 1:
                # the minimum cycle basis, by length: a cycle spanned by shorter ones is in no minimum
                # basis (dropped); one spanned only with the help of another of its own length could
                # be swapped for it (the basis is not unique: defer); the basis must reach the rank
                for j in range(64):
                    basis[j] = np.uint64(0)
                nkeep = 0
                for ln in range(3, MAX_SMALL_RING + 1):
                    # pass 1: reduce against the shorter cycles only
                    for c in range(ncyc):
                        if cyc_len[c] != ln:
                            continue
                        cyc_red[c] = _reduce(cyc_mask[c], basis)
                    # pass 2: this length's survivors must be independent of each other
                    for c in range(ncyc):
                        if cyc_len[c] != ln or cyc_red[c] == np.uint64(0):
                            continue
                        m = _reduce(cyc_red[c], basis)
                        if m == np.uint64(0):
                            ok = False
                            break
                        _insert(m, basis)
                        keep[nkeep] = c
                        nkeep += 1
                    if not ok:
                        break
                if not ok:
                    break
                if nkeep != rank:
                    ok = False
                    break
                for j in range(nkeep):  # the basis's cycles, in place
                    c = keep[j]
                    ln = cyc_len[c]
                    for q in range(ln):
                        cyc_atoms[MAX_CYCLES + j, q] = cyc_atoms[c, q]
                    cyc_len[MAX_CYCLES + j] = ln
                for j in range(nkeep):
                    ln = cyc_len[MAX_CYCLES + j]
                    for q in range(ln):
                        cyc_atoms[j, q] = cyc_atoms[MAX_CYCLES + j, q]
                    cyc_len[j] = ln
                ncyc = nkeep
            elif ncyc != rank:
                ok = False
                break
            # the 9+-ring O/S rule, then the candidate rings of this system
            for c in range(ncyc):
                ln = cyc_len[c]
                if ln >= 9:
                    for j in range(ln):
                        u = cyc_atoms[c, j]
                        if edon[u] == _TWO and (z[u] == 8 or z[u] == 16) and deg[u] == 2 and chg[u] == 0:
                            mult = False
                            for k in range(nptr[u], nptr[u + 1]):
                                if order[nbd[k]] >= 2:
                                    mult = True
                            if not mult:
                                edon[u] = _NO
                                cand[u] = False
                all_c = True
                for j in range(ln):
                    if not cand[cyc_atoms[c, j]]:
                        all_c = False
                        break
                if not all_c:
                    continue
                if ncr >= crings_len.shape[0]:
                    ok = False
                    break
                for j in range(ln):
                    u = cyc_atoms[c, j]
                    v = cyc_atoms[c, (j + 1) % ln]
                    crings_atoms[ncr, j] = u
                    for k in range(nptr[u], nptr[u + 1]):
                        if nat[k] == v:
                            crings_bonds[ncr, j] = nbd[k]
                            break
                crings_len[ncr] = ln
                ncr += 1
            if not ok:
                break
    if not ok:
        return -1
    return ncr


@kernel
def _huckel(
    ncr, na, nb, gates, ring_count, crings_len, crings_atoms, crings_bonds, fused_of, fused_m, stack, fused_list,
    sys_bond, done_bond, comb, seen_ring, atom_cnt, bond_cnt, edon, order, is_arom,
):  # fmt: skip
    """RDKit's ``applyHuckelToFused`` over each fused system of candidate rings: marks ``is_arom``; False to defer."""
    ok = True
    if ncr > 0:
        for a in range(na):
            ring_count[a] = 0
        for r in range(ncr):
            for j in range(crings_len[r]):
                ring_count[crings_atoms[r, j]] += 1
        if gates & GATE_PERI:
            for a in range(na):
                if ring_count[a] >= 3:
                    ok = False
        if not ok:
            return False
        # fused neighbours: rings sharing exactly one bond (both at most 24 bonds)
        for r in range(ncr):
            fused_of[r] = -1
            for q in range(r + 1, ncr):
                shared = _shared_bonds(crings_bonds, crings_len, r, q)
                if shared > 1 and (gates & GATE_BRIDGED):
                    ok = False
                fused_m[r, q] = shared == 1 and crings_len[r] <= 24 and crings_len[q] <= 24
                fused_m[q, r] = fused_m[r, q]
        if not ok:
            return False
        nsys = 0
        for r0 in range(ncr):
            if fused_of[r0] >= 0:
                continue
            fused_of[r0] = nsys
            top = 0
            stack[top] = r0
            top += 1
            while top > 0:
                top -= 1
                r = stack[top]
                for q in range(ncr):
                    if q != r and fused_m[r, q] and fused_of[q] < 0:
                        fused_of[q] = nsys
                        stack[top] = q
                        top += 1
            nsys += 1
        if not ok:
            return False
        for f in range(nsys):
            nf = 0
            for r in range(ncr):
                if fused_of[r] == f:
                    fused_list[nf] = r
                    nf += 1
            if nf > MAX_FUSED:
                ok = False
                break
            for t in range(nf):
                r = fused_list[t]
                for j in range(crings_len[r]):
                    sys_bond[crings_bonds[r, j]] = False
                    done_bond[crings_bonds[r, j]] = False
            n_sys_bonds = 0
            for t in range(nf):
                r = fused_list[t]
                for j in range(crings_len[r]):
                    b = crings_bonds[r, j]
                    if not sys_bond[b]:
                        sys_bond[b] = True
                        n_sys_bonds += 1
            n_done = 0
            size = 0
            while True:
                size += 1
                if size > min(nf, 6) or n_done >= n_sys_bonds:
                    break
                for j in range(size):
                    comb[j] = j
                while True:
                    if _connected(fused_m, fused_list, comb, size, seen_ring):
                        # atoms in one or two rings of the combination, Hückel on them
                        for j in range(size):
                            r = fused_list[comb[j]]
                            for q in range(crings_len[r]):
                                atom_cnt[crings_atoms[r, q]] = 0
                                bond_cnt[crings_bonds[r, q]] = 0
                        for j in range(size):
                            r = fused_list[comb[j]]
                            for q in range(crings_len[r]):
                                atom_cnt[crings_atoms[r, q]] += 1
                                bond_cnt[crings_bonds[r, q]] += 1
                        rlw = 0
                        rup = 0
                        for j in range(size):
                            r = fused_list[comb[j]]
                            for q in range(crings_len[r]):
                                a = crings_atoms[r, q]
                                c = atom_cnt[a]
                                if c < 0:
                                    continue  # counted already
                                atom_cnt[a] = -1
                                if c == 1 or c == 2:
                                    d = edon[a]
                                    if d == _ONE:
                                        rlw += 1
                                        rup += 1
                                    elif d == _TWO:
                                        rlw += 2
                                        rup += 2
                                    elif d == _ONE_OR_TWO or d == _ANY:
                                        rlw += 1
                                        rup += 2
                        aromatic = False
                        if rup >= 6:
                            for rie in range(rlw, rup + 1):
                                if (rie - 2) % 4 == 0:
                                    aromatic = True
                                    break
                        elif rup == 2:
                            aromatic = True
                        if aromatic:
                            for j in range(size):
                                r = fused_list[comb[j]]
                                for q in range(crings_len[r]):
                                    b = crings_bonds[r, q]
                                    if bond_cnt[b] == 1:
                                        if order[b] == 1 or order[b] == 2:
                                            is_arom[b] = True
                                        if not done_bond[b]:
                                            done_bond[b] = True
                                            n_done += 1
                    # next combination (lexicographic)
                    j = size - 1
                    while j >= 0 and comb[j] == nf - size + j:
                        j -= 1
                    if j < 0:
                        break
                    comb[j] += 1
                    for q in range(j + 1, size):
                        comb[q] = comb[q - 1] + 1
        if not ok:
            return False
    return True


@kernel
def _match(na, nptr, nat, nbd, wrote_arom, matched, order, kstack, kchoice):
    """Give every unmatched atom one double bond over the written-aromatic bonds (a perfect matching).

    A depth-first search: each level matches the lowest unmatched atom to one of its free partners; a dead
    end undoes the level above and tries its next partner.  Returns 1 (found: ``order`` of the bonds it uses
    becomes 2), 0 (there is none) or -1 (past a bound on the steps: unknown, the caller defers).
    """
    steps = 0
    level = 0
    fresh = True  # the next step starts a new level (else it retries kstack[level] from kchoice[level])
    while True:
        if fresh:
            # the lowest unmatched atom (every atom below the previous level's is matched)
            best = -1
            a = kstack[level - 1] + 1 if level > 0 else 0
            while a < na:
                if not matched[a]:
                    best = a
                    break
                a += 1
            if best < 0:
                return 1
            kstack[level] = best
            kchoice[level] = nptr[best]
        steps += 1
        if steps > 4000:
            return -1
        a = kstack[level]
        k = kchoice[level]
        while k < nptr[a + 1] and not (wrote_arom[nbd[k]] and not matched[nat[k]]):
            k += 1
        if k < nptr[a + 1]:
            kchoice[level] = k
            matched[a] = True
            matched[nat[k]] = True
            order[nbd[k]] = 2
            level += 1
            fresh = True
            continue
        if level == 0:
            return 0
        level -= 1
        pa = kstack[level]
        pk = kchoice[level]
        matched[pa] = False
        matched[nat[pk]] = False
        order[nbd[pk]] = 1
        kchoice[level] = pk + 1
        fresh = False


@kernel
def _forced(b, na, nb, bb, be, nptr, nat, nbd, wrote_arom, need_d, matched, order, save, kstack, kchoice):
    """Whether written-aromatic bond ``b`` has its present order in every Kekulé structure: search for one
    with the other order (``order`` is left as it was)."""
    for q in range(nb):
        save[q] = order[q]
        if wrote_arom[q]:
            order[q] = 1
    for a in range(na):
        matched[a] = not need_d[a]
    u = bb[b]
    v = be[b]
    possible = True
    if save[b] == 2:
        wrote_arom[b] = False  # forbid it
    elif matched[u] or matched[v]:
        possible = False  # an end that takes no double bond
    else:
        matched[u] = True
        matched[v] = True
        order[b] = 2
    other = _match(na, nptr, nat, nbd, wrote_arom, matched, order, kstack, kchoice) if possible else 0
    wrote_arom[b] = True
    for q in range(nb):
        order[q] = save[q]
    return other == 0


@kernel
def _reduce(m, basis):
    """``m`` reduced over GF(2) by an XOR basis indexed by highest bit."""
    for bit in range(63, -1, -1):
        if (m >> np.uint64(bit)) & np.uint64(1):
            if basis[bit] == np.uint64(0):
                return m
            m ^= basis[bit]
    return m


@kernel
def _insert(m, basis):
    """Add the reduced, nonzero ``m`` to the XOR basis."""
    for bit in range(63, -1, -1):
        if (m >> np.uint64(bit)) & np.uint64(1):
            basis[bit] = m
            return


@kernel
def _shared_bonds(crings_bonds, crings_len, r, q):
    n = 0
    for j in range(crings_len[r]):
        b = crings_bonds[r, j]
        for k in range(crings_len[q]):
            if crings_bonds[q, k] == b:
                n += 1
                break
    return n


@kernel
def _connected(fused_m, fused_list, comb, size, seen):
    """RDKit's ``checkFused``: the rings of the combination form one system (neighbours in ``fused_m``)."""
    if size == 1:
        return True
    for j in range(size):
        seen[comb[j]] = False
    seen[comb[0]] = True
    reached = 1
    changed = True
    while changed:
        changed = False
        for j in range(size):
            t = comb[j]
            if not seen[t]:
                continue
            for q in range(size):
                u = comb[q]
                if not seen[u] and fused_m[fused_list[t], fused_list[u]]:
                    seen[u] = True
                    reached += 1
                    changed = True
    return reached == size
