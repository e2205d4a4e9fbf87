"""``ecfp()``: molecules -> RDKit-identical unfolded ECFP ids and counts, one CSR row per input."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from . import _worker, checks, molpickle
from . import parallel
from ._jit import parallel_section
from .flatten import MolGraph, concat_graphs, graph_from_mols_exact, graph_from_pickles, to_pickles
from .morgan import Environments, _check_batch, _morgan
from .pool import iter_parse_parallel

INVARIANTS = ("ecfp", "fcfp")
#: the size limits: larger molecules are invalid rows with a reason (see ``_worker``)
MAX_ATOMS, MAX_RINGS = _worker.MAX_ATOMS, _worker.MAX_RINGS


class InvalidMoleculeError(ValueError):
    """Raised in strict mode for the first molecule that cannot be used."""


@dataclass(frozen=True)
class EcfpParams:
    """Everything that determines the ids of a molecule (the featurisers compare these)."""

    radius: int = 2
    invariants: str = "ecfp"
    chirality: bool = False
    bond_types: bool = True
    ring_membership: bool = True
    redundant_environments: bool = False

    def __post_init__(self):
        if isinstance(self.radius, bool) or not isinstance(self.radius, (int, np.integer)) or self.radius < 0:
            raise ValueError(f"radius must be an integer >= 0, got {self.radius!r}")
        if self.invariants not in INVARIANTS:
            raise ValueError(f"invariants must be 'ecfp' or 'fcfp', got {self.invariants!r}")
        object.__setattr__(self, "radius", int(self.radius))
        for name in ("chirality", "bond_types", "ring_membership", "redundant_environments"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    def to_dict(self) -> dict:
        return asdict(self)

    def rdkit_generator(self, fp_size: int = 2048):
        """The RDKit generator that computes the same ids (for comparisons)."""
        from rdkit.Chem import rdFingerprintGenerator as rfg

        atom_gen = (rfg.GetMorganFeatureAtomInvGen() if self.invariants == "fcfp"
                    else rfg.GetMorganAtomInvGen(includeRingMembership=self.ring_membership))
        bond_gen = rfg.GetMorganBondInvGen(useBondTypes=self.bond_types, useChirality=self.chirality)
        return rfg.GetMorganGenerator(radius=self.radius, includeChirality=self.chirality, fpSize=fp_size,
                                      atomInvariantsGenerator=atom_gen, bondInvariantsGenerator=bond_gen,
                                      includeRedundantEnvironments=self.redundant_environments)


@dataclass(frozen=True, eq=False)
class EcfpResult:
    """Unfolded ids per input row, as CSR.

    Row ``i`` (always input ``i``) has ids ``ids[indptr[i]:indptr[i+1]]`` (uint32,
    ascending, unique) with ``counts`` (uint32: environments that produced each id).
    ``valid[i]`` is False for rows that could not be parsed; they have no ids and
    ``errors[i]`` says why (``None`` for valid rows).  ``environments`` holds each
    emitted environment's centre atom and radius when computed with ``provenance=True``.
    ``smiles`` (object array, one per row) is set when the ids were read from a file that keeps
    the molecules (:func:`sortslice.read_ids`); featurisers fitted on such ids find example fragments.
    """

    indptr: np.ndarray
    ids: np.ndarray
    counts: np.ndarray
    valid: np.ndarray
    errors: np.ndarray
    params: EcfpParams
    environments: Environments | None = None
    smiles: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: made by :func:`ecfp` (rows are known to be ascending and unique: the O(ids) check is skipped;
    #: the O(rows) checks that keep the kernels in bounds always run)
    from_engine: bool = field(default=False, repr=False, compare=False)

    def __len__(self) -> int:
        return self.indptr.shape[0] - 1

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, counts)`` of row ``i``."""
        s, e = self.indptr[i], self.indptr[i + 1]
        return self.ids[s:e], self.counts[s:e]

    def to_dict(self, i: int) -> dict[int, int]:
        """Row ``i`` as ``{id: count}`` (RDKit's ``GetNonzeroElements()`` shape)."""
        ids, counts = self.row(i)
        return dict(zip(ids.tolist(), counts.tolist()))

    def take(self, rows) -> "EcfpResult":
        """The rows ``rows`` (indices or a boolean mask), in that order — e.g. a cross-validation fold."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise ValueError(f"boolean mask must have {len(self)} entries")
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError("row index out of range")
        rows = np.where(rows < 0, rows + len(self), rows)
        sizes = np.diff(self.indptr)[rows]
        indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        idx = np.repeat(self.indptr[rows] - indptr[:-1], sizes) + np.arange(indptr[-1])
        smiles = None if self.smiles is None else self.smiles[rows]
        return EcfpResult(indptr, self.ids[idx], self.counts[idx], self.valid[rows], self.errors[rows], self.params,
                          smiles=smiles)

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())

    def invalid_rows(self) -> list[tuple[int, str]]:
        """``(row, reason)`` for every invalid row."""
        return [(int(i), str(self.errors[i])) for i in np.flatnonzero(~self.valid)]

    def __repr__(self) -> str:
        return (f"EcfpResult(rows={len(self)}, ids={self.ids.shape[0]}, invalid={self.n_invalid}, "
                f"params={self.params})")


def checked_result(fp: EcfpResult) -> EcfpResult:
    """``fp`` with its arrays checked and in the kernels' dtypes: an :class:`EcfpResult` may be built by hand.

    Rows must be CSR (``indptr`` from 0, non-decreasing, ending at ``len(ids)``) of
    strictly ascending ids with one count each; ``valid`` one bool per row and
    ``errors`` one entry per row; invalid rows hold no ids.  Raises ``TypeError`` or
    ``ValueError`` otherwise.
    """
    indptr, ids, counts = checks.csr(fp.indptr, fp.ids, fp.counts, sorted_rows=not fp.from_engine)
    n = indptr.shape[0] - 1
    valid = np.asarray(fp.valid)
    if valid.dtype != np.bool_:
        raise TypeError(f"valid must be an array of booleans, got {valid.dtype}")
    if valid.shape != (n,):
        raise ValueError(f"valid must have one entry per row ({n}), got shape {valid.shape}")
    errors = np.asarray(fp.errors, dtype=object)
    if errors.shape != (n,):
        raise ValueError(f"errors must have one entry per row ({n}), got shape {errors.shape}")
    if not valid.all():   # only the invalid rows' sizes are needed (usually a handful)
        bad = np.flatnonzero(~valid)
        full = bad[indptr[bad + 1] > indptr[bad]]
        if full.size:
            raise ValueError(f"invalid rows must hold no ids (row {int(full[0])} does)")
    if not isinstance(fp.params, EcfpParams):
        raise TypeError(f"params must be EcfpParams, got {type(fp.params).__name__}")
    smiles = fp.smiles
    if smiles is not None:
        smiles = np.asarray(smiles, dtype=object)
        if smiles.shape != (n,):
            raise ValueError(f"smiles must have one entry per row ({n}), got shape {smiles.shape}")
    if all(a is b for a, b in ((indptr, fp.indptr), (ids, fp.ids), (counts, fp.counts), (valid, fp.valid),
                               (errors, fp.errors), (smiles, fp.smiles))):
        return fp
    return EcfpResult(indptr, ids, counts, valid, errors, fp.params, fp.environments, smiles, fp.from_engine)


@dataclass
class Flattened:
    graph: MolGraph
    valid: np.ndarray
    errors: np.ndarray


def _is_mol(x) -> bool:
    from rdkit import Chem

    return isinstance(x, Chem.Mol)


def _as_items(molecules) -> list:
    if isinstance(molecules, (str, bytes)) or _is_mol(molecules):
        return [molecules]
    try:  # polars / pandas / numpy / arrow columns
        if hasattr(molecules, "to_list"):
            return list(molecules.to_list())
        if hasattr(molecules, "tolist"):
            return list(molecules.tolist())
        return list(molecules)
    except TypeError:
        raise TypeError(f"molecules must be SMILES strings, RDKit Mols or an iterable of them, "
                        f"got {type(molecules).__name__}") from None


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def _parse_in_process(kind: str, items: list, rows: list[int]):
    """Parse strings to Mols here (small batches); returns mols and errors by row."""
    mols, errors = {}, {}
    with _worker.quiet_rdkit():
        for i in rows:
            mol, reason = _worker.parse(items[i], kind)
            if mol is None:
                errors[i] = reason
            else:
                mols[i] = mol
    return mols, errors


def _classify(molecules):
    """Sort the inputs into Mols, text rows and errors.

    Mols are checked against the size limits later, from their pickles' headers
    (:func:`_in_process_chunk`): no per-molecule RDKit call here.
    """
    from rdkit import Chem

    mol_type = Chem.Mol
    items = _as_items(molecules)
    errors: dict[int, str] = {}
    mols: dict[int, object] = {}
    text_rows: list[int] = []
    for i, x in enumerate(items):
        kind = type(x)
        if kind is mol_type:  # the common cases first, by exact type
            mols[i] = x
        elif kind is str:
            text_rows.append(i)
        elif _missing(x):
            errors[i] = "missing molecule"
        elif isinstance(x, str):
            text_rows.append(i)
        elif isinstance(x, bytes):
            items[i] = x.decode("utf-8", errors="replace")
            text_rows.append(i)
        elif isinstance(x, mol_type):
            mols[i] = x
        else:
            errors[i] = f"unsupported input of type {type(x).__name__}"
    return items, errors, mols, text_rows


def iter_flatten(molecules, *, chirality: bool = False, fcfp: bool = False, n_jobs: int | None = None,
                 kind: str = "smiles", chunk_size: int | None = None):
    """Flatten in chunks: yields ``(first_row, Flattened)`` in input order.

    Large all-text batches are parsed by ``n_jobs`` worker processes while the
    caller works on the chunks already returned (the pipeline overlaps parsing and
    the kernels).  Results never depend on ``n_jobs`` or ``chunk_size``.
    """
    items, errors, mols, text_rows = _classify(molecules)
    n = len(items)
    jobs = parallel.processes(n_jobs, len(text_rows))
    missing = [i for i, reason in errors.items() if reason == "missing molecule"]
    if jobs > 1 and len(text_rows) + len(missing) == n:
        # text with some missing values: workers report those rows as missing too
        for i in missing:
            items[i] = None
        # while workers parse, the main process runs the kernels single-threaded
        start = 0
        for ch in iter_parse_parallel(kind, items, chirality, fcfp, jobs, chunk_size):
            m = ch["lengths"].shape[0]
            fcfp_by_row = None
            if fcfp:
                fl = ch["fcfp_lengths"]
                fo = np.concatenate([[0], np.cumsum(fl)])
                fcfp_by_row = {int(k): ch["fcfp"][fo[k]:fo[k + 1]] for k in np.flatnonzero(fl)}
            flat = _assemble(m, ch["lengths"], np.frombuffer(ch["buf"], dtype=np.uint8), ch["errors"],
                             ch["cip"], fcfp_by_row, {}, items[start:start + m], chirality, fcfp, kind, 1)
            yield start, flat
            start += m
        return
    threads = parallel.threads(n_jobs)
    parsed, perr = _parse_in_process(kind, items, text_rows)
    mols.update(parsed)
    errors.update(perr)
    if chunk_size is None or not 0 < chunk_size < n:
        # one piece: Mol.ToBinary releases the GIL, so to_pickles and the kernels are each threaded
        yield 0, _in_process_chunk(0, n, items, mols, errors, chirality, fcfp, kind, threads)
        return
    mol_rows, error_rows = sorted(mols), sorted(errors)
    for start in range(0, n, int(chunk_size)):
        stop = min(n, start + int(chunk_size))
        block_mols = {i - start: mols[i] for i in mol_rows[bisect_left(mol_rows, start):bisect_left(mol_rows, stop)]}
        block_errors = {i - start: errors[i]
                        for i in error_rows[bisect_left(error_rows, start):bisect_left(error_rows, stop)]}
        yield start, _in_process_chunk(start, stop, items, block_mols, block_errors, chirality, fcfp, kind, threads)


def _in_process_chunk(a: int, b: int, items, mols: dict, errors: dict, chirality, fcfp, kind, threads) -> Flattened:
    """Rows ``a:b`` of an in-process batch -> :class:`Flattened` (``mols``/``errors`` keyed from ``a``)."""
    order = sorted(mols)
    buf, poffs = to_pickles([mols[i] for i in order], threads)
    buf, poffs, order = _drop_oversized(buf, poffs, order, mols, errors, threads)
    lengths = np.zeros(b - a, dtype=np.int64)
    lengths[order] = np.diff(poffs)
    return _assemble(b - a, lengths, buf, errors, None, None, mols, items[a:b], chirality, fcfp, kind, threads)


def _drop_oversized(buf, offsets, order, mols, errors, threads):
    """Take molecules above the size limits (``MAX_ATOMS``, ``MAX_RINGS``) out of the pickles.

    Atom and bond counts come from the pickle headers; only a molecule with more bonds
    than ``MAX_RINGS`` (rings = bonds - atoms + fragments) or an unreadable header is asked
    of RDKit.  Each one dropped gets its reason in ``errors``.
    """
    n = offsets.shape[0] - 1
    if n == 0:
        return buf, offsets, order
    n_atoms = np.zeros(n, dtype=np.int64)
    n_bonds = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    with parallel_section(threads):
        molpickle.pickle_sizes(buf, offsets, n_atoms, n_bonds, status)
    ask = np.flatnonzero((status != molpickle.OK) | (n_atoms > MAX_ATOMS) | (n_bonds > MAX_RINGS))
    drop = []
    for j in ask.tolist():
        problem = _worker.size_problem(mols[order[j]])
        if problem is not None:
            errors[order[j]] = problem
            drop.append(j)
    if not drop:
        return buf, offsets, order
    keep = np.ones(n, dtype=bool)
    keep[drop] = False
    lengths = np.diff(offsets)[keep]
    byte_keep = np.repeat(keep, np.diff(offsets))
    new_offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    return buf[byte_keep], new_offsets, [order[j] for j in np.flatnonzero(keep).tolist()]


def flatten(molecules, *, chirality: bool = False, fcfp: bool = False, n_jobs: int | None = None,
            kind: str = "smiles", chunk_size: int | None = None) -> Flattened:
    """Turn a batch of molecules into one :class:`MolGraph` plus per-row validity.

    ``molecules`` may mix SMILES strings (or mol blocks with ``kind="molblock"``),
    RDKit ``Mol`` objects and missing values.
    """
    parts = [f for _, f in iter_flatten(molecules, chirality=chirality, fcfp=fcfp, n_jobs=n_jobs, kind=kind,
                                        chunk_size=chunk_size)]
    if len(parts) == 1:
        return parts[0]
    return Flattened(concat_graphs([p.graph for p in parts]), np.concatenate([p.valid for p in parts]),
                     np.concatenate([p.errors for p in parts]))


def _assemble(n, lengths, buf, errors, cip_rows, fcfp_by_row, mols, items, chirality, fcfp, kind, threads):
    """Pickles (+ worker extras, or the Mols themselves) of ``n`` rows -> :class:`Flattened`."""
    errors = dict(errors)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    graph, status = graph_from_pickles(buf, offsets, threads=threads)
    has_record = lengths > 0
    fallback = np.flatnonzero(has_record & (status != molpickle.OK))

    na = graph.atomic_num.shape[0]
    cip = np.zeros(na, dtype=np.uint8) if chirality else None
    if chirality:
        if cip_rows is not None:
            r, a, t = cip_rows
            keep = status[r] == molpickle.OK
            cip[graph.atom_ptr[r[keep]] + a[keep]] = t[keep]
        else:
            # chiral tags come from the pickle: only molecules that have any need RDKit
            tagged = np.flatnonzero(graph.chiral_tag)
            if tagged.size:
                row_of = np.searchsorted(graph.atom_ptr, tagged, side="right") - 1
                for r in np.unique(row_of):
                    for a, t in _worker.chiral_cip_terms(mols[int(r)]):
                        cip[graph.atom_ptr[r] + a] = t
    feat = np.zeros(na, dtype=np.uint32) if fcfp else None
    if fcfp:
        from rdkit.Chem import rdMolDescriptors

        for r in np.flatnonzero(has_record & (status == molpickle.OK)):
            v = fcfp_by_row[int(r)] if fcfp_by_row is not None else np.asarray(
                rdMolDescriptors.GetFeatureInvariants(mols[int(r)]), dtype=np.uint32)
            feat[graph.atom_ptr[r]:graph.atom_ptr[r + 1]] = v
    graph.cip_term = cip
    graph.feature_inv = feat

    valid = has_record & (status == molpickle.OK)
    if fallback.size:
        graph, ok = _with_exact_rows(graph, fallback, mols, buf, offsets, chirality, fcfp, errors)
        valid[fallback[ok]] = True
    err = np.full(n, None, dtype=object)
    for i, reason in errors.items():
        err[i] = reason
    err[valid] = None
    return Flattened(graph, valid, err)


def _with_exact_rows(graph, rows, mols, buf, offsets, chirality, fcfp, errors):
    """Flatten ``rows`` through RDKit's per-atom API and splice them into ``graph``."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    ok = np.zeros(rows.shape[0], dtype=bool)
    sub_mols = []
    for j, r in enumerate(rows):
        r = int(r)
        try:
            mol = mols.get(r)
            if mol is None:
                mol = Chem.Mol(buf[offsets[r]:offsets[r + 1]].tobytes())
            g = graph_from_mols_exact([mol])
            if chirality:
                g.cip_term = np.zeros(g.atomic_num.shape[0], dtype=np.uint8)
                for a, t in _worker.chiral_cip_terms(mol):
                    g.cip_term[a] = t
            if fcfp:
                g.feature_inv = np.asarray(rdMolDescriptors.GetFeatureInvariants(mol), dtype=np.uint32)
            sub_mols.append(g)
            ok[j] = True
        except Exception as exc:  # a molecule RDKit itself cannot describe
            errors[r] = _worker.rdkit_error(exc)
    if not ok.any():
        return graph, ok
    good_rows = rows[ok]
    combined = concat_graphs([graph] + sub_mols)
    n = graph.n_molecules
    order = np.arange(n, dtype=np.int64)
    order[good_rows] = n + np.arange(good_rows.shape[0])
    return take_rows(combined, order), ok


