"""Fit and transform on a Dask cluster: partitioned data in, a vocabulary or partitioned Parquet out.

Fitting Sort & Slice over a corpus is a map-reduce: every partition's molecules
become a *prevalence state* on a worker (ids ascending + how many molecules
contain each, the engine's ``document_frequency``), the states are merged
tree-wise on the workers (``merge_prevalence``, ``split_every`` at a time), and
only the merged state — one entry per distinct id, never per-molecule ids —
reaches the client, which ranks it exactly as :meth:`SortSlice.fit` does
(:meth:`SortSlice.from_prevalence`).  The result is identical to fitting on all
molecules on one machine, whatever the partitioning.

Transforming writes one Parquet file per input partition, on the workers, with
the columns and key-value metadata of ``sortslice transform`` (the CLI's own
writer is used), named, recorded and checked as the CLI's one-machine folders of
parts are (:mod:`sortslice.io.parts`): the two write the same bytes.

A lost worker changes nothing.  Tasks are pure and idempotent: a part is written
under its final name through a temporary file beside it and ``os.replace``, so
it is complete or absent, and a task Dask runs again (its worker died, or its
result was lost with the worker's memory) writes the same bytes over it.  Every
prevalence state says which partitions it counts and a merge refuses two states
that share one, so a partition computed twice is counted once — the fit is
checked to cover every partition exactly once.  An interrupted or failed
transform leaves its complete parts; ``resume=True`` checks them (on the
workers) and writes only the others.

Inputs are a file, a directory, a glob or a list of them (CSV/TSV, ``.smi``, SDF,
Parquet, optionally ``.gz``; one partition per file, read in ``chunk_size``
pieces so worker memory is bounded), or a Dask DataFrame, Series or Bag of
SMILES (one partition per Dask partition).  Workers must see the same files
and the output folder (a shared filesystem).

Dask is an optional dependency (``pip install sortslice[dask]``); ``import
sortslice`` never imports it.  Parsing and the kernels run single-threaded in
each task: run one worker process per core with one thread each
(``LocalCluster(n_workers=cores, threads_per_worker=1)``), since RDKit parsing
holds the GIL.
"""

from __future__ import annotations

import os
import time
import uuid

import dask

from . import dask_tasks as work
from .dask_runs import FitSummary, TransformSummary, compute, connect, run_with_bar
from .dask_tasks import DoubleCountError
from .engine.config import DEFAULT_CHUNK_SIZE
from .engine.featurisers import HashFold, SortSlice
from .io.errors import InputError
from .io.parts import list_input_files, part_name

__all__ = [
    "DoubleCountError",
    "FitSummary",
    "InputError",
    "TransformSummary",
    "connect",
    "fit_partitioned",
    "list_input_files",
    "transform_partitioned",
]

#: prevalence states merged per reduction task
DEFAULT_SPLIT_EVERY = 8
_ERRORS = ("null", "skip", "strict")


# ============================================================================ inputs
def _source(data, read: work.Read) -> work.Source:
    """Partitions of ``data``, checking on the client what can be checked before any work starts."""
    dd = _dask_collections()
    if dd.get("frame") is not None and isinstance(data, dd["frame"]):
        from .io.sniff import pick_smiles_column

        names = [str(c) for c in data.columns]
        col = pick_smiles_column(names, read.smiles_column, "the Dask DataFrame")
        for c in read.carry:
            if c not in names:
                raise InputError(f"the Dask DataFrame: no column {c!r} (columns: {', '.join(names)})")
        types = _arrow_types(data._meta, read.carry)
        parts = data.to_delayed()
        return work.Source(parts, [f"partition {i}" for i in range(len(parts))], "frame", col, types)
    if dd.get("series") is not None and isinstance(data, dd["series"]):
        if read.carry:
            raise InputError("a Dask Series has no other columns to carry: pass a DataFrame for id_column/keep")
        parts = data.to_delayed()
        return work.Source(parts, [f"partition {i}" for i in range(len(parts))], "series")
    if dd.get("bag") is not None and isinstance(data, dd["bag"]):
        if read.carry:
            raise InputError("a Dask Bag has no columns to carry: pass a DataFrame for id_column/keep")
        parts = data.to_delayed()
        return work.Source(parts, [f"partition {i}" for i in range(len(parts))], "bag")
    files = list_input_files(data)
    # fail before any work when the first file cannot be read as asked (columns, format)
    work.open_file(work.FileSpec(files[0]), read).source.close()
    return work.Source([work.FileSpec(f) for f in files], files, "files")


