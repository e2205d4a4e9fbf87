"""Hypothesis strategies for random molecular graphs, and their CSR packing for the engine.

A molecule is ``(n_atoms, atom_inv, chiral_term, bonds)`` exactly as ``reference.morgan_reference``
takes it: ``atom_inv`` uint32 layer-0 invariants, ``chiral_term`` in 0..3, ``bonds`` a list of
``(begin, end, bond_inv)`` with local atom indices, no self-loops and no duplicate bonds.

The generators lean towards the cases that break Morgan implementations: tiny invariant alphabets
(ties and symmetric atoms, so de-duplication and the "smallest (inv, atom)" rule matter), rings,
disconnected parts, isolated atoms, empty molecules, every bond invariant RDKit produces, and now
and then a 65-90-atom ring so bond sets need more than one 64-bit word.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# SINGLE, DOUBLE, TRIPLE, AROMATIC, DATIVE, ZERO, and the chiral double-bond values 120 + stereo.
BOND_INVARIANTS = (1, 2, 3, 12, 17, 21, 121, 122, 123, 124, 125)

_UINT32_EDGES = (0, 1, 2**31 - 1, 2**31, 2**32 - 1)


@st.composite
def invariant_alphabets(draw, max_size: int = 4):
    """A small set of uint32 atom invariants (often just one or two values, so ties abound)."""
    value = st.one_of(
        st.integers(0, 7),
        st.sampled_from(_UINT32_EDGES),
        st.integers(0, 2**32 - 1),
    )
    return draw(st.lists(value, min_size=1, max_size=max_size, unique=True))


@st.composite
def bond_alphabets(draw):
    """Bond invariants for one molecule: mostly single bonds, sometimes anything RDKit emits."""
    return draw(
        st.one_of(
            st.just([1]),
            st.lists(st.sampled_from(BOND_INVARIANTS), min_size=1, max_size=3, unique=True),
        )
    )


@st.composite
def _random_part(draw, bond_alphabet, max_atoms: int = 9):
    """A random simple graph (possibly disconnected) on up to ``max_atoms`` atoms."""
    n = draw(st.integers(1, max_atoms))
    all_pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    pairs = draw(st.lists(st.sampled_from(all_pairs), unique=True, max_size=2 * n)) if all_pairs else []
    bonds = [(i, j, draw(st.sampled_from(bond_alphabet))) for i, j in pairs]
    return n, bonds


@st.composite
def _ring_part(draw, bond_alphabet, min_size: int = 3, max_size: int = 10):
    """A ring, optionally with chords and pendant atoms."""
    k = draw(st.integers(min_size, max_size))
    edges = {(i, (i + 1) % k) for i in range(k)}
    edges = {(min(i, j), max(i, j)) for i, j in edges}
    chords = [(i, j) for i in range(k) for j in range(i + 2, k) if (i, j) not in edges]
    if chords:
        edges |= set(draw(st.lists(st.sampled_from(chords), unique=True, max_size=2)))
    n = k
    for anchor in draw(st.lists(st.integers(0, k - 1), max_size=3)):
        edges.add((anchor, n))
        n += 1
    bonds = [(i, j, draw(st.sampled_from(bond_alphabet))) for i, j in sorted(edges)]
    return n, bonds


@st.composite
def _big_ring_part(draw, bond_alphabet):
    """A 65-90-atom ring with a few pendant atoms: bond sets span more than 64 bonds."""
    return draw(_ring_part(bond_alphabet, min_size=65, max_size=90))


@st.composite
def molecules(draw, allow_big: bool = True):
    """One molecule ``(n_atoms, atom_inv, chiral_term, bonds)``.

    Shrinks towards the empty molecule.
    """
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return 0, [], [], []
    inv_alphabet = draw(invariant_alphabets())
    bond_alphabet = draw(bond_alphabets())

    part_kinds = [st.just("isolated"), st.just("random"), st.just("ring")]
    if allow_big and kind == 9:
        parts_kinds = ["big"] + draw(st.lists(st.one_of(*part_kinds), max_size=1))
    else:
        parts_kinds = draw(st.lists(st.one_of(*part_kinds), min_size=1, max_size=3))

    n_atoms = 0
    bonds: list[tuple[int, int, int]] = []
    for part in parts_kinds:
        if part == "isolated":
            n, part_bonds = 1, []
        elif part == "random":
            n, part_bonds = draw(_random_part(bond_alphabet))
        elif part == "ring":
            n, part_bonds = draw(_ring_part(bond_alphabet))
        else:
            n, part_bonds = draw(_big_ring_part(bond_alphabet))
        bonds.extend((i + n_atoms, j + n_atoms, b) for i, j, b in part_bonds)
        n_atoms += n

    # Relabel atoms, reorder bonds and flip their direction: tie-breaks by atom index and
    # bond numbering must not be an artefact of how the parts were glued together.
    perm = draw(st.permutations(range(n_atoms)))
    bonds = [(perm[i], perm[j], b) for i, j, b in bonds]
    bonds = draw(st.permutations(bonds))
    flips = draw(st.lists(st.booleans(), min_size=len(bonds), max_size=len(bonds)))
    bonds = [(j, i, b) if f else (i, j, b) for (i, j, b), f in zip(bonds, flips)]

    atom_inv = draw(st.lists(st.sampled_from(inv_alphabet), min_size=n_atoms, max_size=n_atoms))
    chiral_term = draw(
        st.one_of(
            st.just([0] * n_atoms),
            st.lists(st.sampled_from((0, 0, 1, 2, 3)), min_size=n_atoms, max_size=n_atoms),
        )
    )
    return n_atoms, atom_inv, chiral_term, bonds


def batches(min_size: int = 0, max_size: int = 6, allow_big: bool = True):
    """A batch (list) of molecules."""
    return st.lists(molecules(allow_big=allow_big), min_size=min_size, max_size=max_size)


def to_csr(batch):
    """Pack a batch into the engine's CSR arrays.

    Returns
    -------
    dict
        ``atom_ptr`` int64 (n_mols + 1), ``atom_inv`` uint32, ``chiral_term`` uint8,
        ``bond_ptr`` int64 (n_mols + 1), ``bond_begin`` / ``bond_end`` int32 (local atom indices
        within each molecule), ``bond_inv`` int32.

    Examples
    --------
    >>> csr = to_csr([(2, [5, 6], [0, 1], [(0, 1, 2)]), (0, [], [], []), (1, [9], [0], [])])
    >>> csr["atom_ptr"].tolist(), csr["bond_ptr"].tolist(), csr["bond_end"].tolist()
    ([0, 2, 2, 3], [0, 1, 1, 1], [1])
    """
    atom_ptr = [0]
    bond_ptr = [0]
    atom_inv: list[int] = []
    chiral_term: list[int] = []
    bond_begin: list[int] = []
    bond_end: list[int] = []
    bond_inv: list[int] = []
    for n_atoms, inv, chiral, bonds in batch:
        atom_inv.extend(inv)
        chiral_term.extend(chiral)
        for i, j, b in bonds:
            bond_begin.append(i)
            bond_end.append(j)
            bond_inv.append(b)
        atom_ptr.append(atom_ptr[-1] + n_atoms)
        bond_ptr.append(bond_ptr[-1] + len(bonds))
    return {
        "atom_ptr": np.asarray(atom_ptr, dtype=np.int64),
        "atom_inv": np.asarray(atom_inv, dtype=np.uint32),
        "chiral_term": np.asarray(chiral_term, dtype=np.uint8),
        "bond_ptr": np.asarray(bond_ptr, dtype=np.int64),
        "bond_begin": np.asarray(bond_begin, dtype=np.int32),
        "bond_end": np.asarray(bond_end, dtype=np.int32),
        "bond_inv": np.asarray(bond_inv, dtype=np.int32),
    }
