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
writer is used).  Parts are written into a staging folder inside the output
folder (each file through a temporary file and ``os.replace``) and moved into
place only when every partition succeeded, so a failed or interrupted job never
leaves a partial data set that looks complete; a task whose worker dies is
simply run again by Dask (tasks are pure: same input, same bytes).

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

import contextlib
import glob
import itertools
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

import dask

from .engine.config import DEFAULT_CHUNK_SIZE
from .engine.featurisers import HashFold, SortSlice
from .engine.fingerprint import InvalidMoleculeError, ecfp
from .engine.pooling import document_frequency, merge_prevalence

__all__ = ["FitSummary", "InputError", "TransformSummary", "connect", "fit_partitioned", "list_input_files",
           "transform_partitioned"]

#: molecules read and fingerprinted at a time inside a task (the CLI's default chunk)
#: prevalence states merged per reduction task
DEFAULT_SPLIT_EVERY = 8
_INPUT_SUFFIXES = (".csv", ".tsv", ".tab", ".smi", ".smiles", ".ism", ".can", ".sdf", ".sd", ".parquet", ".pq")
_ERRORS = ("null", "skip", "strict")


class InputError(ValueError):
    """An input or output the job cannot use (one line naming the file or partition)."""


# ============================================================================ inputs
@dataclass(frozen=True)
class _Read:
    """How a task reads its partition (everything but the partition itself)."""

    smiles_column: str | None = None
    input_format: str | None = None
    id_column: str | None = None
    carry: tuple = ()
    chunk_size: int = DEFAULT_CHUNK_SIZE


@dataclass(frozen=True)
class _File:
    """A file partition: read on the worker, so the client never touches the molecules."""

    path: str