def take_rows(g: MolGraph, rows: np.ndarray) -> MolGraph:
    """A new graph made of molecules ``rows`` of ``g`` (in that order)."""
    na = np.diff(g.atom_ptr)[rows]
    nb = np.diff(g.bond_ptr)[rows]
    atom_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    bond_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(na, out=atom_ptr[1:])
    np.cumsum(nb, out=bond_ptr[1:])
    aidx = np.repeat(g.atom_ptr[rows] - atom_ptr[:-1], na) + np.arange(atom_ptr[-1])
    bidx = np.repeat(g.bond_ptr[rows] - bond_ptr[:-1], nb) + np.arange(bond_ptr[-1])

    def sel(a, idx):
        return None if a is None else a[idx]

    from .morgan import _neighbours

    bond_begin, bond_end = g.bond_begin[bidx], g.bond_end[bidx]
    nbr_ptr, nbr_atom, nbr_bond = _neighbours(atom_ptr, bond_ptr, bond_begin, bond_end)
    return MolGraph(atom_ptr, bond_ptr, g.atomic_num[aidx], g.total_degree[aidx], g.total_hs[aidx], g.charge[aidx],
                    g.delta_mass[aidx], g.in_ring[aidx], g.chiral_tag[aidx], bond_begin, bond_end,
                    g.bond_type[bidx], g.bond_stereo[bidx], nbr_ptr, nbr_atom, nbr_bond,
                    sel(g.cip_term, aidx), sel(g.feature_inv, aidx))