def _dask_collections() -> dict:
    out = {}
    try:
        import dask.bag as db

        out["bag"] = db.Bag
    except ImportError:  # pragma: no cover - part of dask itself
        pass
    try:  # needs pandas: only when the caller has Dask DataFrames at all
        import dask.dataframe as ddf

        out["frame"], out["series"] = ddf.DataFrame, ddf.Series
    except ImportError:
        pass
    return out


def _arrow_types(meta, columns) -> dict:
    import pyarrow as pa

    if not columns:
        return {}
    schema = pa.Schema.from_pandas(meta[list(columns)], preserve_index=False)
    return {c: schema.field(c).type for c in columns}


def _source_for_task(source: work.Source) -> work.Source:
    """What a task needs to know of the source (not the Dask partitions themselves)."""
    return work.Source([], source.labels, source.kind, source.smiles_column, source.carried_types)


# ============================================================================== fit
def _tree_reduce(leaves: list, split_every: int):
    level = leaves
    depth = 0
    while len(level) > 1:
        level = [
            dask.delayed(work.merge_states, pure=True)(
                *level[i : i + split_every], dask_key_name=f"sortslice-merge-{depth}-{i}-{uuid.uuid4().hex}"
            )
            for i in range(0, len(level), split_every)
        ]
        depth += 1
    return level[0]


