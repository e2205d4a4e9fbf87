"""Stage 2, graph: molecules as one flattened CSR batch (:class:`MolGraph`), read from RDKit pickles, and
its neighbour lists.

Fast route: ``Mol.ToBinary()`` (one C++ call per molecule, GIL released, run on a
thread pool) parsed by the compiled reader in :mod:`.molpickle`; no per-atom Python.
Exact route: RDKit's per-atom Python API, used for molecules the fast reader
declines (query atoms, PDB residue info, unsanitised molecules, unknown pickle
versions) and as the test oracle for the fast route.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import checks, molpickle, parallel
from ._jit import kernel, ro
from .csr import select_rows, thread_blocks
from .hashing import bond_invariants, ecfp_invariants


@dataclass
class MolGraph:
    """A batch of molecular graphs as flat arrays (CSR over molecules).

    Atoms of molecule ``i`` are ``atom_ptr[i]:atom_ptr[i+1]``; its bonds are
    ``bond_ptr[i]:bond_ptr[i+1]`` with molecule-local ``bond_begin``/``bond_end``.
    ``nbr_ptr``/``nbr_atom``/``nbr_bond`` are the per-atom neighbour lists.
    ``cip_term`` is 0 for atoms without a chiral tag, else RDKit's CIP term
    (only filled when the batch was flattened with ``chirality=True``).
    ``feature_inv`` holds FCFP layer-0 invariants when flattened with ``fcfp=True``.
    """

    atom_ptr: np.ndarray
    bond_ptr: np.ndarray
    atomic_num: np.ndarray
    total_degree: np.ndarray
    total_hs: np.ndarray
    charge: np.ndarray
    delta_mass: np.ndarray
    in_ring: np.ndarray
    chiral_tag: np.ndarray
    bond_begin: np.ndarray
    bond_end: np.ndarray
    bond_type: np.ndarray
    bond_stereo: np.ndarray
    nbr_ptr: np.ndarray
    nbr_atom: np.ndarray
    nbr_bond: np.ndarray
    cip_term: np.ndarray | None = None
    feature_inv: np.ndarray | None = None

    @property
    def n_molecules(self) -> int:
        return self.atom_ptr.shape[0] - 1

    def atom_invariants(self, invariants: str = "ecfp", ring_membership: bool = True) -> np.ndarray:
        if invariants == "fcfp":
            if self.feature_inv is None:
                raise ValueError("this batch was flattened without FCFP invariants (fcfp=False)")
            return self.feature_inv
        return ecfp_invariants(
            self.atomic_num,
            self.total_degree,
            self.total_hs,
            self.charge,
            self.delta_mass,
            self.in_ring,
            bool(ring_membership),
        )

    def bond_invariants(self, bond_types: bool = True, chirality: bool = False) -> np.ndarray:
        return bond_invariants(self.bond_type, self.bond_stereo, bool(bond_types), bool(chirality))

    def chiral_terms(self, chirality: bool) -> np.ndarray:
        if not chirality:
            return np.zeros(self.atomic_num.shape[0], dtype=np.uint8)
        if self.cip_term is None:
            raise ValueError("this batch was flattened without chirality data (chirality=False)")
        return self.cip_term


@kernel
def totals_one(
    a0, a1, nbr_ptr, nbr_atom, atomic_num, no_implicit, explicit_hs, implicit_valence, total_degree, total_hs
):
    """RDKit's getTotalDegree and getTotalNumHs(includeNeighbors=True) for atoms a0..a1."""
    for a in range(a0, a1):
        implicit = 0 if no_implicit[a] else implicit_valence[a]
        hs = explicit_hs[a] + implicit
        h_nbrs = 0
        for e in range(nbr_ptr[a], nbr_ptr[a + 1]):
            if atomic_num[a0 + nbr_atom[e]] == 1:
                h_nbrs += 1
        total_degree[a] = (nbr_ptr[a + 1] - nbr_ptr[a]) + hs
        total_hs[a] = hs + h_nbrs


@kernel
def _derive_totals(
    blocks,
    lo,
    hi,
    atom_ptr,
    nbr_ptr,
    nbr_atom,
    atomic_num,
    no_implicit,
    explicit_hs,
    implicit_valence,
    total_degree,
    total_hs,
):
    for bi in range(lo, hi):
        for i in range(blocks[bi], blocks[bi + 1]):
            totals_one(
                atom_ptr[i],
                atom_ptr[i + 1],
                nbr_ptr,
                nbr_atom,
                atomic_num,
                no_implicit,
                explicit_hs,
                implicit_valence,
                total_degree,
                total_hs,
            )


