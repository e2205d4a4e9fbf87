"""Streaming a file through the engine: read a chunk, fingerprint it, write it — with bounded memory.

Two chunks are fingerprinted at once on threads (the engine's kernels release the
GIL and its parsing runs in worker processes), so the parsing processes never wait
while the main thread writes the previous chunk or while one chunk's last parsing
tasks drain.  Rows are written strictly in input order.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import click
import numpy as np

from ..engine.processes import get_pool, stop_all
from ..engine.warmup import compiling, notices_to
from ..io.readers import Chunk
from ..io.sinks import Part, writing
from .errors import fail

#: below this many molecules a chunk is parsed in-process (a worker pool costs more than it saves)
MIN_PARALLEL = 4000
#: molecules an in-process chunk is parsed in at a time (the bar moves and Ctrl-C is seen after each)
PIECE = 1000


def chunk_jobs(requested: int | None, n: int) -> int:
    """``n_jobs`` for the engine on one chunk.

    Never ``None``: the engine sizes its process pool from each batch's size, and
    keeps one pool per size, so chunks of different sizes would start extra processes.
    """
    if requested is not None:
        return requested
    from sortslice.engine.parallel import cpu_count

    return cpu_count() if n >= MIN_PARALLEL else 1


def row_label(chunk: Chunk, i: int) -> str:
    """``row 12 (CHEMBL25)``: 1-based, not counting a header; the row's name when there is one."""
    text = f"row {chunk.start + i + 1}"
    if chunk.names is not None and chunk.names[i] not in (None, ""):
        text += f" ({chunk.names[i]})"
    return text


@dataclass
class Tally:
    rows: int = 0
    invalid: int = 0
    written: int = 0
    first_problem: str | None = None
    seconds: float = 0.0
    #: what the strict-mode error says was (not) written
    strict_note: str = "--errors strict: nothing was written"

    def note(self, chunk: Chunk, valid: np.ndarray, errors: np.ndarray, source: str, mode: str) -> None:
        """Count a chunk's invalid rows; in strict mode stop at the first one."""
        self.rows += len(chunk)
        bad = np.flatnonzero(~valid)
        if not bad.size:
            return
        i = int(bad[0])
        problem = f"{row_label(chunk, i)}: {errors[i]}"
        if mode == "strict":
            fail(f"{source}: {problem} ({self.strict_note})")
        self.invalid += int(bad.size)
        if self.first_problem is None:
            self.first_problem = problem

    def warning(self, consequence: str) -> str | None:
        if not self.invalid:
            return None
        return (
            f"Warning: {self.invalid:,} of {self.rows:,} molecules are invalid and {consequence}; "
            f"first: {self.first_problem}"
        )


class Progress:
    """A tqdm bar on stderr: rows when the total is known, else bytes of the file (compressed) with rows/s."""

    def __init__(self, enabled: bool | None, reader, what: str = "molecules"):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        self.reader = reader
        self.what = what
        self.start = time.perf_counter()
        self.rows = 0
        if not enabled:
            return
        from tqdm import tqdm

        self.by_rows = reader.total_rows is not None or reader.source.size is None
        if self.by_rows:
            self.bar = tqdm(
                total=reader.total_rows,
                unit=" mol",
                unit_scale=True,
                file=sys.stderr,
                desc=reader.source.name,
                dynamic_ncols=True,
                smoothing=0.1,
            )
        else:
            self.bar = tqdm(
                total=reader.source.size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                desc=reader.source.name,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def update(self, rows: int, in_flight: int = 0, position: float | None = None) -> None:
        """``rows`` more molecules written; ``in_flight`` more done in chunks not yet written, and the
        byte ``position`` the work has reached (both shown, neither counted as written)."""
        self.rows += rows
        if self.bar is None:
            return
        if self.by_rows:
            target = self.rows + in_flight
        else:
            if position is None:
                position = self.reader.source.position()
            target = position
        if target is not None and target > self.bar.n:
            self.bar.update(int(target) - self.bar.n)
        if compiling():
            text = "compiling kernels for first use (`sortslice warmup` does it ahead)"
        elif self.by_rows:
            text = ""
        else:
            done = self.rows + in_flight
            text = f"{done:,} {self.what}, {done / max(1e-9, time.perf_counter() - self.start):,.0f}/s"
        self.bar.set_postfix_str(text, refresh=True)

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self._notices = notices_to(self._write)
            self._notices.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self._notices.__exit__(*exc)

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line.rstrip("\n"), file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            if not self.by_rows and self.bar.total:
                self.bar.update(max(0, self.bar.total - self.bar.n))
            self.bar.close()


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


#: how often the progress bar moves while a chunk is computed (seconds)
REFRESH = 0.25


def start_workers(jobs: int) -> None:
    """Start the engine's parsing processes now, so that their start-up overlaps reading the first chunk."""
    if jobs > 1:
        get_pool(jobs)


def convert(
    reader,
    sink,
    compute,
    *,
    errors: str,
    progress: bool | None,
    in_flight: int = 2,
    before_first=None,
    on_chunk=None,
    tally: Tally | None = None,
) -> Tally:
    """Stream every chunk of ``reader`` through ``compute`` (chunk -> :class:`Part`) into ``sink``.

    ``compute(chunk, tick)`` runs on ``in_flight`` threads and calls ``tick(rows)`` as it goes (the bar
    moves within a chunk; ``tick`` raises :class:`Cancelled` once the run is stopping);
    ``before_first(first_chunk)`` runs on this thread before the first one (to start the engine's
    workers here); ``on_chunk(rows)`` after each chunk is written.  On any failure or interrupt the sink is
    aborted (the output is left as it was).
    """
    tally = Tally() if tally is None else tally
    bar = Progress(progress, reader)
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="sortslice-chunk")
    live = _Live()
    pending: deque = deque()  # (chunk, future, key)
    chunks = iter(reader)
    read = 0  # rows read from the input so far

    def emit(chunk, part: Part, key: int) -> None:
        tally.note(chunk, part.valid, part.errors, reader.source.name, errors)
        if errors == "skip" and not part.valid.all():
            part = part.take(part.valid)
        with writing(sink.path):
            sink.write(part)
        tally.written += len(part)
        live.take(key)
        bar.update(len(chunk), *in_progress())
        if on_chunk is not None:
            on_chunk(len(chunk))

    def in_progress() -> tuple[int, float | None]:
        """Molecules done in the chunks not yet written, and the input's bytes that many rows stand for
        (the reader reads ahead in blocks, so its position alone runs ahead of the work)."""
        rows = sum(live.get(key) for _, _, key in pending)
        position = reader.source.position()
        if position is None or not read:
            return rows, None
        return rows, position * min(1.0, (bar.rows + rows) / read)

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
        with bar:
            while True:
                refill()
                if not pending:
                    break
                chunk, future, key = pending[0]
                try:
                    part = future.result(timeout=REFRESH)
                except FutureTimeout:
                    bar.update(0, *in_progress())
                    continue
                pending.popleft()
                emit(chunk, part, key)
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
        bar.close()
        reader.source.close()
    tally.seconds = time.perf_counter() - started
    return tally


def report(tally: Tally, errors: str, sink, nulls: str = "their fingerprints are null") -> None:
    """The summary line on stderr (only when some molecules were invalid)."""
    if errors == "skip":
        consequence = "were left out"
    elif sink.can_hold_null:
        consequence = f"{nulls} (the error column says why)"
    else:
        consequence = f"their rows are all zeros ({sink.format} has no nulls; use Parquet or CSV for reasons)"
    line = tally.warning(consequence)
    if line:
        click.echo(line, err=True)