def fit_partitioned(
    featuriser,
    data,
    *,
    smiles_column: str | None = None,
    input_format: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    split_every: int = DEFAULT_SPLIT_EVERY,
    client=None,
    examples: bool = True,
    return_summary: bool = False,
    progress: bool = False,
):
    """Fit an unsupervised featuriser over a partitioned data set on a Dask cluster.

    Parameters
    ----------
    featuriser
        An unfitted :class:`~sortslice.SortSlice` (its parameters are used; it is
        not modified) or :class:`~sortslice.HashFold` (nothing to learn).
        Supervised featurisers (MIM, Filtering) need every molecule and label at
        once and are not supported.
    data
        A file, directory, glob or list of them (one partition per file), or a
        Dask DataFrame (``smiles_column``), Series or Bag of SMILES.
    smiles_column, input_format
        As the CLI's ``--smiles-column`` / ``--input-format``.
    chunk_size
        Molecules fingerprinted at a time inside a task (bounds worker memory).
    split_every
        Prevalence states merged per reduction task.
    client
        A ``distributed.Client``; ``None`` uses Dask's current scheduler.
    examples
        Also find an example environment per vocabulary column (for ``explain``
        and ``draw``): the first molecule in data order containing each id, as
        ``fit`` on one machine records it.  Partitions are searched one per worker
        at a time until all are found (on real corpora, the first few hundred
        molecules of the first partitions).
    return_summary
        Return ``(featuriser, FitSummary)`` instead of the featuriser.
    progress
        Show a bar of finished partitions on stderr.

    Returns
    -------
    A new fitted featuriser equal to ``featuriser.fit(all molecules)``.

    Examples
    --------
    >>> import dask.bag as db, sortslice
    >>> from sortslice.dask import fit_partitioned
    >>> smiles = db.from_sequence(["CCO", "CCN", "CCC", "c1ccccc1"], npartitions=2)
    >>> ss = fit_partitioned(sortslice.SortSlice(length=4, radius=1), smiles)
    >>> ss.vocabulary_.tolist() == sortslice.SortSlice(length=4, radius=1).fit(
    ...     ["CCO", "CCN", "CCC", "c1ccccc1"]).vocabulary_.tolist()
    True
    """
    started = time.perf_counter()
    if isinstance(featuriser, HashFold):
        model = HashFold(**featuriser.get_params()).fit()
        summary = FitSummary(0, 0, 0, None, 0, time.perf_counter() - started)
        return (model, summary) if return_summary else model
    if not isinstance(featuriser, SortSlice):
        raise TypeError(
            f"{type(featuriser).__name__} cannot be fitted partition by partition: "
            f"only unsupervised featurisers (SortSlice, HashFold) can"
        )
    params = featuriser.get_params()
    SortSlice(**params)._check_length()
    read = work.Read(smiles_column=smiles_column, input_format=input_format, chunk_size=int(chunk_size))
    source = _source(data, read)
    if not source.parts:
        raise InputError("the data set has no partitions")
    task_source = _source_for_task(source)
    ecfp_params = featuriser.ecfp_params.to_dict()
    token = uuid.uuid4().hex
    leaves = [
        dask.delayed(work.partition_state, pure=True)(
            part,
            task_source,
            read,
            i,
            ecfp_params,
            bool(featuriser.strict),
            dask_key_name=f"sortslice-prevalence-{i}-{token}",
        )
        for i, part in enumerate(source.parts)
    ]
    if progress:
        # the partition tasks first, with the bar; the reduction then runs on their states where they are
        leaves = run_with_bar(client, leaves, "prevalence")
    (state,) = compute(client, _tree_reduce(leaves, max(2, int(split_every))))
    if state.parts != tuple(range(len(source.parts))):
        missing = sorted(set(range(len(source.parts))) - set(state.parts))
        raise DoubleCountError(
            f"the merged prevalence covers partitions {_ranges(state.parts)}, not each of the "
            f"{len(source.parts)} once (missing: {_ranges(missing)})"
        )
    where = source.labels[0] if len(source.labels) == 1 else f"{len(source.labels)} partitions"
    if state.rows == 0:
        raise InputError(f"{where}: no molecules to fit on")
    if state.n_molecules == 0:
        raise InputError(f"{where}: none of the {state.rows:,} molecules is valid; first: {state.first_problem[1]}")
    model = SortSlice.from_prevalence(state.ids, state.prevalence, state.n_molecules, state.n_invalid, **params)
    if examples:
        model.set_examples(_find_examples(client, source, task_source, read, model.vocabulary_, params))
    summary = FitSummary(
        state.rows,
        state.n_molecules,
        state.n_invalid,
        None if state.first_problem is None else state.first_problem[1],
        len(source.parts),
        time.perf_counter() - started,
    )
    return (model, summary) if return_summary else model


def _ranges(indices) -> str:
    indices = list(indices)
    if not indices:
        return "none"
    out, first, last = [], indices[0], indices[0]
    for i in indices[1:] + [None]:
        if i is not None and i == last + 1:
            last = i
            continue
        out.append(str(first) if first == last else f"{first}-{last}")
        if i is not None:
            first = last = i
    return ", ".join(out)


def _find_examples(client, source, task_source, read, vocabulary, params) -> dict:
    """Example environments of the vocabulary: the first molecule in data order that has each id.

    Partitions are searched a window at a time (one per worker, in parallel) and the
    results merged in partition order, which keeps "first in data order" exact: a
    task stops early only once it found every id it was asked for.  On real corpora
    the first window settles everything after a few hundred molecules per task.
    """
    found: dict = {}
    if not len(vocabulary):
        return found
    window = 2
    if client is not None:
        window = max(1, sum(client.nthreads().values()))
    token = uuid.uuid4().hex
    for first in range(0, len(source.parts), window):
        batch = range(first, min(first + window, len(source.parts)))
        tasks = [
            dask.delayed(work.partition_examples, pure=True)(
                source.parts[i],
                task_source,
                read,
                i,
                vocabulary,
                set(found),
                params,
                dask_key_name=f"sortslice-examples-{i}-{token}",
            )
            for i in batch
        ]
        for more in compute(client, *tasks):
            for i, example in more.items():
                found.setdefault(i, example)
        if len(found) == len(vocabulary):
            break
    return found


