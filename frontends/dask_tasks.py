"""What the Dask tasks of :mod:`sortslice.dask` run on the workers: a partition opened as a reader, its
prevalence state counted (:func:`sortslice.jobs.count_prevalence`), states merged, a part written
(:func:`sortslice.jobs.write_part`) or checked.  Nothing here imports Dask: the tasks are plain functions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .engine.config import DEFAULT_CHUNK_SIZE
from .engine.featurisers import SortSlice
from .engine.prevalence import merge_prevalence
from .io.memory import FrameReader, ItemsReader
from .io.readers import molecules_for_fit, open_input
from .jobs import Tally, computer, count_prevalence, write_part


@dataclass(frozen=True)
class Read:
    """How a task reads its partition (everything but the partition itself)."""

    smiles_column: str | None = None
    input_format: str | None = None
    id_column: str | None = None
    carry: tuple = ()
    chunk_size: int = DEFAULT_CHUNK_SIZE


@dataclass(frozen=True)
class FileSpec:
    """A file partition: read on the worker, so the client never touches the molecules."""

    path: str


def open_file(part: FileSpec, read: Read):
    # the readers' FileError is this module's InputError
    return open_input(
        part.path,
        input_format=read.input_format,
        smiles_column=read.smiles_column,
        carry=list(read.carry),
        id_column=read.id_column,
        chunk_size=read.chunk_size,
    )


@dataclass(frozen=True)
class Source:
    """A partitioned data set as the client sees it: one entry (file spec or Dask delayed) per partition."""

    parts: list
    labels: list
    kind: str  # "files", "frame", "series" or "bag"
    smiles_column: str | None = None
    carried_types: dict = field(default_factory=dict)


def open_partition(part, source: Source, read: Read, index: int):
    """On the worker: a reader of the partition's chunks, whatever kind of input it came from."""
    label = source.labels[index]
    if source.kind == "files":
        return open_file(part, read)
    if source.kind in ("frame", "series"):
        return FrameReader(
            part,
            label,
            smiles_column=source.smiles_column,
            carried_types=source.carried_types,
            id_column=read.id_column,
            chunk_size=read.chunk_size,
        )
    return ItemsReader(part, label, chunk_size=read.chunk_size)


@dataclass
class State:
    """A prevalence state plus the tallies that go with it (what tasks return and merge)."""

    ids: np.ndarray
    prevalence: np.ndarray
    n_molecules: int
    n_invalid: int
    rows: int
    first_problem: tuple | None = None  # (partition index, message) of the earliest invalid molecule
    parts: tuple = ()  # the partitions counted, ascending (each exactly once)


def partition_state(part, source: Source, read: Read, index: int, ecfp_params: dict, strict: bool) -> State:
    """One partition's prevalence state (runs on a worker: one process, one thread)."""
    reader = open_partition(part, source, read, index)
    label = source.labels[index]
    tally = Tally(strict_note="")
    try:
        state = count_prevalence(
            reader,
            reader.kind,
            ecfp_params,
            source=label,
            errors="strict" if strict else "null",
            tally=tally,
            jobs=1,
            threads=1,
        )
    finally:
        reader.source.close()
    first = None if tally.first_problem is None else (index, f"{label}: {tally.first_problem}")
    return State(state.ids, state.prevalence, state.n_molecules, state.n_invalid, tally.rows, first, (index,))


class DoubleCountError(RuntimeError):
    """A merge was given two prevalence states that count the same partition (never expected: a guard)."""