@dataclass
class _Opened:
    chunks: object                 # iterator of sortslice.cli.io.Chunk
    kind: str                      # "smiles" or "molblock"
    carried_types: dict
    label: str
    close: object = None


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def list_input_files(paths) -> list[str]:
    """The files a path, directory, glob or list of them stands for, in order (one partition each).

    A directory means the molecule files directly inside it (by extension,
    ``.gz`` included; hidden files skipped), sorted by name; a glob is sorted by
    name; a list keeps its order.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.smi", "a.csv.gz", "notes.txt", ".hidden.smi"):
    ...         _ = (pathlib.Path(d) / name).write_text("")
    ...     [pathlib.Path(p).name for p in list_input_files(d)]
    ['a.csv.gz', 'b.smi']
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = []
            for name in sorted(os.listdir(p)):
                base = name[:-3] if name.lower().endswith(".gz") else name
                if not name.startswith(".") and base.lower().endswith(_INPUT_SUFFIXES):
                    found.append(os.path.join(p, name))
            if not found:
                raise InputError(f"{p}: no molecule files in this directory (by extension: "
                                 f"{', '.join(_INPUT_SUFFIXES)}, optionally .gz)")
            out += found
        elif _has_glob(p):
            found = sorted(f for f in glob.glob(p) if os.path.isfile(f))
            if not found:
                raise InputError(f"{p}: no files match")
            out += found
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise InputError(f"cannot read {p}: No such file or directory")
    return out


def _cli_error(exc) -> InputError:
    return InputError(getattr(exc, "message", str(exc)))


def _open_file(part: _File, read: _Read) -> _Opened:
    import click

    from .cli.io import open_input

    try:
        reader = open_input(part.path, input_format=read.input_format, smiles_column=read.smiles_column,
                            carry=list(read.carry), id_column=read.id_column, chunk_size=read.chunk_size)
    except click.ClickException as exc:
        raise _cli_error(exc) from None

    def chunks():
        try:
            yield from reader
        except click.ClickException as exc:
            raise _cli_error(exc) from None

    return _Opened(chunks(), reader.kind, reader.carried_types(), part.path, reader.source.close)


def _open_frame(frame, read: _Read, smiles_column: str, carried_types: dict, label: str) -> _Opened:
    """A pandas DataFrame (or Series) partition, in ``chunk_size`` slices."""
    import pyarrow as pa

    from .cli.io import Chunk

    def chunks():
        n = len(frame)
        for start in range(0, n, read.chunk_size):
            piece = frame.iloc[start:start + read.chunk_size]
            col = piece if not hasattr(piece, "columns") else piece[smiles_column]
            # an empty cell is an empty SMILES, as the CLI reads files
            molecules = ["" if gap else str(m) for m, gap in zip(col.tolist(), col.isna().tolist())]
            columns = {c: pa.Array.from_pandas(piece[c], type=t) for c, t in carried_types.items()}
            names = None
            if read.id_column is not None:
                names = piece[read.id_column].tolist()
            yield Chunk(start, molecules, columns, names)

    return _Opened(chunks(), "smiles", carried_types, label)


def _open_items(items, read: _Read, label: str) -> _Opened:
    """A Bag partition: any iterable of SMILES or RDKit Mols, consumed ``chunk_size`` at a time."""
    from .cli.io import Chunk

    def chunks():
        it = iter(items)
        start = 0
        while True:
            molecules = list(itertools.islice(it, read.chunk_size))
            if not molecules:
                return
            yield Chunk(start, molecules, {}, None)
            start += len(molecules)

    return _Opened(chunks(), "smiles", {}, label)


@dataclass(frozen=True)
class _Source:
    """A partitioned data set as the client sees it: one entry (file spec or Dask delayed) per partition."""

    parts: list
    labels: list
    kind: str                       # "files", "frame", "series" or "bag"
    smiles_column: str | None = None
    carried_types: dict = field(default_factory=dict)


def _source(data, read: _Read) -> _Source:
    """Partitions of ``data``, checking on the client what can be checked before any work starts."""
    import click

    dd = _dask_collections()
    if dd.get("frame") is not None and isinstance(data, dd["frame"]):
        from .cli.io import pick_smiles_column

        names = [str(c) for c in data.columns]
        try:
            col = pick_smiles_column(names, read.smiles_column, "the Dask DataFrame")
            for c in read.carry:
                if c not in names:
                    raise click.ClickException(f"the Dask DataFrame: no column {c!r} (columns: {', '.join(names)})")
        except click.ClickException as exc:
            raise _cli_error(exc) from None
        types = _arrow_types(data._meta, read.carry)
        parts = data.to_delayed()
        return _Source(parts, [f"partition {i}" for i in range(len(parts))], "frame", col, types)
    if dd.get("series") is not None and isinstance(data, dd["series"]):
        if read.carry:
            raise InputError("a Dask Series has no other columns to carry: pass a DataFrame for id_column/keep")
        parts = data.to_delayed()
        return _Source(parts, [f"partition {i}" for i in range(len(parts))], "series")
    if dd.get("bag") is not None and isinstance(data, dd["bag"]):
        if read.carry:
            raise InputError("a Dask Bag has no columns to carry: pass a DataFrame for id_column/keep")
        parts = data.to_delayed()
        return _Source(parts, [f"partition {i}" for i in range(len(parts))], "bag")
    files = list_input_files(data)
    # fail before any work when the first file cannot be read as asked (columns, format)
    opened = _open_file(_File(files[0]), read)
    if opened.close is not None:
        opened.close()
    return _Source([_File(f) for f in files], files, "files")


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


def _open(part, source: _Source, read: _Read, index: int) -> _Opened:
    """On the worker: the partition's chunks, whatever kind of input it came from."""
    label = source.labels[index]
    if source.kind == "files":
        return _open_file(part, read)
    if source.kind in ("frame", "series"):
        return _open_frame(part, read, source.smiles_column, source.carried_types, label)
    return _open_items(part, read, label)


def _row_label(opened: _Opened, chunk, i: int) -> str:
    text = f"{opened.label}: row {chunk.start + i + 1}"
    if chunk.names is not None and chunk.names[i] not in (None, ""):
        text += f" ({chunk.names[i]})"
    return text


def _source_for_task(source: _Source) -> _Source:
    """What a task needs to know of the source (not the Dask partitions themselves)."""
    return _Source([], source.labels, source.kind, source.smiles_column, source.carried_types)


