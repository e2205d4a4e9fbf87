"""Jobs: the work the frontends share, between the I/O layer (:mod:`sortslice.io`) and the frontends.

A job is "read chunks, compute each chunk's ids once, and either pool and write them or count their
prevalence", tallying invalid rows and recording the first one.  The command line (a file, or a folder
of parts) and the Dask tasks (:mod:`sortslice.dask`) all run these functions; the frontends keep their
options, messages, progress bars and scheduling.

* :func:`stream` — the one chunk loop of a streaming transform: chunks computed on threads, written in
  input order, stopped within a piece on an interrupt, the sink aborted on any failure;
* :func:`computer` — ``chunk -> Part``: a chunk's ids (or its stored ids), pooled by a featuriser or not;
* :func:`write_part` — :func:`stream` into one part of a folder, with its record in the footer;
* :func:`count_prevalence` — a chunked input's prevalence state (what a streamed fit keeps, and what Dask
  merges);
* :class:`Tally` — rows, invalid rows and the first problem, and the one warning line about them.

Nothing here imports Click or Dask.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np

import sortslice

from .engine.fingerprint import InvalidMoleculeError
from .engine.prevalence import document_frequency, merge_prevalence
from .engine.processes import get_pool, stop_all
from .io.parts import footer, part_record
from .io.readers import Chunk
from .io.sinks import Part, writing

#: below this many molecules a chunk is parsed in-process (a worker pool costs more than it saves)
MIN_PARALLEL = 4000
#: molecules an in-process chunk is parsed in at a time (progress moves and a stop is seen after each)
PIECE = 1000
#: how often :func:`stream` reports progress while a chunk is computed (seconds)
REFRESH = 0.25


def chunk_jobs(requested: int | None, n: int) -> int:
    """``n_jobs`` for the engine on one chunk.

    Never ``None``: the engine sizes its process pool from each batch's size, and
    keeps one pool per size, so chunks of different sizes would start extra processes.
    """
    if requested is not None:
        return requested
    from .engine.parallel import cpu_count

    return cpu_count() if n >= MIN_PARALLEL else 1


def start_workers(jobs: int) -> None:
    """Start the engine's parsing processes now, so that their start-up overlaps reading the first chunk."""
    if jobs > 1:
        get_pool(jobs)


def row_label(chunk: Chunk, i: int) -> str:
    """``row 12 (CHEMBL25)``: 1-based, not counting a header; the row's name when there is one."""
    text = f"row {chunk.start + i + 1}"
    if chunk.names is not None and chunk.names[i] not in (None, ""):
        text += f" ({chunk.names[i]})"
    return text


def invalid_warning(invalid: int, rows: int, first_problem: str | None, consequence: str) -> str | None:
    """The one line about a job's invalid rows (None when there are none)."""
    if not invalid:
        return None
    return f"Warning: {invalid:,} of {rows:,} molecules are invalid and {consequence}; first: {first_problem}"


@dataclass
class Tally:
    """What a job saw: rows read, invalid rows, rows written and the first problem (``row N (name): why``)."""

    rows: int = 0
    invalid: int = 0
    written: int = 0
    first_problem: str | None = None
    seconds: float = 0.0
    #: what the strict-mode error says was (not) written (nothing added when empty)
    strict_note: str = "--errors strict: nothing was written"

    def note(self, chunk: Chunk, valid: np.ndarray, errors: np.ndarray, source: str, mode: str) -> None:
        """Count a chunk's invalid rows; in strict mode stop at the first one (:class:`InvalidMoleculeError`)."""
        self.rows += len(chunk)
        bad = np.flatnonzero(~valid)
        if not bad.size:
            return
        i = int(bad[0])
        problem = f"{row_label(chunk, i)}: {errors[i]}"
        if mode == "strict":
            raise InvalidMoleculeError(f"{source}: {problem}" + (f" ({self.strict_note})" if self.strict_note else ""))
        self.invalid += int(bad.size)
        if self.first_problem is None:
            self.first_problem = problem

    def warning(self, consequence: str) -> str | None:
        return invalid_warning(self.invalid, self.rows, self.first_problem, consequence)


