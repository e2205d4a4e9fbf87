"""The ids stage's public face: ``ecfp()`` (molecules -> RDKit-identical unfolded ECFP ids and counts, one CSR
row per input) and its result types, ``EcfpParams`` and ``EcfpResult``."""

from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from . import _jit, checks, parallel, parse
from .csr import concat_ptr, row_of, select_rows
from .fastpath import check_parser
from .flatten import Flattened, flatten, iter_flatten, reasons  # noqa: F401  (re-exported: the stage before ids)
from .graph import MolGraph
from .morgan import Environments, morgan_unchecked

INVARIANTS = ("ecfp", "fcfp")
#: the size limits: larger molecules are invalid rows with a reason (see ``_worker``)
MAX_ATOMS, MAX_RINGS = parse.MAX_ATOMS, parse.MAX_RINGS


class InvalidMoleculeError(ValueError):
    """Raised in strict mode for the first molecule that cannot be used."""


@dataclass(frozen=True)
class EcfpParams:
    """Everything that determines the ids of a molecule (the featurisers compare these).

    Checked when built: ``ValueError`` for a radius that is not an integer >= 0 or unknown
    invariants; the four flags are stored as ``bool``.

    Attributes
    ----------
    radius : int, default 2
        Bonds from the centre atom an environment reaches (an integer >= 0): 2 is ECFP4 (diameter 4).
    invariants : {"ecfp", "fcfp"}, default "ecfp"
        Atom invariants: ``"ecfp"`` as RDKit's ``GetMorganAtomInvGen``, ``"fcfp"`` the pharmacophoric
        features of ``GetMorganFeatureAtomInvGen``.
    chirality : bool, default False
        Include chirality in the atom and bond invariants (RDKit's ``includeChirality``).
    bond_types : bool, default True
        Include bond types in the bond invariants (RDKit's ``useBondTypes``).
    ring_membership : bool, default True
        Include ring membership in the ``"ecfp"`` atom invariants (RDKit's ``includeRingMembership``;
        no effect with ``"fcfp"``).
    redundant_environments : bool, default False
        Keep environments whose bonds another environment already covers (dropped by default, as
        RDKit does; RDKit's ``includeRedundantEnvironments``).
    """

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

        atom_gen = (
            rfg.GetMorganFeatureAtomInvGen()
            if self.invariants == "fcfp"
            else rfg.GetMorganAtomInvGen(includeRingMembership=self.ring_membership)
        )
        bond_gen = rfg.GetMorganBondInvGen(useBondTypes=self.bond_types, useChirality=self.chirality)
        return rfg.GetMorganGenerator(
            radius=self.radius,
            includeChirality=self.chirality,
            fpSize=fp_size,
            atomInvariantsGenerator=atom_gen,
            bondInvariantsGenerator=bond_gen,
            includeRedundantEnvironments=self.redundant_environments,
        )


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

    Attributes
    ----------
    indptr : numpy.ndarray
        Row offsets, one more than the rows: row ``i`` is ``ids[indptr[i]:indptr[i+1]]``.
    ids : numpy.ndarray
        The ids of every row, concatenated (uint32; ascending and unique within a row).
    counts : numpy.ndarray
        Beside each id, how many environments produced it (uint32).
    valid : numpy.ndarray
        One bool per row: False where the molecule could not be used (its row holds no ids).
    errors : numpy.ndarray
        One entry per row (object): why the row is invalid, ``None`` for valid rows.
    params : EcfpParams
        The ECFP parameters the ids were computed with.
    environments : Environments or None, default None
        Each emitted environment's centre atom and radius (``provenance=True``), else ``None``.
    smiles : numpy.ndarray or None, default None
        The molecules (object array of SMILES, one per row) when read from an ids file that keeps
        them, else ``None``.
    from_engine : bool, default False
        Made by :func:`ecfp`: rows are known to be ascending and unique, so that O(ids) check is skipped
        (the O(rows) checks always run).  Leave it False for results built by hand.
    fast : numpy.ndarray or None, default None
        One bool per row: True where the certified SMILES fast path parsed the molecule, False where
        RDKit did (or the row was missing); ``None`` when every row took RDKit.  :attr:`routes` counts them.
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
    fast: np.ndarray | None = field(default=None, repr=False, compare=False)

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

    def take(self, rows) -> EcfpResult:
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
        indptr, idx = select_rows(self.indptr, rows)
        smiles = None if self.smiles is None else self.smiles[rows]
        fast = None if self.fast is None else self.fast[rows]
        return EcfpResult(
            indptr,
            self.ids[idx],
            self.counts[idx],
            self.valid[rows],
            self.errors[rows],
            self.params,
            smiles=smiles,
            fast=fast,
        )

    @property
    def routes(self) -> dict[str, int]:
        """How many rows each parser took: ``{"fast": ..., "rdkit": ...}`` (missing rows count as RDKit's)."""
        n_fast = 0 if self.fast is None else int(np.count_nonzero(self.fast))
        return {"fast": n_fast, "rdkit": len(self) - n_fast}

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())

    def invalid_rows(self) -> list[tuple[int, str]]:
        """``(row, reason)`` for every invalid row."""
        return [(int(i), str(self.errors[i])) for i in np.flatnonzero(~self.valid)]

    def __repr__(self) -> str:
        return f"EcfpResult(rows={len(self)}, ids={self.ids.shape[0]}, invalid={self.n_invalid}, params={self.params})"


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
    if not valid.all():  # only the invalid rows' sizes are needed (usually a handful)
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
    if all(
        a is b
        for a, b in (
            (indptr, fp.indptr),
            (ids, fp.ids),
            (counts, fp.counts),
            (valid, fp.valid),
            (errors, fp.errors),
            (smiles, fp.smiles),
        )
    ):
        return fp
    return EcfpResult(
        indptr, ids, counts, valid, errors, fp.params, fp.environments, smiles, fp.from_engine, fast=fp.fast
    )


