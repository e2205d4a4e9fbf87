"""Stage 3, Morgan: the ECFP iteration, flattened molecule graphs -> RDKit-identical unfolded ids.

Three layers (stumpy style):

* :func:`morgan` / :func:`morgan_from_bonds` validate and allocate;
* ``_morgan_small`` / ``_morgan_large`` run blocks of molecules balanced by atom count
  (``parallel.run_blocks`` spreads the blocks over threads), writing counts or, for
  provenance, every environment;
* ``_morgan_word`` (at most 64 bonds: nearly every real molecule) and ``_morgan_core``
  (any size) run the iteration of one molecule exactly as RDKit's
  ``MorganEnvironmentGenerator`` does (see ``shared/docs/ecfp-spec.md`` §3), in a
  scratch workspace allocated once per block (``morgan_one`` brings its own).

Bond sets are multi-word bitsets in ``_morgan_core`` (``ceil(n_bonds / 64)`` uint64 words
per atom), so there is no 64-bond limit; its kernel is compiled only when a batch holds
such a molecule.  Each block writes only its own slice of the output; there are no atomics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks, parallel
from ._jit import kernel, ro
from .csr import thread_blocks
from .graph import build_neighbours
from .hashing import hash_combine, hash_pair
from .sorting import heap_order, heap_sort

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@kernel
def _mix64(x):
    # splitmix64 finaliser: a good 64-bit mix for hashing bond-set words
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@kernel
def _set_hash(words):
    h = np.uint64(0x9E3779B97F4A7C15)
    for w in range(words.shape[0]):
        h = _mix64(h ^ words[w]) + np.uint64(w)
    return h


@kernel
def _same_set(a, b):
    for w in range(a.shape[0]):
        if a[w] != b[w]:
            return False
    return True


@kernel
def _small_order(keys, m, order):
    """Insertion-sort order of keys[:m] into ``order[:m]`` (cheaper than argsort for a few entries)."""
    for i in range(m):
        v = keys[i]
        j = i - 1
        while j >= 0 and keys[order[j]] > v:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = i


@kernel
def _table_size(n, radius):
    cap = 16
    while cap < 2 * n * radius:
        cap *= 2
    return cap


@kernel
def _workspace(n_max, nb_max, radius):
    """Scratch arrays for :func:`_morgan_core` on molecules of up to ``n_max`` atoms and ``nb_max`` bonds.

    Allocated once per block of molecules (allocation per molecule cost as much as a
    fifth of the iteration on drug-sized molecules): 64-bit words, 64-bit ints,
    32-bit invariants and flags, carved up by :func:`_morgan_core`.
    """
    W = max(1, (nb_max + 63) // 64)
    S = max(1, n_max * radius)
    words = np.empty(2 * n_max * W + S * W + 2 * max(1, n_max) + S + _table_size(n_max, radius), dtype=np.uint64)
    ints = np.empty(2 * max(1, n_max) + _table_size(n_max, radius) + 2 * nb_max + 1, dtype=np.int64)
    u32 = np.empty(3 * max(1, n_max), dtype=np.uint32)
    flags = np.empty(3 * max(1, n_max), dtype=np.bool_)
    return words, ints, u32, flags


@kernel
def _emit_all(m, ent_inv, ent_atom, layer, out_ids, out_atom, out_radius, want_prov, k):
    """Redundant environments: every entry of the layer is emitted; returns the new count."""
    for e in range(m):
        out_ids[k] = ent_inv[e]
        if want_prov:
            out_atom[k] = ent_atom[e]
            out_radius[k] = layer + 1
        k += 1
    return k


@kernel
def morgan_one(
    n,
    nb,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_inv,
    radius,
    redundant,
    out_ids,
    out_atom,
    out_radius,
    want_prov,
):
    """:func:`_morgan_word` with a workspace of its own (one-off calls; at most 64 bonds)."""
    words, ints, u32, flags = _workspace(n, nb, radius)
    return _morgan_word(
        n,
        nb,
        atom_inv,
        chiral,
        nbr_ptr,
        nbr_atom,
        nbr_bond,
        bond_inv,
        radius,
        redundant,
        out_ids,
        out_atom,
        out_radius,
        want_prov,
        words,
        ints,
        u32,
        flags,
    )


@kernel(inline="always")
def _atom_step(keys, d, layer, cur_a, chiral_a, chiral_known):
    """One atom's Morgan step, shared by both kernels: sort its ``d`` neighbour keys (bond invariant << 32 |
    neighbour invariant; degrees are tiny, so insertion sort), hash them onto its invariant, and add its
    chiral tag once its neighbours are all single bonds to distinct invariants (or already were).

    Returns ``(invariant, chiral tag added)``.
    """
    for j in range(1, d):
        v = keys[j]
        i = j - 1
        while i >= 0 and keys[i] > v:
            keys[i + 1] = keys[i]
            i -= 1
        keys[i + 1] = v
    inv = hash_combine(np.uint64(layer), np.uint64(cur_a))
    looks_chiral = chiral_a != 0
    prev_ni = np.uint64(0)
    for j in range(d):
        bt = keys[j] >> np.int64(32)
        ni = np.uint64(keys[j] & np.int64(0xFFFFFFFF))
        inv = hash_combine(inv, hash_pair(bt, ni))
        if looks_chiral and not chiral_known:
            if bt != 1 or (j > 0 and ni == prev_ni):
                looks_chiral = False
        prev_ni = ni
    if looks_chiral:
        inv = hash_combine(inv, np.uint64(chiral_a))
    return inv, looks_chiral


@kernel
def _morgan_word(
    n,
    nb,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_inv,
    radius,
    redundant,
    out_ids,
    out_atom,
    out_radius,
    want_prov,
    words,
    ints,
    u32,
    flags,
):
    """:func:`_morgan_core` for a molecule of at most 64 bonds (nearly every real one).

    Each bond set is one uint64, so sets are compared and hashed as integers, and one
    open-addressing table of sets (0 = empty slot: an entry's set always holds at least one
    bond) both groups a layer's entries by set and remembers the sets of earlier layers:
    no sorting.  Same semantics and results as :func:`_morgan_core`, which the tests check
    against RDKit and the reference.
    """
    k = np.int64(0)
    for a in range(n):
        out_ids[k] = atom_inv[a]
        if want_prov:
            out_atom[k] = a
            out_radius[k] = 0
        k += 1
    if radius == 0 or n == 0:
        return k

    cap = _table_size(n, radius)
    prev_sets = words[0:n]
    round_sets = words[n : 2 * n]
    ent_set = words[2 * n : 3 * n]
    seen = words[3 * n : 3 * n + cap]
    ent_atom = ints[0:n]
    order_buf = ints[n : 2 * n]
    info = ints[2 * n : 2 * n + cap]
    keys = ints[2 * n + cap : 2 * n + cap + 2 * nb + 1]
    cur = u32[0:n]
    nxt = u32[n : 2 * n]
    ent_inv = u32[2 * n : 3 * n]
    dead = flags[0:n]
    chiral_done = flags[n : 2 * n]

    for a in range(n):
        cur[a] = atom_inv[a]
        dead[a] = False
        chiral_done[a] = False
        prev_sets[a] = 0
        round_sets[a] = 0
    for x in range(cap):
        seen[x] = 0
    mask = np.uint64(cap - 1)
    one = np.uint64(1)

    for layer in range(radius):
        m = np.int64(0)
        for a in range(n):
            nxt[a] = 0
        for a in range(n):
            if dead[a]:
                continue
            s = nbr_ptr[a]
            d = nbr_ptr[a + 1] - s
            if d == 0:
                dead[a] = True
                continue
            rs = round_sets[a]
            for j in range(d):
                o = nbr_atom[s + j]
                b = nbr_bond[s + j]
                rs |= (one << np.uint64(b)) | prev_sets[o]
                keys[j] = (np.int64(bond_inv[b]) << np.int64(32)) | np.int64(cur[o])
            round_sets[a] = rs
            inv, chiral_now = _atom_step(keys, d, layer, cur[a], chiral[a], chiral_done[a])
            if chiral_now:
                chiral_done[a] = True
            nxt[a] = np.uint32(inv)
            ent_atom[m] = a
            ent_inv[m] = np.uint32(inv)
            ent_set[m] = rs
            m += 1

        if redundant:
            k = _emit_all(m, ent_inv, ent_atom, layer, out_ids, out_atom, out_radius, want_prov, k)
        else:
            # one table of bond sets: a set from an earlier layer kills every entry with it; a
            # set new in this layer forms a group that keeps its smallest (inv, atom).  ``info``
            # holds layer << 32 | best entry (read only where ``seen`` holds a set)
            g = 0
            for e in range(m):
                sv = ent_set[e]
                slot = _mix64(sv) & mask
                while True:
                    v = seen[slot]
                    if v == 0:
                        seen[slot] = sv
                        info[slot] = (np.int64(layer) << np.int64(32)) | e
                        order_buf[g] = np.int64(slot)
                        g += 1
                        break
                    if v == sv:
                        li = info[slot]
                        if (li >> np.int64(32)) != layer:
                            dead[ent_atom[e]] = True
                        else:
                            best = li & np.int64(0xFFFFFFFF)
                            if ent_inv[e] < ent_inv[best] or (
                                ent_inv[e] == ent_inv[best] and ent_atom[e] < ent_atom[best]
                            ):
                                dead[ent_atom[best]] = True
                                info[slot] = (np.int64(layer) << np.int64(32)) | e
                            else:
                                dead[ent_atom[e]] = True
                        break
                    slot = (slot + one) & mask
            for x in range(g):
                best = info[order_buf[x]] & np.int64(0xFFFFFFFF)
                out_ids[k] = ent_inv[best]
                if want_prov:
                    out_atom[k] = ent_atom[best]
                    out_radius[k] = layer + 1
                k += 1
        for a in range(n):
            cur[a] = nxt[a]
            prev_sets[a] = round_sets[a]
    return k


@kernel
def _morgan_core(
    n,
    nb,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_inv,
    radius,
    redundant,
    out_ids,
    out_atom,
    out_radius,
    want_prov,
    words,
    ints,
    u32,
    flags,
):
    """One molecule. Writes every emitted environment; returns how many.

    ``nbr_ptr`` is this molecule's slice of the global neighbour pointer (n + 1
    entries, offsets into the global ``nbr_atom``/``nbr_bond``, which hold
    molecule-local atom and bond indices).
    ``chiral[a]`` is 0 for atoms without a chiral tag (or chirality off), else the
    CIP term (1 unknown, 2 S, 3 R) RDKit appends.
    ``words``/``ints``/``u32``/``flags`` are scratch from :func:`_workspace` (for at
    least this molecule's size); nothing is allocated here except for molecules of
    more than 128 atoms, whose grouping sorts by heap (:func:`.sorting.heap_order`).
    """
    k = np.int64(0)
    for a in range(n):
        out_ids[k] = atom_inv[a]
        if want_prov:
            out_atom[k] = a
            out_radius[k] = 0
        k += 1
    if radius == 0 or n == 0:
        return k

    W = max(1, (nb + 63) // 64)
    S = max(1, n * radius)
    nW = n * W
    # carve the workspace (views, no allocation)
    prev_sets = words[0:nW]
    round_sets = words[nW : 2 * nW]
    seen_sets = words[2 * nW : 2 * nW + S * W]
    base = 2 * nW + S * W
    ent_hash = words[base : base + n]
    seen_hash = words[base + n : base + n + S]
    ent_atom = ints[0:n]
    order_buf = ints[n : 2 * n]
    cap = _table_size(n, radius)
    seen_table = ints[2 * n : 2 * n + cap]  # open addressing: seen index + 1, 0 = empty
    keys = ints[2 * n + cap : 2 * n + cap + 2 * nb + 1]  # a neighbour list has at most 2 * nb entries
    cur = u32[0:n]
    nxt = u32[n : 2 * n]
    ent_inv = u32[2 * n : 3 * n]
    dead = flags[0:n]
    chiral_done = flags[n : 2 * n]
    ent_done = flags[2 * n : 3 * n]

    for a in range(n):
        cur[a] = atom_inv[a]
        dead[a] = False
        chiral_done[a] = False
    for x in range(2 * nW):
        words[x] = 0
    for x in range(cap):
        seen_table[x] = 0
    n_seen = 0
    seen_mask = np.uint64(cap - 1)

    for layer in range(radius):
        m = np.int64(0)
        for a in range(n):
            nxt[a] = 0
        for a in range(n):
            if dead[a]:
                continue
            s = nbr_ptr[a]
            d = nbr_ptr[a + 1] - nbr_ptr[a]
            if d == 0:
                dead[a] = True
                continue
            ra = a * W
            for j in range(d):
                o = nbr_atom[s + j]
                b = nbr_bond[s + j]
                round_sets[ra + (b >> 6)] |= np.uint64(1) << np.uint64(b & 63)
                ro = o * W
                for w in range(W):
                    round_sets[ra + w] |= prev_sets[ro + w]
                keys[j] = (np.int64(bond_inv[b]) << np.int64(32)) | np.int64(cur[o])
            inv, chiral_now = _atom_step(keys, d, layer, cur[a], chiral[a], chiral_done[a])
            if chiral_now:
                chiral_done[a] = True
            nxt[a] = np.uint32(inv)
            ent_atom[m] = a
            ent_inv[m] = np.uint32(inv)
            ent_hash[m] = _set_hash(round_sets[ra : ra + W])
            ent_done[m] = False
            m += 1

        if redundant:
            k = _emit_all(m, ent_inv, ent_atom, layer, out_ids, out_atom, out_radius, want_prov, k)
        else:
            # group entries by identical bond set; keep the smallest (inv, atom) of a
            # group unless the set was already emitted (then the whole group dies).
            # Entries are visited in hash order so equal sets are adjacent: O(m log m)
            # even for molecules with thousands of atoms.
            if m > 128:
                heap_order(ent_hash, m, order_buf)
            else:
                _small_order(ent_hash, m, order_buf)
            order = order_buf
            i = 0
            while i < m:
                j = i + 1
                while j < m and ent_hash[order[j]] == ent_hash[order[i]]:
                    j += 1
                for x in range(i, j):
                    e = order[x]
                    if ent_done[e]:
                        continue
                    ae = ent_atom[e]
                    re = ae * W
                    best = e
                    for y in range(x + 1, j):
                        f = order[y]
                        rf = ent_atom[f] * W
                        if ent_done[f] or not _same_set(round_sets[rf : rf + W], round_sets[re : re + W]):
                            continue
                        ent_done[f] = True
                        if ent_inv[f] < ent_inv[best] or (ent_inv[f] == ent_inv[best] and ent_atom[f] < ent_atom[best]):
                            dead[ent_atom[best]] = True
                            best = f
                        else:
                            dead[ent_atom[f]] = True
                    ent_done[e] = True
                    h = ent_hash[e]
                    slot = h & seen_mask
                    already = False
                    while seen_table[slot] != 0:
                        q = seen_table[slot] - 1
                        if seen_hash[q] == h and _same_set(seen_sets[q * W : (q + 1) * W], round_sets[re : re + W]):
                            already = True
                            break
                        slot = (slot + np.uint64(1)) & seen_mask
                    if already:
                        dead[ent_atom[best]] = True
                        continue
                    seen_table[slot] = n_seen + 1
                    seen_hash[n_seen] = h
                    for w in range(W):
                        seen_sets[n_seen * W + w] = round_sets[re + w]
                    n_seen += 1
                    out_ids[k] = ent_inv[best]
                    if want_prov:
                        out_atom[k] = ent_atom[best]
                        out_radius[k] = layer + 1
                    k += 1
                i = j
        for a in range(n):
            cur[a] = nxt[a]
        for x in range(nW):
            prev_sets[x] = round_sets[x]
    return k


#: rows of at most this many ids are sorted by rank (see :func:`sort_unique_counts`)
RANK_SORT_MAX = 256


@kernel
def sort_unique_counts(ids, counts, scratch):
    """Sort ``ids`` in place and compact to unique ids with counts; returns the size.

    Rows of up to ``scratch.shape[0]`` ids (a drug-sized molecule has ~60 at radius 2)
    are sorted by rank: an id's rank is the number of smaller ids in the row, a
    branch-free count that LLVM vectorises; equal ids share a rank, so placing each id
    at its rank (in ``scratch``) and counting arrivals per rank (in ``counts``) sorts,
    de-duplicates and counts in one pass.  Twice as fast as insertion sort at 60 ids and
    several times Numba's general sort.  Longer rows are heap-sorted.
    """
    n = ids.shape[0]
    if n == 0:
        return 0
    if n <= scratch.shape[0]:
        for i in range(n):
            counts[i] = 0
        for i in range(n):
            v = ids[i]
            r = 0
            for j in range(n):
                r += ids[j] < v
            scratch[r] = v
            counts[r] += 1
        u = 0
        for i in range(n):  # compact in place: position u <= i was already read
            c = counts[i]
            if c != 0:
                ids[u] = scratch[i]
                counts[u] = c
                u += 1
        return u
    heap_sort(ids)
    u = 0
    c = 1
    for i in range(1, n):
        if ids[i] == ids[u]:
            c += 1
        else:
            counts[u] = c
            u += 1
            ids[u] = ids[i]
            c = 1
    counts[u] = c
    return u + 1


@kernel
def _block_workspace(first, last, atom_ptr, bond_ptr, radius, large):
    """A workspace for the largest molecule (atoms, bonds) of rows ``first:last`` that has more than 64
    bonds (``large``) or at most 64."""
    n_max = np.int64(0)
    nb_max = np.int64(0)
    for i in range(first, last):
        nb = bond_ptr[i + 1] - bond_ptr[i]
        if (nb > 64) == large:
            n_max = max(n_max, atom_ptr[i + 1] - atom_ptr[i])
            nb_max = max(nb_max, nb)
    return _workspace(n_max, nb_max, radius)


@kernel
def _morgan_small(
    blocks,
    lo,
    hi,
    atom_ptr,
    bond_ptr,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_inv,
    radius,
    redundant,
    want_prov,
    tmp_ids,
    tmp_counts,
    tmp_atom,
    tmp_radius,
    n_out,
):
    """Molecules of at most 64 bonds in blocks ``lo..hi-1``; a larger one gets ``n_out = -1`` (see
    :func:`_morgan_large`). Writes sorted unique ids and counts, or with ``want_prov`` every environment
    with its centre atom and radius (``tmp_counts`` then unused, else ``tmp_atom``/``tmp_radius``)."""
    for bi in range(lo, hi):
        words, ints, u32, flags = _block_workspace(
            blocks[bi], blocks[bi + 1], atom_ptr, bond_ptr, radius, np.bool_(False)
        )
        scratch = np.empty(RANK_SORT_MAX, dtype=np.uint32)
        for i in range(blocks[bi], blocks[bi + 1]):
            a0 = atom_ptr[i]
            n = atom_ptr[i + 1] - a0
            b0 = bond_ptr[i]
            nb = bond_ptr[i + 1] - b0
            if nb > 64:
                n_out[i] = -1
                continue
            off = a0 * (radius + 1)
            size = n * (radius + 1)
            ids = tmp_ids[off : off + size]
            k = _morgan_word(
                n,
                nb,
                atom_inv[a0 : a0 + n],
                chiral[a0 : a0 + n],
                nbr_ptr[a0 : a0 + n + 1],
                nbr_atom,
                nbr_bond,
                bond_inv[b0 : b0 + nb],
                radius,
                redundant,
                ids,
                tmp_atom[off : off + size] if want_prov else tmp_atom,
                tmp_radius[off : off + size] if want_prov else tmp_radius,
                want_prov,
                words,
                ints,
                u32,
                flags,
            )
            n_out[i] = k if want_prov else sort_unique_counts(ids[:k], tmp_counts[off : off + k], scratch)


@kernel
def _morgan_large(
    blocks,
    lo,
    hi,
    atom_ptr,
    bond_ptr,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_inv,
    radius,
    redundant,
    want_prov,
    tmp_ids,
    tmp_counts,
    tmp_atom,
    tmp_radius,
    n_out,
):
    """:func:`_morgan_small` for the molecules of more than 64 bonds (compiled only when a batch has one)."""
    for bi in range(lo, hi):
        words, ints, u32, flags = _block_workspace(
            blocks[bi], blocks[bi + 1], atom_ptr, bond_ptr, radius, np.bool_(True)
        )
        scratch = np.empty(RANK_SORT_MAX, dtype=np.uint32)
        for i in range(blocks[bi], blocks[bi + 1]):
            a0 = atom_ptr[i]
            n = atom_ptr[i + 1] - a0
            b0 = bond_ptr[i]
            nb = bond_ptr[i + 1] - b0
            if nb <= 64:
                continue
            off = a0 * (radius + 1)
            size = n * (radius + 1)
            ids = tmp_ids[off : off + size]
            k = _morgan_core(
                n,
                nb,
                atom_inv[a0 : a0 + n],
                chiral[a0 : a0 + n],
                nbr_ptr[a0 : a0 + n + 1],
                nbr_atom,
                nbr_bond,
                bond_inv[b0 : b0 + nb],
                radius,
                redundant,
                ids,
                tmp_atom[off : off + size] if want_prov else tmp_atom,
                tmp_radius[off : off + size] if want_prov else tmp_radius,
                want_prov,
                words,
                ints,
                u32,
                flags,
            )
            n_out[i] = k if want_prov else sort_unique_counts(ids[:k], tmp_counts[off : off + k], scratch)


@kernel
def _compact(blocks, lo, hi, src_ptr, n_out, dst_ptr, src, dst):
    for bi in range(lo, hi):
        for i in range(blocks[bi], blocks[bi + 1]):
            s = src_ptr[i]
            d = dst_ptr[i]
            for j in range(n_out[i]):
                dst[d + j] = src[s + j]


def _writable(a: np.ndarray) -> np.ndarray:
    """``a``, or a copy when it is read-only (arrays passed in by a caller, not made by the engine)."""
    return a if a.flags.writeable else a.copy()


@dataclass(frozen=True)
class Environments:
    """Every emitted atom environment (not de-duplicated into counts), per molecule.

    ``ids[indptr[i]:indptr[i+1]]`` are molecule i's environments in emission order,
    with their centre atom (molecule-local index) and radius.
    """

    indptr: np.ndarray
    ids: np.ndarray
    atom: np.ndarray
    radius: np.ndarray


#: Most memory the bond sets of one molecule may take in the kernel (about (radius + 2) x atoms x
#: bonds / 8 bytes, like RDKit's own generator): beyond it a call is refused with a clear error
#: instead of failing to allocate inside the parallel kernel.  ``ecfp`` never gets near it below
#: radius 19, as its inputs stay within ``MAX_ATOMS`` atoms and ``MAX_RINGS`` rings.
MAX_BOND_SET_BYTES = 1 << 30


def bond_set_bytes(n_atoms, n_bonds, radius: int):
    """Kernel scratch memory (bytes, float) for molecules of ``n_atoms`` atoms and ``n_bonds`` bonds.

    Mostly the bond sets: ``radius + 2`` sets of ``ceil(n_bonds / 64)`` words per atom.
    """
    n = np.asarray(n_atoms, dtype=np.float64)
    nb = np.asarray(n_bonds, dtype=np.float64)
    words = np.maximum(1.0, np.ceil(nb / 64))
    r = float(radius)
    return 8.0 * n * ((r + 2) * words + 5 * r + 4) + 16.0 * nb


def _check_memory(atom_ptr, bond_ptr, radius: int) -> None:
    if float(atom_ptr[-1]) * (radius + 1) >= 2.0**62:
        raise ValueError(f"batch too large: {int(atom_ptr[-1])} atoms at radius {radius}")
    need = bond_set_bytes(np.diff(atom_ptr), np.diff(bond_ptr), radius)
    if need.size and need.max() > MAX_BOND_SET_BYTES:
        i = int(np.argmax(need))
        n, nb = int(atom_ptr[i + 1] - atom_ptr[i]), int(bond_ptr[i + 1] - bond_ptr[i])
        raise ValueError(
            f"molecule {i} ({n} atoms, {nb} bonds) needs {need[i] / 2**20:.0f} MiB of bond sets at "
            f"radius {radius}, more than the {MAX_BOND_SET_BYTES >> 20} MiB limit (MAX_BOND_SET_BYTES)"
        )


def morgan(
    atom_ptr,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_ptr,
    bond_inv,
    radius: int,
    *,
    redundant_environments: bool = False,
    provenance: bool = False,
    threads: int | None = None,
):
    """Unfolded Morgan ids of a flattened batch.

    Returns ``(indptr, ids, counts)`` (int64, uint32, uint32; ids ascending and
    unique per molecule), or an :class:`Environments` when ``provenance`` is true.
    Malformed arrays (wrong dtypes or lengths, pointers that are not CSR, indices
    outside their molecule, neighbour lists that do not pair up) raise ``TypeError``
    or ``ValueError`` before any compiled code runs.
    """
    atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, radius = checks.morgan_batch(
        atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, radius
    )
    nbr_ptr, nbr_atom, nbr_bond = checks.neighbour_lists(atom_ptr, bond_ptr, nbr_ptr, nbr_atom, nbr_bond)
    return morgan_unchecked(
        atom_ptr,
        atom_inv,
        chiral,
        nbr_ptr,
        nbr_atom,
        nbr_bond,
        bond_ptr,
        bond_inv,
        radius,
        redundant_environments=redundant_environments,
        provenance=provenance,
        threads=threads,
    )


def morgan_unchecked(
    atom_ptr,
    atom_inv,
    chiral,
    nbr_ptr,
    nbr_atom,
    nbr_bond,
    bond_ptr,
    bond_inv,
    radius: int,
    *,
    redundant_environments: bool = False,
    provenance: bool = False,
    threads: int | None = None,
):
    """:func:`morgan` of checked arrays (neighbour lists built by the engine itself need no pairing check)."""
    _check_memory(atom_ptr, bond_ptr, radius)
    radius = int(radius)
    n_mols = atom_ptr.shape[0] - 1
    t = parallel.threads(threads)
    size = int(atom_ptr[-1]) * (radius + 1)
    n_out = np.zeros(max(n_mols, 0), dtype=np.int64)
    src_ptr = ro(atom_ptr * (radius + 1))
    blocks = thread_blocks(atom_ptr, t)
    tmp_ids = np.empty(size, dtype=np.uint32)
    none = np.empty(0, dtype=np.uint32)
    if provenance:
        tmp_counts, tmp_atom, tmp_rad = none, np.empty(size, dtype=np.uint32), np.empty(size, dtype=np.uint32)
    else:
        tmp_counts, tmp_atom, tmp_rad = np.empty(size, dtype=np.uint32), none, none
    if n_mols > 0:
        # engine-made arrays, writable as the fused single-molecule kernel's own (one signature for both)
        args = (
            _writable(atom_ptr),
            _writable(bond_ptr),
            _writable(atom_inv),
            _writable(chiral),
            _writable(nbr_ptr),
            _writable(nbr_atom),
            _writable(nbr_bond),
            _writable(bond_inv),
            radius,
            bool(redundant_environments),
            bool(provenance),
            tmp_ids,
            tmp_counts,
            tmp_atom,
            tmp_rad,
            n_out,
        )
        parallel.run_blocks(_morgan_small, blocks, t, *args)
        if n_out.min() < 0:  # molecules of more than 64 bonds: their kernel is compiled on first use
            parallel.run_blocks(_morgan_large, blocks, t, *args)
    indptr = np.zeros(n_mols + 1, dtype=np.int64)
    np.cumsum(n_out, out=indptr[1:])
    n_out, indptr_ro = ro(n_out), ro(indptr)
    srcs = (tmp_ids, tmp_atom, tmp_rad) if provenance else (tmp_ids, tmp_counts)
    out = [np.empty(int(indptr[-1]), dtype=np.uint32) for _ in srcs]
    if n_mols > 0:
        for src, dst in zip(srcs, out):
            parallel.run_blocks(_compact, blocks, t, src_ptr, n_out, indptr_ro, ro(src), dst)
    if provenance:
        # atoms and radii travel as uint32 (one compiled signature) and are int32 by contract
        return Environments(indptr, out[0], out[1].view(np.int32), out[2].view(np.int32))
    return indptr, out[0], out[1]


def morgan_from_bonds(
    atom_ptr,
    atom_inv,
    chiral_term,
    bond_ptr,
    bond_begin,
    bond_end,
    bond_inv,
    radius: int,
    redundant_environments: bool = False,
    *,
    provenance: bool = False,
    threads: int | None = None,
):
    """:func:`morgan` from per-molecule bond lists (``bond_begin``/``bond_end`` molecule-local)."""
    atom_ptr, atom_inv, chiral_term, bond_ptr, bond_inv, radius = checks.morgan_batch(
        atom_ptr, atom_inv, chiral_term, bond_ptr, bond_inv, radius
    )
    bond_begin, bond_end = checks.bond_lists(atom_ptr, bond_ptr, bond_begin, bond_end)
    nbr_ptr, nbr_atom, nbr_bond = build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=threads)
    return morgan_unchecked(
        atom_ptr,
        atom_inv,
        chiral_term,
        nbr_ptr,
        nbr_atom,
        nbr_bond,
        bond_ptr,
        bond_inv,
        radius,
        redundant_environments=redundant_environments,
        provenance=provenance,
        threads=threads,
    )