@lru_cache(maxsize=4096)
def _delta_mass(z: int, isotope: int) -> int:
    """``int(atom.GetMass() - atomic weight)`` truncated toward zero, as RDKit's invariant."""
    from rdkit import Chem

    atom = Chem.Atom(int(z))
    atom.SetIsotope(int(isotope))
    weight = Chem.GetPeriodicTable().GetAtomicWeight(int(z))
    return int(atom.GetMass() - weight)


def _delta_masses(atomic_num: np.ndarray, isotope: np.ndarray) -> np.ndarray:
    out = np.zeros(atomic_num.shape[0], dtype=np.int32)
    idx = np.flatnonzero(isotope)
    if idx.size:
        pairs = np.stack([atomic_num[idx].astype(np.int64), isotope[idx].astype(np.int64)], axis=1)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        values = np.array([_delta_mass(int(z), int(iso)) for z, iso in uniq], dtype=np.int32)
        out[idx] = values[inverse.ravel()]
    return out


def graph_from_pickles(buf: np.ndarray, offsets: np.ndarray, *, threads: int | None = None):
    """Parse concatenated RDKit pickles. Returns ``(MolGraph, status)``.

    Molecules whose ``status`` is not ``molpickle.OK`` have no atoms in the graph;
    the caller decides what to do with them (exact route or invalid row).  ``buf`` is
    bytes or a uint8 array; ``offsets`` (n + 1, from 0, non-decreasing) must stay
    inside it.
    """
    if isinstance(buf, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(buf, dtype=np.uint8)
    if not isinstance(buf, np.ndarray) or buf.dtype != np.uint8 or buf.ndim != 1:
        raise TypeError("buf must be bytes or a 1-d uint8 array of concatenated RDKit pickles")
    buf = np.ascontiguousarray(buf)
    offsets = checks.ptr_array(offsets, "offsets")
    if int(offsets[-1]) > buf.shape[0]:
        raise ValueError(f"offsets run past the end of buf ({int(offsets[-1])} > {buf.shape[0]} bytes)")
    t = parallel.threads(threads)
    n = offsets.shape[0] - 1
    n_atoms = np.zeros(n, dtype=np.int64)
    n_bonds = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    buf, offsets = ro(buf), ro(offsets)
    if n:
        molpickle.pickle_sizes(buf, offsets, n_atoms, n_bonds, status)
    atom_ptr = np.zeros(n + 1, dtype=np.int64)
    bond_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_atoms, out=atom_ptr[1:])
    np.cumsum(n_bonds, out=bond_ptr[1:])
    na, nb = int(atom_ptr[-1]), int(bond_ptr[-1])
    atomic_num = np.zeros(na, dtype=np.int32)
    no_implicit = np.zeros(na, dtype=np.bool_)
    charge = np.zeros(na, dtype=np.int32)
    chiral_tag = np.zeros(na, dtype=np.uint8)
    explicit_hs = np.zeros(na, dtype=np.int32)
    implicit_valence = np.zeros(na, dtype=np.int32)
    isotope = np.zeros(na, dtype=np.uint32)
    in_ring = np.zeros(na, dtype=np.bool_)
    bond_begin = np.zeros(nb, dtype=np.int32)
    bond_end = np.zeros(nb, dtype=np.int32)
    bond_type = np.zeros(nb, dtype=np.int32)
    bond_stereo = np.zeros(nb, dtype=np.int32)
    blocks = thread_blocks(atom_ptr, t)
    if n:
        parallel.run_blocks(
            molpickle.parse_pickles,
            blocks,
            t,
            buf,
            offsets,
            ro(atom_ptr),
            ro(bond_ptr),
            status,
            atomic_num,
            no_implicit,
            charge,
            chiral_tag,
            explicit_hs,
            implicit_valence,
            isotope,
            in_ring,
            bond_begin,
            bond_end,
            bond_type,
            bond_stereo,
        )
    if np.any(status != molpickle.OK):
        # drop the partially parsed molecules so the graph only holds good ones
        keep = status == molpickle.OK
        atom_keep = np.repeat(keep, n_atoms)
        bond_keep = np.repeat(keep, n_bonds)
        n_atoms = np.where(keep, n_atoms, 0)
        n_bonds = np.where(keep, n_bonds, 0)
        np.cumsum(n_atoms, out=atom_ptr[1:])
        np.cumsum(n_bonds, out=bond_ptr[1:])
        atomic_num, no_implicit, charge, chiral_tag = (
            a[atom_keep] for a in (atomic_num, no_implicit, charge, chiral_tag)
        )
        explicit_hs, implicit_valence, isotope, in_ring = (
            a[atom_keep] for a in (explicit_hs, implicit_valence, isotope, in_ring)
        )
        bond_begin, bond_end, bond_type, bond_stereo = (
            a[bond_keep] for a in (bond_begin, bond_end, bond_type, bond_stereo)
        )
        blocks = thread_blocks(atom_ptr, t)
    nbr_ptr, nbr_atom, nbr_bond = build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=t)
    total_degree = np.empty(atomic_num.shape[0], dtype=np.int32)
    total_hs = np.empty(atomic_num.shape[0], dtype=np.int32)
    if n:
        parallel.run_blocks(
            _derive_totals,
            blocks,
            t,
            atom_ptr,
            nbr_ptr,
            nbr_atom,
            atomic_num,
            no_implicit,
            explicit_hs,
            implicit_valence,
            total_degree,
            total_hs,
        )
    graph = MolGraph(
        atom_ptr,
        bond_ptr,
        atomic_num,
        total_degree,
        total_hs,
        charge,
        _delta_masses(atomic_num, isotope),
        in_ring,
        chiral_tag,
        bond_begin,
        bond_end,
        bond_type,
        bond_stereo,
        nbr_ptr,
        nbr_atom,
        nbr_bond,
    )
    return graph, status