def ids_from_graph(graph: MolGraph, params: EcfpParams, *, provenance: bool = False, threads: int | None = None):
    """Run the ECFP kernel on a flattened batch.

    The graph's neighbour lists are the engine's own (built from bond lists the pickle
    reader checked), so only the per-atom and per-bond arrays are checked here; use
    :func:`.morgan.morgan` for neighbour lists from elsewhere.
    """
    atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, radius = checks.morgan_batch(
        graph.atom_ptr,
        graph.atom_invariants(params.invariants, params.ring_membership),
        graph.chiral_terms(params.chirality),
        graph.bond_ptr,
        graph.bond_invariants(params.bond_types, params.chirality),
        params.radius,
    )
    return morgan_unchecked(
        atom_ptr,
        atom_inv,
        chiral,
        graph.nbr_ptr,
        graph.nbr_atom,
        graph.nbr_bond,
        bond_ptr,
        bond_inv,
        radius,
        redundant_environments=params.redundant_environments,
        provenance=provenance,
        threads=threads,
    )


def ecfp(
    molecules,
    *,
    radius: int = 2,
    invariants: str = "ecfp",
    chirality: bool = False,
    bond_types: bool = True,
    ring_membership: bool = True,
    redundant_environments: bool = False,
    n_jobs: int | None = None,
    strict: bool = False,
    provenance: bool = False,
    kind: str = "smiles",
    chunk_size: int | None = None,
    progress=None,
    parser: str = "auto",
) -> EcfpResult:
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
        ``GetMorganAtomInvGen(includeRingMembership=False)``).  Each is described in
        :class:`EcfpParams`; the defaults are ECFP4.
    n_jobs
        Parsing processes and kernel threads; ``None`` uses every core for large
        batches, ``-1`` all cores, ``1`` none.  Results never depend on it.
    strict
        Raise :class:`InvalidMoleculeError` on the first unusable molecule instead
        of returning an invalid row.
    kind
        ``"smiles"`` (default) reads strings as SMILES, ``"molblock"`` as MDL mol blocks (SDF records).
    chunk_size
        Molecules per worker task (default: chosen from the batch size).
    provenance
        Also return every emitted environment's centre atom and radius
        (``result.environments``), needed to draw or explain substructures.
    progress
        Called with the number of molecules just done after each piece of the
        batch (a parsing task, or ``chunk_size`` molecules parsed in this process),
        from the calling thread; an exception it raises stops the call.
    parser
        ``"auto"`` (default): SMILES that the certified fast path can show RDKit would read identically
        are parsed by it (compiled, many times faster), the others by RDKit; ids, counts and validity
        are identical either way.  It serves achiral ECFP (``invariants="ecfp"``, ``chirality=False``)
        on the RDKit versions it was verified against.  ``"rdkit"``: every molecule by RDKit.
        ``result.routes`` says how many rows took each.

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
    parser = check_parser(parser)
    if not (provenance or params.chirality) and kind == "smiles":
        first = _before_the_kernels(molecules, params, strict, progress)
        if first is not None:
            return first
    chunks = iter_flatten(
        molecules,
        chirality=params.chirality,
        fcfp=params.invariants == "fcfp",
        n_jobs=n_jobs,
        kind=kind,
        chunk_size=chunk_size,
        parser=parser,
    )

    def checked(items):
        for start, flat in items:
            if strict and not flat.valid.all():
                i = int(np.flatnonzero(~flat.valid)[0])
                raise InvalidMoleculeError(f"row {start + i}: {flat.errors[i]}")
            if progress is not None:
                progress(flat.valid.shape[0])
            yield flat

    threads = parallel.threads(n_jobs)  # resolved here: Numba's thread count is per calling thread
    first = next(chunks, None)
    second = next(chunks, None) if first is not None else None
    if second is None or threads == 1:
        # one chunk (every small batch: no thread hand-off on the latency path), or one thread asked for
        items = [] if first is None else [first] if second is None else itertools.chain([first, second], chunks)
        done = [_fingerprint_chunk(flat, params, provenance, threads) for flat in checked(items)]
        return concat_results(done, params) if len(done) != 1 else done[0]
    # several chunks: chunk k's kernels run on a helper thread (they release the GIL) while this
    # thread produces chunk k + 1 (receiving parsed molecules, or Mol.ToBinary, which holds the GIL)
    kernel_jobs = max(1, threads - 1)
    parts: list[EcfpResult] = []
    pending: deque = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="sortslice-kernels") as ex:
        try:
            for flat in checked(itertools.chain([first, second], chunks)):
                pending.append(ex.submit(_fingerprint_chunk, flat, params, provenance, kernel_jobs))
                while len(pending) > 1:  # at most one chunk waiting: memory stays bounded
                    parts.append(pending.popleft().result())
            parts.extend(f.result() for f in pending)
        finally:
            for f in pending:
                f.cancel()
            chunks.close()
    return concat_results(parts, params)