# ============================================================================== fit
@dataclass
class _State:
    """A prevalence state plus the tallies that go with it (what tasks return and merge)."""

    ids: np.ndarray
    prevalence: np.ndarray
    n_molecules: int
    n_invalid: int
    rows: int
    first_problem: tuple | None = None   # (partition index, message) of the earliest invalid molecule


def _partition_state(part, source: _Source, read: _Read, index: int, ecfp_params: dict, strict: bool) -> _State:
    """One partition's prevalence state (runs on a worker)."""
    opened = _open(part, source, read, index)
    ids = np.zeros(0, dtype=np.uint32)
    prevalence = np.zeros(0, dtype=np.int64)
    n_valid = n_invalid = rows = 0
    first = None
    try:
        for chunk in opened.chunks:
            # one process, one thread: the worker process is the unit of parallelism
            fp = ecfp(chunk.molecules, **ecfp_params, n_jobs=1, kind=opened.kind)
            bad = np.flatnonzero(~fp.valid)
            if bad.size and (strict or first is None):
                message = f"{_row_label(opened, chunk, int(bad[0]))}: {fp.errors[int(bad[0])]}"
                if strict:
                    raise InvalidMoleculeError(message)
                first = (index, message)
            chunk_ids, chunk_prev = document_frequency(fp.indptr, fp.ids, threads=1)
            ids, prevalence = merge_prevalence(ids, prevalence, chunk_ids, chunk_prev)
            prevalence = prevalence.reshape(-1)
            n_valid += int(fp.valid.sum())
            n_invalid += int(bad.size)
            rows += len(chunk)
    finally:
        if opened.close is not None:
            opened.close()
    return _State(ids, prevalence, n_valid, n_invalid, rows, first)


def _merge_states(*states: _State) -> _State:
    """Sum prevalence states (runs on a worker, ``split_every`` at a time)."""
    ids, prevalence = states[0].ids, states[0].prevalence
    for s in states[1:]:
        ids, prevalence = merge_prevalence(ids, prevalence, s.ids, s.prevalence)
        prevalence = prevalence.reshape(-1)
    problems = [s.first_problem for s in states if s.first_problem is not None]
    return _State(ids, prevalence, sum(s.n_molecules for s in states), sum(s.n_invalid for s in states),
                  sum(s.rows for s in states), min(problems) if problems else None)


def _tree_reduce(leaves: list, split_every: int):
    level = leaves
    depth = 0
    while len(level) > 1:
        level = [dask.delayed(_merge_states, pure=True)(*level[i:i + split_every],
                                                        dask_key_name=f"sortslice-merge-{depth}-{i}-{uuid.uuid4().hex}")
                 for i in range(0, len(level), split_every)]
        depth += 1
    return level[0]


def _partition_examples(part, source: _Source, read: _Read, index: int, vocabulary: np.ndarray, found: set,
                        params: dict) -> dict:
    """Example environments (first molecule of the partition containing each id not in ``found``).

    Stops reading as soon as every wanted id has one, so on real corpora this
    reads the first chunk of the first partition and no more.
    """
    model = SortSlice.from_prevalence(np.sort(vocabulary), np.ones(len(vocabulary), dtype=np.int64), 0,
                                      **{**params, "length": max(1, len(vocabulary)), "n_jobs": 1})
    # ids already explained by an earlier partition are not looked for again
    model._examples = dict.fromkeys(found)
    wanted = [int(i) for i in vocabulary if int(i) not in found]
    opened = _open(part, source, read, index)
    try:
        if opened.kind == "molblock":
            from .cli.main import _fit_molecules

            batches = (_fit_molecules(chunk, opened.kind) for chunk in opened.chunks)
        else:
            batches = (chunk.molecules for chunk in opened.chunks)
        model._scan_examples(batches)
    finally:
        if opened.close is not None:
            opened.close()
    return {i: model._examples[i] for i in wanted if model._examples.get(i) is not None}


@dataclass(frozen=True)
class FitSummary:
    """What a distributed fit saw (the CLI prints it)."""

    rows: int
    n_molecules: int
    n_invalid: int
    first_problem: str | None
    n_partitions: int
    seconds: float