def _mol_arrays_exact(mol):
    """Per-atom/bond fields of one molecule through RDKit's Python API (exact, slow)."""
    from rdkit import Chem

    pt = Chem.GetPeriodicTable()
    n = mol.GetNumAtoms()
    try:
        rings = [mol.GetRingInfo().NumAtomRings(i) > 0 for i in range(n)]
    except RuntimeError:  # ring info never computed: find rings on a copy, as RDKit would
        mol = Chem.Mol(mol)
        Chem.FastFindRings(mol)
        rings = [mol.GetRingInfo().NumAtomRings(i) > 0 for i in range(n)]
    atoms = mol.GetAtoms()
    fields = np.zeros((7, n), dtype=np.int64)
    for a in atoms:
        i = a.GetIdx()
        z = a.GetAtomicNum()
        fields[0, i] = z
        fields[1, i] = a.GetTotalDegree()
        fields[2, i] = a.GetTotalNumHs(includeNeighbors=True)
        fields[3, i] = a.GetFormalCharge()
        fields[4, i] = int(a.GetMass() - pt.GetAtomicWeight(z))
        fields[5, i] = rings[i]
        fields[6, i] = int(a.GetChiralTag())
    bonds = np.zeros((4, mol.GetNumBonds()), dtype=np.int64)
    for b in mol.GetBonds():
        j = b.GetIdx()
        bonds[:, j] = (b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType()), int(b.GetStereo()))
    return fields, bonds


def graph_from_mols_exact(mols, *, threads: int | None = None) -> MolGraph:
    """Flatten through RDKit's per-atom Python API (the reference route)."""
    per = [_mol_arrays_exact(m) for m in mols]
    n_atoms = np.array([f.shape[1] for f, _ in per], dtype=np.int64)
    n_bonds = np.array([b.shape[1] for _, b in per], dtype=np.int64)
    atom_ptr = np.zeros(len(per) + 1, dtype=np.int64)
    bond_ptr = np.zeros(len(per) + 1, dtype=np.int64)
    np.cumsum(n_atoms, out=atom_ptr[1:])
    np.cumsum(n_bonds, out=bond_ptr[1:])
    f = np.concatenate([p[0] for p in per], axis=1) if per else np.zeros((7, 0), dtype=np.int64)
    b = np.concatenate([p[1] for p in per], axis=1) if per else np.zeros((4, 0), dtype=np.int64)
    bond_begin, bond_end = b[0].astype(np.int32), b[1].astype(np.int32)
    nbr_ptr, nbr_atom, nbr_bond = build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=threads)
    return MolGraph(
        atom_ptr,
        bond_ptr,
        f[0].astype(np.int32),
        f[1].astype(np.int32),
        f[2].astype(np.int32),
        f[3].astype(np.int32),
        f[4].astype(np.int32),
        f[5].astype(bool),
        f[6].astype(np.uint8),
        bond_begin,
        bond_end,
        b[2].astype(np.int32),
        b[3].astype(np.int32),
        nbr_ptr,
        nbr_atom,
        nbr_bond,
    )


