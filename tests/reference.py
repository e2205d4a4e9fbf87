"""Slow, obviously-correct pure-Python references (in the spirit of stumpy's ``naive.py``).

Everything here follows ``ecfp-spec.md`` and ``sort-slice-spec.md`` line by line and favours
readability over speed. The Numba engine is tested against these functions; these functions are
tested against RDKit itself (``test_reference.py``).

The Morgan part uses only the standard library (RDKit is imported lazily by
``morgan_reference_from_mol``); uint32 arithmetic is done on Python ints masked with ``_MASK32``.
"""

from __future__ import annotations

import math
from collections import Counter

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


# --------------------------------------------------------------------------------------------
# Hash primitives (ecfp-spec §0)
# --------------------------------------------------------------------------------------------
def hash_int(v: int) -> int:
    """Cast an integer to uint32 (two's complement wrap, so ``-1 -> 0xFFFFFFFF``).

    Examples
    --------
    >>> hash_int(-1)
    4294967295
    >>> hash_int(2**32 + 5)
    5
    """
    return v & _MASK32


def hash_combine(seed: int, h: int) -> int:
    """boost-style ``hash_combine`` on uint32 values, every term wrapping mod 2**32.

    Examples
    --------
    >>> hash_combine(0, 0)
    2654435769
    """
    seed = hash_int(seed)
    h = hash_int(h)
    mixed = (h + _GOLDEN + ((seed << 6) & _MASK32) + (seed >> 2)) & _MASK32
    return seed ^ mixed


def hash_pair(a: int, b: int) -> int:
    """``hash_combine(hash_combine(0, a), b)``.

    Examples
    --------
    >>> hash_pair(1, 2) == hash_combine(hash_combine(0, 1), 2)
    True
    """
    return hash_combine(hash_combine(0, a), b)


def hash_vector(xs) -> int:
    """Fold ``hash_combine`` over the uint32 casts of ``xs``, starting from 0.

    Examples
    --------
    CCO's first carbon: Z=6, degree 4, 3 Hs, charge 0, delta mass 0, not in a ring.

    >>> hash_vector([6, 4, 3, 0, 0])
    2246728737
    >>> hash_vector([])
    0
    """
    seed = 0
    for x in xs:
        seed = hash_combine(seed, x)
    return seed


# --------------------------------------------------------------------------------------------
# Layer-0 invariants (ecfp-spec §1)
# --------------------------------------------------------------------------------------------
def ecfp_atom_invariant(
    Z: int,
    total_degree: int,
    total_hs: int,
    charge: int,
    delta_mass: int,
    in_ring: bool,
    ring_membership: bool = True,
) -> int:
    """ECFP layer-0 invariant of one atom.

    Examples
    --------
    The three heavy atoms of ``CCO``:

    >>> [ecfp_atom_invariant(6, 4, 3, 0, 0, False),
    ...  ecfp_atom_invariant(6, 4, 2, 0, 0, False),
    ...  ecfp_atom_invariant(8, 2, 1, 0, 0, False)]
    [2246728737, 2245384272, 864662311]
    """
    xs = [Z, total_degree, total_hs, charge, delta_mass]
    if ring_membership and in_ring:
        xs.append(1)
    return hash_vector(xs)


# --------------------------------------------------------------------------------------------
# Morgan iteration (ecfp-spec §3)
# --------------------------------------------------------------------------------------------
def _as_int32(v: int) -> int:
    v &= _MASK32
    return v - (1 << 32) if v >= (1 << 31) else v