def merge_states(*states: State) -> State:
    """Sum prevalence states (runs on a worker, ``split_every`` at a time).

    Refuses states that share a partition: however often Dask ran a partition's task
    (a lost worker, a lost result), its molecules are counted once.
    """
    parts = sorted(itertools.chain.from_iterable(s.parts for s in states))
    twice = sorted({a for a, b in zip(parts, parts[1:]) if a == b})
    if twice:
        raise DoubleCountError(f"partition {twice[0]} reached a prevalence merge twice: refusing to count it twice")
    ids, prevalence = states[0].ids, states[0].prevalence
    for s in states[1:]:
        ids, prevalence = merge_prevalence(ids, prevalence, s.ids, s.prevalence)
        prevalence = prevalence.reshape(-1)
    problems = [s.first_problem for s in states if s.first_problem is not None]
    return State(
        ids,
        prevalence,
        sum(s.n_molecules for s in states),
        sum(s.n_invalid for s in states),
        sum(s.rows for s in states),
        min(problems) if problems else None,
        tuple(parts),
    )


def partition_examples(
    part, source: Source, read: Read, index: int, vocabulary: np.ndarray, found: set, params: dict
) -> dict:
    """Example environments (first molecule of the partition containing each id not in ``found``).

    Stops reading as soon as every wanted id has one, so on real corpora this
    reads the first chunk of the first partition and no more.
    """
    # ids already explained by an earlier partition are not looked for again: a vocabulary of the others
    wanted = [int(i) for i in vocabulary if int(i) not in found]
    if not wanted:
        return {}
    model = SortSlice.from_prevalence(
        np.sort(np.asarray(wanted, dtype=np.uint32)),
        np.ones(len(wanted), dtype=np.int64),
        0,
        # every wanted id is a column of this search model (the fit's min_df/max_df were applied already)
        **{**params, "length": len(wanted), "n_jobs": 1, "min_df": 1, "max_df": 1.0},
    )
    reader = open_partition(part, source, read, index)
    try:
        model.find_examples(molecules_for_fit(chunk, reader.kind) for chunk in reader)
    finally:
        reader.source.close()
    examples = model.examples_
    return {i: examples[i] for i in wanted if i in examples}


def identity(part, source: Source, index: int) -> dict:
    """What a part records of its input: the file (path, size, modification time), or the collection's partition."""
    from .io.parts import source_identity

    if source.kind == "files":
        return source_identity(part.path)
    return {"partition": index}


def write_partition(
    part, source: Source, read: Read, index: int, model, path: str, metadata: dict, payload, errors: str
) -> dict:
    """Fingerprint one partition into ``path`` (runs on a worker; :func:`sortslice.jobs.write_part`).

    Idempotent: the part is written through a temporary file beside ``path`` and renamed
    over it when complete (the CLI's sink), with its record in the footer, so running the
    task again — after its worker died, or when its result was lost — replaces a complete
    part with the same bytes and never leaves half a file under the part's name.
    """
    from .io.sinks import open_output

    where = identity(part, source, index)
    reader = open_partition(part, source, read, index)
    try:
        carried = {c: reader.carried_types()[c] for c in read.carry}
        sink = open_output(path, "parquet", payload, carried, error_column=errors == "null", metadata=metadata)
        try:  # the part's temporary file goes on any failure, also one before the chunk loop starts
            return write_part(
                reader,
                sink,
                computer(reader.kind, read.carry, model.ecfp_params.to_dict(), model, jobs=1),
                source=source.labels[index],
                identity=where,
                first_row=0,
                errors=errors,
                strict_note="errors='strict': its part was not written; complete parts are kept for resuming",
                in_flight=1,
            )
        except BaseException:
            sink.abort()
            raise
    finally:
        reader.source.close()


def check_partition(part: FileSpec, read: Read, path: str, payload, errors: str, metadata: dict):
    """Whether ``path`` is a complete part of this run made from file partition ``part`` (runs on a worker)."""
    from .io.parts import check_file_part

    return check_file_part(
        path,
        part.path,
        payload=payload,
        errors=errors,
        metadata=metadata,
        input_format=read.input_format,
        smiles_column=read.smiles_column,
        id_column=read.id_column,
        carry=read.carry,
        chunk_size=read.chunk_size,
    )