#: the kernels a call of :func:`ecfp` runs (see :func:`_before_the_kernels`)
_ECFP_KERNELS = (
    "molpickle.pickle_sizes",
    "molpickle.parse_pickles",
    "hashing.ecfp_invariants",
    "hashing.bond_invariants",
    "graph._derive_totals",
    "graph._build_neighbours",
    "morgan._morgan_small",
    "morgan._compact",
)
#: a call on at most this many SMILES made before those kernels exist is answered without them
FIRST_CALL_MAX = 256
_kernels_ready = False


def _kernels_missing() -> bool:
    """Whether calling :func:`ecfp`'s kernels now would compile them (neither in this process nor saved)."""
    global _kernels_ready
    if _kernels_ready:
        return False
    if _jit.ready(_ECFP_KERNELS):
        _kernels_ready = True
        return False
    return True


def smallest_environments(mols, params: EcfpParams, *, n_jobs: int | None = None) -> list[dict[int, tuple[int, int]]]:
    """For each molecule, each id it holds -> its smallest environment ``(radius, centre atom)``: the
    lowest radius that emits the id, then the lowest atom index (of the molecule as given).

    ``mols`` are RDKit molecules :func:`ecfp` finds valid (the ones a fit takes its examples from).  Like
    :func:`ecfp`'s first call, at most :data:`FIRST_CALL_MAX` of them without chirality, before the kernels
    are compiled, are answered by RDKit's generator's bit info: the environments the provenance kernels
    are tested equal to.
    """
    if len(mols) <= FIRST_CALL_MAX and not params.chirality and _kernels_missing():
        from rdkit.Chem import rdFingerprintGenerator as rfg

        _jit.ensure_helpers()
        generator = _rdkit_generator(params)
        found = []
        for mol in mols:
            info = rfg.AdditionalOutput()
            info.AllocateBitInfoMap()
            generator.GetSparseCountFingerprint(mol, additionalOutput=info)
            found.append({int(i): min((int(r), int(a)) for a, r in envs) for i, envs in info.GetBitInfoMap().items()})
        return found
    env = ecfp(mols, **params.to_dict(), provenance=True, n_jobs=n_jobs).environments
    assert env is not None  # provenance=True
    row = row_of(env.indptr)
    order = np.lexsort((env.atom, env.radius, env.ids, row))
    row, ids, radius, atom = row[order], env.ids[order], env.radius[order], env.atom[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (ids[1:] != ids[:-1])
    out: list[dict[int, tuple[int, int]]] = [{} for _ in mols]
    for r, i, rad, a in zip(row[first].tolist(), ids[first].tolist(), radius[first].tolist(), atom[first].tolist()):
        out[r][i] = (rad, a)
    return out


def _before_the_kernels(molecules, params: EcfpParams, strict: bool, progress) -> EcfpResult | None:
    """A small first call while the kernels are not compiled yet: RDKit's own Morgan generator, while
    helper processes compile the kernels (``None``: take the kernels).

    The engine's ids are RDKit's, bit for bit (its parity tests use this very generator as the oracle),
    and parsing, validity and the size limits are the engine's own, so the result is the one the kernels
    give; a first ``ecfp()`` on a few SMILES then takes about a second instead of the compile's several.
    Only SMILES text without chirality or provenance takes this route (Mol objects, chirality and
    environments need the engine's own handling).
    """
    if not _kernels_missing():
        return None
    if not hasattr(molecules, "__len__") or len(molecules) > FIRST_CALL_MAX:
        return None  # a large batch is classified once, by the kernels' route; a generator is not used up
    items, errors, mols, text_rows = parse.classify(molecules)
    n = len(items)
    if mols or n > FIRST_CALL_MAX:
        return None
    _jit.ensure_helpers()
    parsed, problems = parse.parse_in_process("smiles", items, text_rows)
    errors.update(problems)
    for i, mol in parsed.items():
        problem = parse.size_problem(mol)
        if problem is not None:
            errors[i] = problem
    valid = np.zeros(n, dtype=bool)
    for i in parsed:
        valid[i] = i not in errors
    err = reasons(n, errors, valid)
    if strict and not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        raise InvalidMoleculeError(f"row {i}: {err[i]}")
    generator = _rdkit_generator(params)
    indptr = np.zeros(n + 1, dtype=np.int64)
    ids: list[int] = []
    counts: list[int] = []
    for i in range(n):
        if valid[i]:
            row = generator.GetSparseCountFingerprint(parsed[i]).GetNonzeroElements()
            for key in sorted(row):
                ids.append(key)
                counts.append(row[key])
        indptr[i + 1] = len(ids)
    if progress is not None:
        progress(n)
    return EcfpResult(
        indptr,
        np.asarray(ids, dtype=np.uint32),
        np.asarray(counts, dtype=np.uint32),
        valid,
        err,
        params,
        None,
        from_engine=True,
    )


def _rdkit_generator(params: EcfpParams):
    """RDKit's Morgan generator for ``params`` (chirality off), as the parity tests build it."""
    from rdkit.Chem import rdFingerprintGenerator as rfg

    kwargs: dict = dict(
        radius=params.radius,
        includeChirality=False,
        includeRedundantEnvironments=params.redundant_environments,
        useBondTypes=params.bond_types,
    )
    if params.invariants == "fcfp":
        kwargs["atomInvariantsGenerator"] = rfg.GetMorganFeatureAtomInvGen()
    elif not params.ring_membership:
        # GetMorganGenerator(includeRingMembership=False) is ignored by RDKit: say it with the invariants
        kwargs["atomInvariantsGenerator"] = rfg.GetMorganAtomInvGen(False)
    return rfg.GetMorganGenerator(**kwargs)


def _fingerprint_chunk(flat: Flattened, params: EcfpParams, provenance: bool, threads: int) -> EcfpResult:
    env = None
    if provenance:
        env = ids_from_graph(flat.graph, params, provenance=True, threads=threads)
        indptr, ids, counts = _counts_from_envs(env)
    else:
        indptr, ids, counts = ids_from_graph(flat.graph, params, threads=threads)
    return EcfpResult(indptr, ids, counts, flat.valid, flat.errors, params, env, from_engine=True, fast=flat.fast)


def concat_results(parts: list[EcfpResult], params: EcfpParams) -> EcfpResult:
    """Concatenate row-chunk results (row order kept); each part from the engine or :func:`checked_result`."""
    if not parts:
        z = np.zeros(0, dtype=np.uint32)
        return EcfpResult(
            np.zeros(1, dtype=np.int64),
            z,
            z.copy(),
            np.zeros(0, dtype=bool),
            np.zeros(0, dtype=object),
            params,
            from_engine=True,
        )
    env = None
    if parts[0].environments is not None:
        envs = [p.environments for p in parts if p.environments is not None]
        env = Environments(
            concat_ptr([e.indptr for e in envs]),
            np.concatenate([e.ids for e in envs]),
            np.concatenate([e.atom for e in envs]),
            np.concatenate([e.radius for e in envs]),
        )
    smiles = None if parts[0].smiles is None else np.concatenate([p.smiles for p in parts])
    fast = None
    if any(p.fast is not None for p in parts):
        fast = np.concatenate([p.fast if p.fast is not None else np.zeros(len(p), dtype=bool) for p in parts])
    return EcfpResult(
        concat_ptr([p.indptr for p in parts]),
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.errors for p in parts]),
        params,
        env,
        smiles,
        from_engine=True,
        fast=fast,
    )


def _counts_from_envs(env: Environments):
    n = env.indptr.shape[0] - 1
    rows = row_of(env.indptr)
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