# ============================================================================ one chunk
def chunk_ids(chunk: Chunk, kind: str, ecfp_params: dict, jobs: int | None, piece: int | None = None, tick=None):
    """A chunk's ids (an :class:`~sortslice.EcfpResult`), computed once: stored ids as they are.

    In this process (one job) the molecules are parsed ``piece`` at a time, calling ``tick(rows)`` after
    each (so progress moves and a stop is seen within a piece).
    """
    if kind == "ids":
        return chunk.molecules  # stored ids: nothing to parse
    n_jobs = chunk_jobs(jobs, len(chunk))
    # looked up when called: ``sortslice.ecfp`` is the one entry point (tests put faults in it there)
    return sortslice.ecfp(
        chunk.molecules,
        **ecfp_params,
        n_jobs=n_jobs,
        kind=kind,
        chunk_size=piece if n_jobs == 1 else None,
        progress=tick,
    )


def computer(kind: str, carry, ecfp_params: dict, featuriser=None, *, jobs: int | None = None, piece: int = PIECE):
    """``compute(chunk, tick=None) -> Part``: the chunk's ids (``featuriser`` None) or the featuriser's output,
    with the ``carry`` columns."""
    carry = list(carry)

    def compute(chunk: Chunk, tick=None) -> Part:
        fp = chunk_ids(chunk, kind, ecfp_params, jobs, piece, tick)
        columns = {c: chunk.columns[c] for c in carry}
        if featuriser is None:
            return Part(columns, fp.valid, fp.errors, indptr=fp.indptr, ids=fp.ids, counts=fp.counts)
        out = featuriser.featurise(fp)
        return Part(columns, out.valid, out.errors, X=out.X)

    return compute


def starter(kind: str, jobs: int | None):
    """What :func:`stream` runs before the first chunk: start the parsing processes from this thread."""
    if kind == "ids":
        return None
    return lambda chunk: start_workers(chunk_jobs(jobs, len(chunk)))


# ============================================================================ the chunk loop
#: interrupts a signal handler raised (the command line's SIGTERM/SIGHUP handler adds its exception here):
#: Python only prints an exception raised inside a weakref callback or ``__del__``, so a signal landing there
#: would be lost; the chunk loop raises it again at its next step
INTERRUPTS: list[BaseException] = []


def raise_pending_interrupt() -> None:
    """Raise an interrupt the signal handler raised but Python swallowed (see :data:`INTERRUPTS`)."""
    if INTERRUPTS:
        raise INTERRUPTS[0]


class Cancelled(Exception):
    """The run is being stopped (an interrupt or an error elsewhere): a chunk's work ends at its next piece."""