def fit_partitioned(featuriser, data, *, smiles_column: str | None = None, input_format: str | None = None,
                    chunk_size: int = DEFAULT_CHUNK_SIZE, split_every: int = DEFAULT_SPLIT_EVERY, client=None,
                    examples: bool = True, return_summary: bool = False, progress: bool = False):
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
        raise TypeError(f"{type(featuriser).__name__} cannot be fitted partition by partition: "
                        f"only unsupervised featurisers (SortSlice, HashFold) can")
    params = featuriser.get_params()
    SortSlice(**params)._check_length()
    read = _Read(smiles_column=smiles_column, input_format=input_format, chunk_size=int(chunk_size))
    source = _source(data, read)
    if not source.parts:
        raise InputError("the data set has no partitions")
    task_source = _source_for_task(source)
    ecfp_params = featuriser.ecfp_params.to_dict()
    token = uuid.uuid4().hex
    leaves = [dask.delayed(_partition_state, pure=True)(part, task_source, read, i, ecfp_params,
                                                        bool(featuriser.strict),
                                                        dask_key_name=f"sortslice-prevalence-{i}-{token}")
              for i, part in enumerate(source.parts)]
    if progress:
        # the partition tasks first, with the bar; the reduction then runs on their states where they are
        leaves = _run_with_bar(client, leaves, "prevalence")
    (state,) = _compute(client, _tree_reduce(leaves, max(2, int(split_every))))
    where = source.labels[0] if len(source.labels) == 1 else f"{len(source.labels)} partitions"
    if state.rows == 0:
        raise InputError(f"{where}: no molecules to fit on")
    if state.n_molecules == 0:
        raise InputError(f"{where}: none of the {state.rows:,} molecules is valid; first: {state.first_problem[1]}")
    model = SortSlice.from_prevalence(state.ids, state.prevalence, state.n_molecules, state.n_invalid, **params)
    if examples:
        model._examples = _find_examples(client, source, task_source, read, model.vocabulary_, params)
    summary = FitSummary(state.rows, state.n_molecules, state.n_invalid,
                         None if state.first_problem is None else state.first_problem[1], len(source.parts),
                         time.perf_counter() - started)
    return (model, summary) if return_summary else model


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
        tasks = [dask.delayed(_partition_examples, pure=True)(source.parts[i], task_source, read, i, vocabulary,
                                                              set(found), params,
                                                              dask_key_name=f"sortslice-examples-{i}-{token}")
                 for i in batch]
        for more in _compute(client, *tasks):
            for i, example in more.items():
                found.setdefault(i, example)
        if len(found) == len(vocabulary):
            break
    return found


def _compute(client, *tasks, progress: str | None = None):
    """Results of ``tasks`` in order; with ``progress`` (a label), a bar of finished tasks on stderr."""
    if progress is not None:
        tasks = _run_with_bar(client, list(tasks), progress)
    if client is not None:
        return tuple(client.compute(list(tasks), sync=True))
    return dask.compute(*tasks)


def _default_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _run_with_bar(client, tasks: list, label: str) -> list:
    """Run ``tasks`` with a bar of finished tasks on stderr; returns delayed objects for their results.

    On a cluster the results stay on the workers (``persist``): a later graph built on
    them (the prevalence reduction) runs there without shipping states to the client.
    """
    import sys

    from tqdm import tqdm

    client = client if client is not None else _default_client()
    with tqdm(total=len(tasks), unit=" part", desc=label, file=sys.stderr, dynamic_ncols=True) as bar:
        if client is not None:
            from distributed import as_completed, futures_of

            persisted = client.persist(tasks)
            for _ in as_completed(futures_of(persisted)):
                bar.update(1)
            return persisted
        from dask.diagnostics import Callback

        keys = {t.key for t in tasks}

        class _Bar(Callback):
            def _posttask(self, key, result, dsk, state, id):
                if key in keys:
                    bar.update(1)

        with _Bar():
            return [dask.delayed(r, pure=True) for r in dask.compute(*tasks)]