# ======================================================================== transform
def _light(model):
    """The fitted featuriser without its full training state (workers need only the vocabulary)."""
    from dataclasses import replace

    from .engine.featurisers import from_state

    state = replace(model.fitted_state, prevalence_ids=None, prevalence_counts=None, examples=())
    # Parquet rows are dense fixed-size lists
    return from_state(state).set_params(sparse=False, n_jobs=model.n_jobs, strict=model.strict)


def transform_partitioned(
    featuriser,
    data,
    output_dir,
    *,
    smiles_column: str | None = None,
    input_format: str | None = None,
    id_column: str | None = None,
    keep=(),
    errors: str = "null",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    client=None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    hint: str = "pass resume=True",
) -> TransformSummary:
    """Fingerprint a partitioned data set into a folder of Parquet files, one per input partition.

    Each file has the columns and key-value metadata of ``sortslice transform``:
    ``id_column`` and ``keep`` columns first, ``fingerprint`` (fixed-size list of
    ``length`` entries; null for invalid molecules) and, with ``errors="null"``,
    ``error`` (why a row is invalid).  Files are named ``part-00000.parquet``,
    ... in partition order, so reading the folder gives the input's row order.
    Each part's footer records the input it was made from (``sortslice.part``:
    the file's path, size and modification time, its rows and what was written),
    as the CLI's one-machine ``sortslice transform IN -o DIR/`` writes them: the
    same input gives the same bytes either way.

    Parameters
    ----------
    featuriser
        A fitted featuriser (e.g. from :func:`fit_partitioned` or ``sortslice.load``).
    data
        As for :func:`fit_partitioned`.
    output_dir
        The folder to write (created if needed).  It must be empty, unless
        ``resume`` or ``overwrite``.
    smiles_column, input_format
        As the CLI's ``--smiles-column`` / ``--input-format`` (``None``: the one column named like
        ``smiles``; the format from the file's extension).
    id_column
        A column naming each row: carried first into the output and used in messages.
    keep
        Further input columns to carry into the output, in order.
    errors
        ``"null"`` (keep invalid rows with a reason), ``"skip"`` (leave them out)
        or ``"strict"`` (fail at the first; that partition's part is not written).
    chunk_size
        Molecules fingerprinted at a time inside a task (bounds worker memory).
    client
        A ``distributed.Client``; ``None`` uses Dask's current scheduler.
    overwrite
        Remove the folder's parts (and temporary files) first.
    resume
        Complete an interrupted run: the folder may hold parts (and the temporary
        files of killed tasks, which are removed); each is checked on the workers
        and kept only if it is complete and was made by this featuriser, with
        these options, from the same input file (unchanged size and modification
        time, same row count); the others are written again.  File inputs only.
    progress
        Show a bar of finished partitions on stderr (starting from the kept ones).
    hint
        How the error for a non-empty folder says to resume (the CLI: ``--resume``).

    Returns
    -------
    TransformSummary
        Paths written (in partition order) and row tallies.

    Examples
    --------
    >>> import tempfile, dask.bag as db, pyarrow.parquet as pq, sortslice
    >>> from sortslice.dask import transform_partitioned
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> smiles = db.from_sequence(["CCO", "CO", "xx"], npartitions=2)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = transform_partitioned(ss, smiles, folder)
    ...     tables = [pq.read_table(p) for p in out.paths]
    >>> [len(t) for t in tables], out.invalid
    ([2, 1], 1)
    >>> tables[0].column("fingerprint").to_pylist()
    [[1, 1, 1, 1], [0, 1, 0, 0]]
    >>> tables[1].column("error").to_pylist()
    ['invalid SMILES: syntax error']
    """
    from .io.metadata import output_metadata
    from .io.parts import open_folder, remove_temporary, tallies
    from .io.sinks import RESERVED_COLUMNS, Fingerprints

    started = time.perf_counter()
    if errors not in _ERRORS:
        raise ValueError(f"errors must be one of {', '.join(_ERRORS)}, got {errors!r}")
    if overwrite and resume:
        raise ValueError("give overwrite or resume, not both")
    carry = tuple(dict.fromkeys(([id_column] if id_column else []) + list(keep)))
    for c in carry:
        if c in RESERVED_COLUMNS:
            raise InputError(f"cannot carry a column named {c!r}: the output has a {c!r} column of its own")
    read = work.Read(
        smiles_column=smiles_column,
        input_format=input_format,
        id_column=id_column,
        carry=carry,
        chunk_size=int(chunk_size),
    )
    output_dir = os.fspath(output_dir)
    source = _source(data, read)
    if not source.parts:
        raise InputError("the data set has no partitions")
    existing = open_folder(output_dir, resume=resume, overwrite=overwrite, hint=hint)
    if existing and source.kind != "files":
        raise InputError(
            f"{output_dir} holds parts, and a Dask {source.kind} cannot resume: its partitions keep no "
            f"record of what they held (write the data set to files, or start in an empty folder)"
        )
    task_source = _source_for_task(source)
    ecfp_params = featuriser.ecfp_params.to_dict()
    # the same metadata and payload the CLI writes (its helpers, so the two cannot drift)
    metadata = output_metadata("transform", ecfp_params, featuriser)
    payload = Fingerprints(int(featuriser.length), featuriser.output_dtype, bool(featuriser.counts))
    n = len(source.parts)
    names = [part_name(i, n) for i in range(n)]
    paths = [os.path.join(output_dir, name) for name in names]
    token = uuid.uuid4().hex
    records: dict = {}
    notes = []
    for name in existing:
        if name not in set(names):
            os.unlink(os.path.join(output_dir, name))
            notes.append(f"removed {name}: not a part of this run (it makes {n:,} parts)")
    candidates = [i for i in range(n) if names[i] in existing]
    if candidates:
        checks = [
            dask.delayed(work.check_partition, pure=True)(
                source.parts[i], read, paths[i], payload, errors, metadata, dask_key_name=f"sortslice-check-{i}-{token}"
            )
            for i in candidates
        ]
        for i, (record, why) in zip(candidates, compute(client, *checks)):
            if record is None:
                notes.append(f"{names[i]} is written again: {why}")
            else:
                records[i] = record
    kept = len(records)
    todo = [i for i in range(n) if i not in records]
    model = dask.delayed(_light(featuriser), pure=True, name=f"sortslice-model-{token}")
    tasks = [
        dask.delayed(work.write_partition, pure=True)(
            source.parts[i],
            task_source,
            read,
            i,
            model,
            paths[i],
            metadata,
            payload,
            errors,
            dask_key_name=f"sortslice-write-{i}-{token}",
        )
        for i in todo
    ]
    for i, record in zip(todo, compute(client, *tasks, progress="transform" if progress else None, done=kept)):
        records[i] = record
    # the temporary files of tasks whose worker was killed mid-write (after a failure other tasks may still
    # be writing theirs: those are left to a resumed run, which removes them first)
    remove_temporary(output_dir)
    total = tallies(records[i] for i in range(n))
    return TransformSummary(
        paths,
        total["rows"],
        total["written"],
        total["invalid"],
        total["first_problem"],
        time.perf_counter() - started,
        kept,
        tuple(notes),
    )