def morgan_reference(
    n_atoms: int,
    atom_inv,
    chiral_term,
    bonds,
    radius: int,
    redundant_environments: bool = False,
) -> dict[int, int]:
    """Unfolded Morgan ids and their counts, exactly as RDKit's Morgan generator computes them.

    Parameters
    ----------
    n_atoms : int
    atom_inv : sequence of int
        Layer-0 invariants (uint32), one per atom.
    chiral_term : sequence of int
        0 when the atom takes no part in chirality (no chiral tag, or chirality off); otherwise the
        CIP term appended to the hash once the atom "looks chiral" (3 for R, 2 for S, 1 otherwise).
    bonds : sequence of (begin, end, bond_inv)
        The bond index is the position in the list.
    radius : int
    redundant_environments : bool
        RDKit's ``includeRedundantEnvironments``: no de-duplication of identical bond sets.

    Returns
    -------
    dict
        id -> number of (atom, radius) environments that emitted it.

    Examples
    --------
    >>> inv = [2246728737, 2245384272, 864662311]          # CCO
    >>> fp = morgan_reference(3, inv, [0, 0, 0], [(0, 1, 1), (1, 2, 1)], radius=1)
    >>> sorted(fp.items())  # doctest: +NORMALIZE_WHITESPACE
    [(864662311, 1), (1535166686, 1), (2245384272, 1), (2246728737, 1), (3542456614, 1),
     (4018048386, 1)]
    >>> morgan_reference(0, [], [], [], radius=2)
    {}
    """
    if len(atom_inv) != n_atoms or len(chiral_term) != n_atoms:
        raise ValueError("atom_inv and chiral_term need one entry per atom")
    counts: Counter = Counter()

    # Layer 0: every atom's invariant, no de-duplication.
    for a in range(n_atoms):
        counts[hash_int(atom_inv[a])] += 1

    # Bonds incident to each atom: (bond index, other atom).
    incident: list[list[tuple[int, int]]] = [[] for _ in range(n_atoms)]
    for b, (i, j, _) in enumerate(bonds):
        if i == j:
            raise ValueError("self-loop bond")
        incident[i].append((b, j))
        incident[j].append((b, i))

    cur = [hash_int(x) for x in atom_inv]
    nb: list[frozenset] = [frozenset() for _ in range(n_atoms)]  # bond sets of the previous layer
    round_nb: list[frozenset] = [frozenset() for _ in range(n_atoms)]  # persists across layers
    dead = [False] * n_atoms
    chiral_done = [False] * n_atoms
    seen: set[frozenset] = set()

    for layer in range(radius):
        nxt = [0] * n_atoms
        round_entries = []  # (bond set, inv, atom)
        for a in range(n_atoms):
            if dead[a]:
                continue
            if not incident[a]:
                dead[a] = True
                continue
            new_nb = set(round_nb[a])
            pairs = []
            for b, o in incident[a]:
                new_nb.add(b)
                new_nb |= nb[o]
                pairs.append((_as_int32(bonds[b][2]), cur[o]))
            round_nb[a] = frozenset(new_nb)
            pairs.sort()

            inv = layer  # the layer index seeds the hash
            inv = hash_combine(inv, cur[a])
            looks_chiral = chiral_term[a] != 0
            for j, (bt, ni) in enumerate(pairs):
                inv = hash_combine(inv, hash_pair(bt, ni))
                if looks_chiral and not chiral_done[a]:
                    if bt != 1 or (j > 0 and ni == pairs[j - 1][1]):
                        looks_chiral = False
            if looks_chiral:  # once flagged, appended again at every later layer
                chiral_done[a] = True
                inv = hash_combine(inv, chiral_term[a])
            nxt[a] = inv
            round_entries.append((round_nb[a], inv, a))

        # De-duplicate: per distinct bond set the smallest (inv, atom) wins, unless seen before.
        best: dict[frozenset, tuple[int, int]] = {}
        for bset, inv, a in round_entries:
            if bset not in best or (inv, a) < best[bset]:
                best[bset] = (inv, a)
        for bset, inv, a in round_entries:
            if redundant_environments:
                counts[inv] += 1
            elif bset not in seen and best[bset] == (inv, a):
                counts[inv] += 1
            else:
                dead[a] = True
        if not redundant_environments:
            seen.update(best)

        cur = nxt
        nb = list(round_nb)

    return dict(counts)