def concat_graphs(graphs: list[MolGraph]) -> MolGraph:
    """Concatenate batches (molecule order kept); neighbour pointers are re-based."""
    if len(graphs) == 1:
        return graphs[0]
    atom_off = np.cumsum([0] + [g.atom_ptr[-1] for g in graphs[:-1]])
    bond_off = np.cumsum([0] + [g.bond_ptr[-1] for g in graphs[:-1]])

    def ptr(name, offs):
        parts = [getattr(graphs[0], name)[:1]] + [getattr(g, name)[1:] + o for g, o in zip(graphs, offs)]
        return np.concatenate(parts)

    def cat(name):
        vals = [getattr(g, name) for g in graphs]
        if any(v is None for v in vals):
            return None
        return np.concatenate(vals)

    nbr_ptr = np.concatenate([graphs[0].nbr_ptr[:1]] + [g.nbr_ptr[1:] + 2 * o for g, o in zip(graphs, bond_off)])
    return MolGraph(
        ptr("atom_ptr", atom_off),
        ptr("bond_ptr", bond_off),
        cat("atomic_num"),
        cat("total_degree"),
        cat("total_hs"),
        cat("charge"),
        cat("delta_mass"),
        cat("in_ring"),
        cat("chiral_tag"),
        cat("bond_begin"),
        cat("bond_end"),
        cat("bond_type"),
        cat("bond_stereo"),
        nbr_ptr,
        cat("nbr_atom"),
        cat("nbr_bond"),
        cat("cip_term"),
        cat("feature_inv"),
    )


_export_lock = threading.Lock()
_export_pool: tuple | None = None  # (pid, threads, executor)