# ======================================================================== transform
@dataclass(frozen=True)
class TransformSummary:
    """What a distributed transform wrote (the CLI prints the warning line from it)."""

    paths: list
    rows: int
    written: int
    invalid: int
    first_problem: str | None
    seconds: float

    def warning(self, consequence: str) -> str | None:
        if not self.invalid:
            return None
        return (f"Warning: {self.invalid:,} of {self.rows:,} molecules are invalid and {consequence}; "
                f"first: {self.first_problem}")


def _write_partition(part, source: _Source, read: _Read, index: int, model, path: str, metadata: dict,
                     payload, errors: str) -> dict:
    """Fingerprint one partition into ``path`` (runs on a worker; written atomically by the CLI's sink)."""
    import click

    from .cli.io import Part, open_output

    opened = _open(part, source, read, index)
    rows = written = invalid = 0
    first = None
    try:
        carried = {c: opened.carried_types[c] for c in read.carry}
        try:
            sink = open_output(path, "parquet", payload, carried, error_column=errors == "null",
                               metadata=metadata)
        except click.ClickException as exc:
            raise _cli_error(exc) from None
        try:
            for chunk in opened.chunks:
                fp = ecfp(chunk.molecules, **model.ecfp_params.to_dict(), n_jobs=1, kind=opened.kind)
                out = model.featurise(fp)
                bad = np.flatnonzero(~out.valid)
                if bad.size and first is None:
                    first = f"{_row_label(opened, chunk, int(bad[0]))}: {out.errors[int(bad[0])]}"
                    if errors == "strict":
                        raise InvalidMoleculeError(f"{first} (errors='strict': nothing was written)")
                piece = Part({c: chunk.columns[c] for c in read.carry}, out.valid, out.errors, X=out.X)
                if errors == "skip" and bad.size:
                    piece = piece.take(out.valid)
                sink.write(piece)
                rows += len(chunk)
                invalid += int(bad.size)
                written += len(piece)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    finally:
        if opened.close is not None:
            opened.close()
    return {"rows": rows, "written": written, "invalid": invalid, "first_problem": first}


def _part_name(i: int, n: int) -> str:
    return f"part-{i:0{max(5, len(str(n - 1)))}d}.parquet"


def _is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet") and name[5:-8].isdigit()


def _light(model):
    """The fitted featuriser without its full training state (workers need only the vocabulary)."""
    import copy

    light = copy.copy(model)
    for attr in ("state_ids_", "state_prevalence_", "_examples", "_table", "_single_state"):
        light.__dict__.pop(attr, None)
    light.sparse = False   # Parquet rows are dense fixed-size lists
    return light