# --------------------------------------------------------------------------------------------
# Inputs from an RDKit molecule, built atom by atom (ecfp-spec §1, §2, §4)
# --------------------------------------------------------------------------------------------
def _delta_mass(atom, periodic_table) -> int:
    # int() truncates toward zero: [13C] -> 0, [2H] -> 1, [123I] -> -3.
    return int(atom.GetMass() - periodic_table.GetAtomicWeight(atom.GetAtomicNum()))


def molecule_inputs_from_mol(
    mol,
    chirality: bool = False,
    bond_types: bool = True,
    ring_membership: bool = True,
    fcfp: bool = False,
):
    """``(n_atoms, atom_inv, chiral_term, bonds)`` of an RDKit molecule, one Python call per atom/bond."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    periodic_table = Chem.GetPeriodicTable()
    n_atoms = mol.GetNumAtoms()

    if fcfp:
        atom_inv = [hash_int(int(x)) for x in rdMolDescriptors.GetFeatureInvariants(mol)]
    else:
        ring_info = mol.GetRingInfo()
        atom_inv = [
            ecfp_atom_invariant(
                atom.GetAtomicNum(),
                atom.GetTotalDegree(),
                atom.GetTotalNumHs(includeNeighbors=True),
                atom.GetFormalCharge(),
                _delta_mass(atom, periodic_table),
                ring_info.NumAtomRings(atom.GetIdx()) > 0,
                ring_membership,
            )
            for atom in mol.GetAtoms()
        ]

    chiral_term = [0] * n_atoms
    if chirality:
        # RDKit reads chiral tags and CIP labels from a stereo-perceived copy when the molecule
        # has not been through stereo perception (e.g. rebuilt from a pickle).
        stereo_mol = mol
        if not mol.HasProp("_StereochemDone"):
            stereo_mol = Chem.Mol(mol)
            Chem.AssignStereochemistry(stereo_mol, cleanIt=False, force=False)
        for atom in stereo_mol.GetAtoms():
            if atom.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED:
                cip = atom.GetProp("_CIPCode") if atom.HasProp("_CIPCode") else ""
                chiral_term[atom.GetIdx()] = 3 if cip == "R" else 2 if cip == "S" else 1

    bonds = []
    for bond in mol.GetBonds():  # bond invariants come from the original molecule
        btype = bond.GetBondType()
        stereo = bond.GetStereo()
        if not bond_types:
            inv = 1
        elif chirality and btype == Chem.BondType.DOUBLE and stereo != Chem.BondStereo.STEREONONE:
            inv = 120 + int(stereo)
        else:
            inv = int(btype)
        bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), inv))
    return n_atoms, atom_inv, chiral_term, bonds


def morgan_reference_from_mol(
    mol,
    radius: int,
    chirality: bool = False,
    bond_types: bool = True,
    ring_membership: bool = True,
    fcfp: bool = False,
    redundant_environments: bool = False,
) -> dict[int, int]:
    """RDKit's unfolded Morgan count fingerprint of ``mol``, computed by ``morgan_reference``.

    Examples
    --------
    >>> from rdkit import Chem
    >>> sorted(morgan_reference_from_mol(Chem.MolFromSmiles("CCO"), radius=0))
    [864662311, 2245384272, 2246728737]
    """
    if mol is None:
        raise ValueError("mol is None (failed parse)")
    n_atoms, atom_inv, chiral_term, bonds = molecule_inputs_from_mol(
        mol, chirality=chirality, bond_types=bond_types, ring_membership=ring_membership, fcfp=fcfp
    )
    return morgan_reference(
        n_atoms, atom_inv, chiral_term, bonds, radius, redundant_environments=redundant_environments
    )


# --------------------------------------------------------------------------------------------
# Pooling references (sort-slice-spec)
# --------------------------------------------------------------------------------------------
def prevalence_reference(list_of_id_lists) -> dict[int, int]:
    """Document frequency: number of molecules containing each id at least once.

    Examples
    --------
    >>> prevalence_reference([[5, 5, 7], [7], []])
    {5: 1, 7: 2}
    """
    prevalence: dict[int, int] = {}
    for ids in list_of_id_lists:
        for i in set(ids):
            prevalence[i] = prevalence.get(i, 0) + 1
    return prevalence


def sort_slice_vocabulary_reference(prevalence_dict, length: int, tie: str = "larger_id_first") -> list:
    """The ``length`` most prevalent ids, most prevalent first (may be shorter than ``length``).

    Examples
    --------
    >>> sort_slice_vocabulary_reference({1: 2, 2: 2, 3: 5}, 2)
    [3, 2]
    >>> sort_slice_vocabulary_reference({1: 2, 2: 2, 3: 5}, 2, tie="smaller_id_first")
    [3, 1]
    """
    if length < 1:
        raise ValueError("length must be >= 1")
    items = list(prevalence_dict.items())
    if tie == "larger_id_first":
        # The stand-alone featuriser's key: (prevalence, id), reversed.
        items.sort(key=lambda kv: (kv[1], kv[0]), reverse=True)
    elif tie == "smaller_id_first":
        items.sort(key=lambda kv: (-kv[1], kv[0]))
    else:
        raise ValueError(f"unknown tie rule {tie!r}")
    return [i for i, _ in items[:length]]


def sort_slice_transform_reference(list_of_ids_counts, vocabulary, length: int, counts: bool = False):
    """One row of ``length`` ints per molecule: column j is id ``vocabulary[j]``.

    Examples
    --------
    >>> sort_slice_transform_reference([([7, 9], [3, 1]), ([], [])], [9, 8], 3)
    [[1, 0, 0], [0, 0, 0]]
    >>> sort_slice_transform_reference([([7, 9], [3, 2])], [9, 7], 2, counts=True)
    [[2, 3]]
    """
    if len(vocabulary) > length:
        raise ValueError("vocabulary longer than length")
    column = {i: j for j, i in enumerate(vocabulary)}
    rows = []
    for ids, cnts in list_of_ids_counts:
        row = [0] * length
        for i, c in zip(ids, cnts):
            if i in column:  # ids outside the vocabulary are ignored (no OOV column)
                j = column[i]
                row[j] = row[j] + c if counts else 1
        rows.append(row)
    return rows


def fold_reference(ids, id_counts, length: int, counts: bool = False) -> list:
    """Hash folding: column ``id % length``; binary ORs collisions, counts sum them.

    (The per-id counts are called ``id_counts`` so that ``counts=`` can be the output-mode flag,
    as in ``sort_slice_transform_reference``.)

    Examples
    --------
    >>> fold_reference([3, 7, 8], [2, 1, 5], 4)
    [1, 0, 0, 1]
    >>> fold_reference([3, 7, 8], [2, 1, 5], 4, counts=True)
    [5, 0, 0, 3]
    """
    if length < 1:
        raise ValueError("length must be >= 1")
    row = [0] * length
    for i, c in zip(ids, id_counts):
        if counts:
            row[i % length] += c
        else:
            row[i % length] = 1
    return row


def _entropy_bits(counter: Counter, n: int) -> float:
    return -sum((c / n) * math.log2(c / n) for c in counter.values() if c)


def mutual_information_reference(presence, y) -> float:
    """Plug-in mutual information in bits: H(X) + H(Y) - H(X, Y) from empirical frequencies.

    Examples
    --------
    >>> mutual_information_reference([True, True, False, False], [1, 1, 0, 0])
    1.0
    >>> mutual_information_reference([True, False, True, False], [1, 1, 0, 0])
    0.0
    """
    presence = [bool(p) for p in presence]
    y = list(y)
    if len(presence) != len(y):
        raise ValueError("presence and y differ in length")
    n = len(y)
    if n == 0:
        return 0.0
    hx = _entropy_bits(Counter(presence), n)
    hy = _entropy_bits(Counter(y), n)
    hxy = _entropy_bits(Counter(zip(presence, y)), n)
    return hx + hy - hxy