def _export_executor(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool for :func:`to_pickles`, kept between calls.

    Starting two threads on every call made the 2-thread Mols row of ``perf/bench_ecfp.py``
    1.16x RDKit instead of 1.33x (likely: new threads start with cold malloc arenas).  A forked
    child gets a pool of its own: the parent's threads are not in it.
    """
    global _export_pool
    with _export_lock:
        pool = _export_pool
        if pool is None or pool[0] != os.getpid() or pool[1] < threads:
            if pool is not None and pool[0] == os.getpid():
                pool[2].shutdown(wait=False)
            executor = ThreadPoolExecutor(threads, thread_name_prefix="sortslice-export")
            _export_pool = pool = (os.getpid(), threads, executor)
        return pool[2]


def to_pickles(mols, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """``Mol.ToBinary()`` of every molecule (threaded: the call releases the GIL)."""
    from rdkit import Chem

    # map over the unbound method: the least Python (GIL-held) work per call, which
    # matters most when two threads hand the GIL to each other on every call
    to_binary = Chem.Mol.ToBinary
    n = len(mols)
    if threads > 1 and n >= 2048:
        step = -(-n // threads)
        chunks = [mols[i : i + step] for i in range(0, n, step)]
        parts = list(_export_executor(threads).map(lambda ch: list(map(to_binary, ch)), chunks))
        blobs = [b for p in parts for b in p]
    else:
        blobs = list(map(to_binary, mols))
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buf = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    return buf, offsets


# ------------------------------------------------------------------ neighbour lists
@kernel
def neighbours_one(a0, n, b0, nb, bond_begin, bond_end, nbr_ptr, nbr_atom, nbr_bond, scratch):
    """One molecule's neighbour lists; its entries occupy ``[2*b0, 2*(b0+nb))``.

    Writes ``nbr_ptr[a0:a0+n]``; the molecule's end pointer is the next molecule's
    start (written by it, or by the caller for the last one), so each caller
    writes only its own rows.  ``scratch``: at least ``2 * n + 1`` int64 (any content).
    """
    deg = scratch[: n + 1]
    for a in range(n + 1):
        deg[a] = 0
    for b in range(nb):
        deg[bond_begin[b0 + b] + 1] += 1
        deg[bond_end[b0 + b] + 1] += 1
    start = 2 * b0
    for a in range(n):
        deg[a + 1] += deg[a]
    for a in range(n):
        nbr_ptr[a0 + a] = start + deg[a]
    fill = scratch[n + 1 : 2 * n + 1]
    for a in range(n):
        fill[a] = deg[a]
    for b in range(nb):
        u = bond_begin[b0 + b]
        v = bond_end[b0 + b]
        p = start + fill[u]
        nbr_atom[p] = v
        nbr_bond[p] = b
        fill[u] += 1
        p = start + fill[v]
        nbr_atom[p] = u
        nbr_bond[p] = b
        fill[v] += 1


@kernel
def _build_neighbours(blocks, lo, hi, atom_ptr, bond_ptr, bond_begin, bond_end, nbr_ptr, nbr_atom, nbr_bond):
    """Per-atom neighbour lists (CSR) from per-molecule bond lists (local atom indices), blocks ``lo..hi-1``."""
    for bi in range(lo, hi):
        n_max = 0
        for i in range(blocks[bi], blocks[bi + 1]):
            n_max = max(n_max, atom_ptr[i + 1] - atom_ptr[i])
        scratch = np.empty(2 * n_max + 1, dtype=np.int64)  # once per block, not per molecule
        for i in range(blocks[bi], blocks[bi + 1]):
            a0 = atom_ptr[i]
            b0 = bond_ptr[i]
            neighbours_one(
                a0,
                atom_ptr[i + 1] - a0,
                b0,
                bond_ptr[i + 1] - b0,
                bond_begin,
                bond_end,
                nbr_ptr,
                nbr_atom,
                nbr_bond,
                scratch,
            )


def neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, *, threads: int | None = None):
    """Build the neighbour CSR ``(nbr_ptr, nbr_atom, nbr_bond)`` of a batch of bond lists.

    ``bond_begin``/``bond_end`` are molecule-local atom indices; malformed input is
    rejected with ``TypeError``/``ValueError`` before any compiled code runs.
    """
    atom_ptr, bond_ptr = checks.graph_ptrs(atom_ptr, bond_ptr)
    bond_begin, bond_end = checks.bond_lists(atom_ptr, bond_ptr, bond_begin, bond_end)
    return build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=threads)


def build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, *, threads: int | None = None):
    """:func:`neighbours` of arrays already checked (or built by the engine's own readers)."""
    t = parallel.threads(threads)
    n_atoms = int(atom_ptr[-1])
    nbr_ptr = np.zeros(n_atoms + 1, dtype=np.int64)
    nbr_atom = np.empty(2 * int(bond_ptr[-1]), dtype=np.int32)
    nbr_bond = np.empty(2 * int(bond_ptr[-1]), dtype=np.int32)
    if atom_ptr.shape[0] > 1:
        parallel.run_blocks(
            _build_neighbours,
            thread_blocks(atom_ptr, t),
            t,
            atom_ptr,
            bond_ptr,
            bond_begin,
            bond_end,
            nbr_ptr,
            nbr_atom,
            nbr_bond,
        )
    nbr_ptr[n_atoms] = 2 * int(bond_ptr[-1]) if n_atoms else 0
    return nbr_ptr, nbr_atom, nbr_bond


def take_rows(g: MolGraph, rows: np.ndarray, *, threads: int | None = None) -> MolGraph:
    """A new graph made of molecules ``rows`` of ``g`` (in that order); its neighbour lists are built on
    ``threads`` threads."""
    atom_ptr, aidx = select_rows(g.atom_ptr, rows)
    bond_ptr, bidx = select_rows(g.bond_ptr, rows)

    def sel(a, idx):
        return None if a is None else a[idx]

    bond_begin, bond_end = g.bond_begin[bidx], g.bond_end[bidx]
    nbr_ptr, nbr_atom, nbr_bond = build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=threads)
    return MolGraph(
        atom_ptr,
        bond_ptr,
        g.atomic_num[aidx],
        g.total_degree[aidx],
        g.total_hs[aidx],
        g.charge[aidx],
        g.delta_mass[aidx],
        g.in_ring[aidx],
        g.chiral_tag[aidx],
        bond_begin,
        bond_end,
        g.bond_type[bidx],
        g.bond_stereo[bidx],
        nbr_ptr,
        nbr_atom,
        nbr_bond,
        sel(g.cip_term, aidx),
        sel(g.feature_inv, aidx),
    )