def transform_partitioned(featuriser, data, output_dir, *, smiles_column: str | None = None,
                          input_format: str | None = None, id_column: str | None = None, keep=(),
                          errors: str = "null", chunk_size: int = DEFAULT_CHUNK_SIZE, client=None,
                          overwrite: bool = False, progress: bool = False) -> TransformSummary:
    """Fingerprint a partitioned data set into a folder of Parquet files, one per input partition.

    Each file has the columns and key-value metadata of ``sortslice transform``:
    ``id_column`` and ``keep`` columns first, ``fingerprint`` (fixed-size list of
    ``length`` entries; null for invalid molecules) and, with ``errors="null"``,
    ``error`` (why a row is invalid).  Files are named ``part-00000.parquet``,
    ... in partition order, so reading the folder gives the input's row order.

    Parameters
    ----------
    featuriser
        A fitted featuriser (e.g. from :func:`fit_partitioned` or ``sortslice.load``).
    data
        As for :func:`fit_partitioned`.
    output_dir
        The folder to write (created if needed).  It must hold no ``part-*.parquet``
        files unless ``overwrite=True`` (then the old parts are replaced and any
        left over from a run with more partitions are removed).
    errors
        ``"null"`` (keep invalid rows with a reason), ``"skip"`` (leave them out)
        or ``"strict"`` (fail at the first, writing nothing).
    client
        A ``distributed.Client``; ``None`` uses Dask's current scheduler.
    progress
        Show a bar of finished partitions on stderr.

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
    from .cli.io import Fingerprints
    from .cli.main import _metadata

    started = time.perf_counter()
    if errors not in _ERRORS:
        raise ValueError(f"errors must be one of {', '.join(_ERRORS)}, got {errors!r}")
    carry = tuple(dict.fromkeys(([id_column] if id_column else []) + list(keep)))
    from .cli.io import RESERVED_COLUMNS

    for c in carry:
        if c in RESERVED_COLUMNS:
            raise InputError(f"cannot carry a column named {c!r}: the output has a {c!r} column of its own")
    read = _Read(smiles_column=smiles_column, input_format=input_format, id_column=id_column, carry=carry,
                 chunk_size=int(chunk_size))
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise InputError(f"cannot write {output_dir}: it is a file, not a directory")
    os.makedirs(output_dir, exist_ok=True)
    old_parts = sorted(n for n in os.listdir(output_dir) if _is_part(n))
    if old_parts and not overwrite:
        raise InputError(f"{output_dir} already holds {len(old_parts)} part files ({old_parts[0]}, ...); "
                         f"choose another folder or overwrite")
    source = _source(data, read)
    if not source.parts:
        raise InputError("the data set has no partitions")
    task_source = _source_for_task(source)
    ecfp_params = featuriser.ecfp_params.to_dict()
    # the same metadata and payload the CLI writes (its helpers, so the two cannot drift)
    metadata = _metadata("transform", ecfp_params, featuriser)
    dtype = featuriser.featurise(ecfp([], **ecfp_params)).X.dtype
    payload = Fingerprints(int(featuriser.length), dtype, bool(featuriser.counts))
    n = len(source.parts)
    names = [_part_name(i, n) for i in range(n)]
    token = uuid.uuid4().hex
    staging = os.path.join(output_dir, f".sortslice-staging-{token[:12]}")
    os.makedirs(staging)
    try:
        model = dask.delayed(_light(featuriser), pure=True, name=f"sortslice-model-{token}")
        tasks = [dask.delayed(_write_partition, pure=True)(part, task_source, read, i, model,
                                                           os.path.join(staging, names[i]), metadata, payload,
                                                           errors, dask_key_name=f"sortslice-write-{i}-{token}")
                 for i, part in enumerate(source.parts)]
        results = _compute(client, *tasks, progress="transform" if progress else None)
        paths = []
        for name in names:
            target = os.path.join(output_dir, name)
            os.replace(os.path.join(staging, name), target)
            paths.append(target)
        for name in old_parts:
            if name not in set(names):
                os.unlink(os.path.join(output_dir, name))
    finally:
        # also removes the temporary files of tasks whose worker died mid-write
        shutil.rmtree(staging, ignore_errors=True)
    problems = [r["first_problem"] for r in results if r["first_problem"] is not None]
    return TransformSummary(paths, sum(r["rows"] for r in results), sum(r["written"] for r in results),
                            sum(r["invalid"] for r in results), problems[0] if problems else None,
                            time.perf_counter() - started)


# ========================================================================== clusters
@contextlib.contextmanager
def connect(scheduler: str | None = None, local_workers: int | None = None, **cluster_kwargs):
    """A ``distributed.Client``: to ``scheduler`` (an address), or to a new local cluster.

    The local cluster has ``local_workers`` worker processes (default: one per
    core) of one thread each — the right shape for RDKit parsing, which holds the
    GIL.  Both are closed on exit.

    Examples
    --------
    >>> from sortslice.dask import connect
    >>> with connect(local_workers=1, dashboard_address=None) as client:   # doctest: +SKIP
    ...     model = fit_partitioned(sortslice.SortSlice(), "data/*.parquet", client=client)
    """
    from distributed import Client, LocalCluster

    if scheduler is not None and local_workers is not None:
        raise ValueError("give a scheduler address or a number of local workers, not both")
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    from .engine.parallel import cpu_count

    kwargs = dict(n_workers=local_workers or cpu_count(), threads_per_worker=1, processes=True)
    kwargs.update(cluster_kwargs)
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        yield client