def ids_from_graph(graph: MolGraph, params: EcfpParams, *, provenance: bool = False, threads: int | None = None):
    """Run the ECFP kernel on a flattened batch.

    The graph's neighbour lists are the engine's own (built from bond lists the pickle
    reader checked), so only the per-atom and per-bond arrays are checked here; use
    :func:`.morgan.morgan` for neighbour lists from elsewhere.
    """
    atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, radius = _check_batch(
        graph.atom_ptr, graph.atom_invariants(params.invariants, params.ring_membership),
        graph.chiral_terms(params.chirality), graph.bond_ptr,
        graph.bond_invariants(params.bond_types, params.chirality), params.radius)
    return _morgan(atom_ptr, atom_inv, chiral, graph.nbr_ptr, graph.nbr_atom, graph.nbr_bond, bond_ptr, bond_inv,
                   radius, redundant_environments=params.redundant_environments, provenance=provenance,
                   threads=threads)


def ecfp(molecules, *, radius: int = 2, invariants: str = "ecfp", chirality: bool = False,
         bond_types: bool = True, ring_membership: bool = True, redundant_environments: bool = False,
         n_jobs: int | None = None, strict: bool = False, provenance: bool = False,
         kind: str = "smiles", chunk_size: int | None = None) -> EcfpResult:
    """Unfolded ECFP/FCFP ids and counts, bit-identical to RDKit's Morgan generator.

    Parameters
    ----------
    molecules
        SMILES strings, RDKit ``Mol`` objects (mixed freely) or missing values; a
        list, tuple, NumPy array, Polars or pandas Series.  ``kind="molblock"``
        reads strings as MDL mol blocks (SDF records).
    radius, invariants, chirality, bond_types, ring_membership, redundant_environments
        As RDKit's ``GetMorganGenerator`` (``invariants="fcfp"`` uses
        ``GetMorganFeatureAtomInvGen``; ``ring_membership=False`` is
        ``GetMorganAtomInvGen(includeRingMembership=False)``).
    n_jobs
        Parsing processes and kernel threads; ``None`` uses every core for large
        batches, ``-1`` all cores, ``1`` none.  Results never depend on it.
    strict
        Raise :class:`InvalidMoleculeError` on the first unusable molecule instead
        of returning an invalid row.
    chunk_size
        Molecules per worker task (default: chosen from the batch size).
    provenance
        Also return every emitted environment's centre atom and radius
        (``result.environments``), needed to draw or explain substructures.

    Returns
    -------
    EcfpResult
        Row ``i`` belongs to input ``i``; invalid rows are empty with a reason.
        Molecules above the size limits (``MAX_ATOMS`` atoms, ``MAX_RINGS`` rings)
        are invalid rows too (reason ``molecule too large: ...``).

    Examples
    --------
    >>> import sortslice
    >>> fp = sortslice.ecfp(["CCO", "not a smiles", None], radius=1)
    >>> fp.to_dict(0) == {864662311: 1, 1535166686: 1, 2245384272: 1, 2246728737: 1,
    ...                   3542456614: 1, 4018048386: 1}
    True
    >>> fp.valid.tolist()
    [True, False, False]
    >>> fp.errors[2]
    'missing molecule'
    """
    params = EcfpParams(radius, invariants, chirality, bond_types, ring_membership, redundant_environments)
    chunks = iter_flatten(molecules, chirality=params.chirality, fcfp=params.invariants == "fcfp", n_jobs=n_jobs,
                          kind=kind, chunk_size=chunk_size)

    def checked(items):
        for start, flat in items:
            if strict and not flat.valid.all():
                i = int(np.flatnonzero(~flat.valid)[0])
                raise InvalidMoleculeError(f"row {start + i}: {flat.errors[i]}")
            yield flat

    threads = parallel.threads(n_jobs)   # resolved here: Numba's thread count is per calling thread
    first = next(chunks, None)
    second = next(chunks, None) if first is not None else None
    if second is None or threads == 1:
        # one chunk (every small batch: no thread hand-off on the latency path), or one thread asked for
        items = [] if first is None else [first] if second is None else itertools.chain([first, second], chunks)
        parts = [_fingerprint_chunk(flat, params, provenance, threads) for flat in checked(items)]
        return concat_results(parts, params) if len(parts) != 1 else parts[0]
    # several chunks: chunk k's kernels run on a helper thread (they release the GIL) while this
    # thread produces chunk k + 1 (receiving parsed molecules, or Mol.ToBinary, which holds the GIL)
    kernel_jobs = max(1, threads - 1)
    parts, pending = [], deque()
    with ThreadPoolExecutor(1, thread_name_prefix="sortslice-kernels") as ex:
        try:
            for flat in checked(itertools.chain([first, second], chunks)):
                pending.append(ex.submit(_fingerprint_chunk, flat, params, provenance, kernel_jobs))
                while len(pending) > 1:   # at most one chunk waiting: memory stays bounded
                    parts.append(pending.popleft().result())
            parts.extend(f.result() for f in pending)
        finally:
            for f in pending:
                f.cancel()
            chunks.close()
    return concat_results(parts, params)