class _Live:
    """Molecules done inside the chunks being computed, ticked from their threads, and the stop flag
    those threads check at every piece (so Ctrl-C stops a run within about a piece, not a chunk)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: dict[int, int] = {}
        self.stop = threading.Event()

    def ticker(self, key: int):
        def tick(rows: int) -> None:
            if self.stop.is_set():
                raise Cancelled
            with self.lock:
                self.done[key] = self.done.get(key, 0) + rows

        return tick

    def take(self, key: int) -> int:
        with self.lock:
            return self.done.pop(key, 0)

    def get(self, key: int) -> int:
        with self.lock:
            return self.done.get(key, 0)


def stream(
    chunks,
    sink,
    compute,
    *,
    source: str,
    errors: str,
    tally: Tally | None = None,
    in_flight: int = 2,
    refresh: float = REFRESH,
    progress=None,
    position=None,
    before_first=None,
    on_chunk=None,
    finish=None,
) -> Tally:
    """Stream ``chunks`` through ``compute`` (``chunk, tick -> Part``) into ``sink``; returns the tally.

    ``compute`` runs on ``in_flight`` threads and calls ``tick(rows)`` as it goes (``tick`` raises
    :class:`Cancelled` once the run is stopping); parts are written in input order.  ``errors`` is
    ``"null"``, ``"skip"`` (invalid rows left out) or ``"strict"`` (stop at the first, naming ``source``).
    ``progress.update(rows, in_flight_rows, position)`` is told of every written chunk and, every
    ``refresh`` seconds, of the work in flight (``position()``: the input's bytes read, or None);
    ``before_first(chunk)`` runs on this thread before the first chunk (to start the engine's workers here);
    ``on_chunk(rows)`` after each chunk is written; ``finish(tally)`` before the sink is closed (e.g. to
    set a part's footer).  On any failure or interrupt the sink is aborted (the output is left as it was).
    """
    tally = Tally() if tally is None else tally
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="sortslice-chunk")
    live = _Live()
    pending: deque = deque()  # (chunk, future, key)
    chunks = iter(chunks)
    read = 0  # rows read from the input so far
    written_rows = 0  # input rows of the chunks written

    def in_progress() -> tuple[int, float | None]:
        """Molecules done in the chunks not yet written, and the input's bytes that many rows stand for
        (a reader reads ahead in blocks, so its position alone runs ahead of the work)."""
        rows = sum(live.get(key) for _, _, key in pending)
        where = None if position is None else position()
        if where is None or not read:
            return rows, None
        return rows, where * min(1.0, (written_rows + rows) / read)

    def emit(chunk, part: Part, key: int) -> None:
        nonlocal written_rows
        tally.note(chunk, part.valid, part.errors, source, errors)
        if errors == "skip" and not part.valid.all():
            part = part.take(part.valid)
        with writing(sink.path):
            sink.write(part)
        tally.written += len(part)
        live.take(key)
        written_rows += len(chunk)
        if progress is not None:
            progress.update(len(chunk), *in_progress())
        if on_chunk is not None:
            on_chunk(len(chunk))

    exhausted = False
    first = True
    keys = itertools.count()

    def refill() -> None:
        nonlocal exhausted, first, read
        while not exhausted and len(pending) < in_flight:
            chunk = next(chunks, None)
            if chunk is None:
                exhausted = True
                return
            read += len(chunk)
            if first and before_first is not None:
                before_first(chunk)
            first = False
            key = next(keys)
            pending.append((chunk, pool.submit(compute, chunk, live.ticker(key)), key))

    try:
        while True:
            raise_pending_interrupt()
            refill()
            if not pending:
                break
            chunk, future, key = pending[0]
            try:
                part = future.result(timeout=refresh)
            except FutureTimeout:
                if progress is not None:
                    progress.update(0, *in_progress())
                continue
            pending.popleft()
            emit(chunk, part, key)
        raise_pending_interrupt()
        if finish is not None:
            finish(tally)
        with writing(sink.path):
            sink.close()
    except BaseException as exc:
        live.stop.set()  # the chunks' threads stop at their next piece
        if isinstance(exc, KeyboardInterrupt):
            stop_all()  # the parsing processes end now: nothing they do will be used
        for _, f, _ in pending:
            f.cancel()
        sink.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    tally.seconds = time.perf_counter() - started
    return tally


def write_part(
    chunks, sink, compute, *, source: str, identity: dict, first_row: int, errors: str, strict_note: str, **kwargs
) -> dict:
    """:func:`stream` into one part of a folder (:mod:`sortslice.io.parts`); returns the part's record.

    The record (its input ``identity`` and ``first_row``, the rows and what was written, the first problem
    prefixed with ``source``) goes into the part's footer before the part is renamed into place.
    """
    record: dict = {}

    def finish(tally: Tally) -> None:
        problem = None if tally.first_problem is None else f"{source}: {tally.first_problem}"
        record.update(part_record(identity, first_row, tally.rows, tally.written, tally.invalid, problem, errors))
        sink.footer = footer(record)

    stream(chunks, sink, compute, source=source, errors=errors, tally=Tally(strict_note=strict_note),
           finish=finish, **kwargs)  # fmt: skip
    return record


# ============================================================================ fitting
@dataclass
class Prevalence:
    """A prevalence state: ids ascending and how many valid molecules contain each (the engine's
    ``document_frequency``), with the molecules counted and those left out."""

    ids: np.ndarray
    prevalence: np.ndarray
    n_molecules: int = 0
    n_invalid: int = 0


def count_prevalence(
    chunks,
    kind: str,
    ecfp_params: dict,
    *,
    source: str,
    errors: str,
    tally: Tally,
    jobs: int | None = None,
    threads: int | None = None,
    on_chunk=None,
    on_ids=None,
) -> Prevalence:
    """The prevalence state of ``chunks`` (what a streamed Sort & Slice fit keeps): each chunk's ids computed
    once, its invalid rows noted in ``tally`` (``errors="strict"`` stops at the first); ``on_ids(chunk, fp)``
    is given each chunk's ids (to record examples from an input that cannot be read again)."""
    state = Prevalence(np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64))
    for chunk in chunks:
        fp = chunk_ids(chunk, kind, ecfp_params, jobs)
        tally.note(chunk, fp.valid, fp.errors, source, errors)
        if on_ids is not None:
            on_ids(chunk, fp)
        chunk_ids_, chunk_prev = document_frequency(fp.indptr, fp.ids, threads=threads)
        state.ids, prevalence = merge_prevalence(state.ids, state.prevalence, chunk_ids_, chunk_prev)
        state.prevalence = prevalence.reshape(-1)
        n_valid = int(fp.valid.sum())
        state.n_molecules += n_valid
        state.n_invalid += len(chunk) - n_valid
        if on_chunk is not None:
            on_chunk(len(chunk))
    return state
