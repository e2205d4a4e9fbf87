"""The command line's side of streaming a file (the chunk loop itself is :func:`sortslice.jobs.stream`).

Two chunks are fingerprinted at once on threads (the engine's kernels release the
GIL and its parsing runs in worker processes), so the parsing processes never wait
while the main thread writes the previous chunk or while one chunk's last parsing
tasks drain.  Rows are written strictly in input order.  This module adds the
progress bar on stderr and the summary line.
"""

from __future__ import annotations

import sys
import time

import click

from ..engine.warmup import compiling, notices_to
from ..jobs import Tally, stream


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


#: how often the progress bar moves while a chunk is computed (seconds)
REFRESH = 0.25


def convert(
    reader,
    sink,
    compute,
    *,
    errors: str,
    progress: bool | None,
    before_first=None,
    on_chunk=None,
    tally: Tally | None = None,
    finish=None,
) -> Tally:
    """:func:`sortslice.jobs.stream` of every chunk of ``reader`` into ``sink``, with the progress bar
    (``progress``: None shows it on a terminal); the reader is closed at the end."""
    bar = Progress(progress, reader)
    try:
        with bar:
            return stream(
                reader,
                sink,
                compute,
                source=reader.source.name,
                errors=errors,
                tally=tally,
                refresh=REFRESH,
                progress=bar,
                position=reader.source.position,
                before_first=before_first,
                on_chunk=on_chunk,
                finish=finish,
            )
    finally:
        bar.close()
        reader.source.close()


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