def _fingerprint_chunk(flat: Flattened, params: EcfpParams, provenance: bool, threads: int) -> EcfpResult:
    env = None
    if provenance:
        env = ids_from_graph(flat.graph, params, provenance=True, threads=threads)
        indptr, ids, counts = _counts_from_envs(env)
    else:
        indptr, ids, counts = ids_from_graph(flat.graph, params, threads=threads)
    return EcfpResult(indptr, ids, counts, flat.valid, flat.errors, params, env, from_engine=True)


def _concat_ptr(ptrs):
    out = [np.zeros(1, dtype=np.int64)]
    base = 0
    for p in ptrs:
        out.append(p[1:] + base)
        base += int(p[-1])
    return np.concatenate(out)


def concat_results(parts: list[EcfpResult], params: EcfpParams) -> EcfpResult:
    """Concatenate row-chunk results (row order kept); each part from the engine or :func:`checked_result`."""
    if not parts:
        z = np.zeros(0, dtype=np.uint32)
        return EcfpResult(np.zeros(1, dtype=np.int64), z, z.copy(), np.zeros(0, dtype=bool),
                          np.zeros(0, dtype=object), params, from_engine=True)
    env = None
    if parts[0].environments is not None:
        envs = [p.environments for p in parts]
        env = Environments(_concat_ptr([e.indptr for e in envs]), np.concatenate([e.ids for e in envs]),
                           np.concatenate([e.atom for e in envs]), np.concatenate([e.radius for e in envs]))
    smiles = None if parts[0].smiles is None else np.concatenate([p.smiles for p in parts])
    return EcfpResult(_concat_ptr([p.indptr for p in parts]), np.concatenate([p.ids for p in parts]),
                      np.concatenate([p.counts for p in parts]), np.concatenate([p.valid for p in parts]),
                      np.concatenate([p.errors for p in parts]), params, env, smiles, from_engine=True)


def _counts_from_envs(env: Environments):
    n = env.indptr.shape[0] - 1
    rows = np.repeat(np.arange(n), np.diff(env.indptr))
    order = np.lexsort((env.ids, rows))
    r, v = rows[order], env.ids[order]
    if v.size == 0:
        return np.zeros(n + 1, dtype=np.int64), v.astype(np.uint32), np.zeros(0, dtype=np.uint32)
    new = np.ones(v.shape[0], dtype=bool)
    new[1:] = (v[1:] != v[:-1]) | (r[1:] != r[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, v.shape[0])).astype(np.uint32)
    per_row = np.bincount(r[starts], minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    return indptr, v[starts].astype(np.uint32), counts
