"""The command line while a chunk is being worked on: the bar moves, and Ctrl-C stops the run within a piece.

A chunk (100,000 rows by default) used to be one unit of work: the bar sat at 0 % until the whole chunk was
written and an interrupt waited for the rest of it.  Now a chunk is parsed in pieces that report as they go
and look at a stop flag.  No timings are asserted: the tests count what was parsed and what the bar showed.
"""

from __future__ import annotations

import re
import signal
import sys
import threading

import numpy as np
import pyarrow.parquet as pq
import pytest

import sortslice
import sortslice.cli  # noqa: F401  (its modules are patched through sys.modules)

import datasets
from helpers import run_cli

N = 6000  # rows in the one chunk
PIECE = 500


@pytest.fixture
def one_chunk(tmp_path, monkeypatch):
    """A CSV of N molecules read as one chunk, a model, and pieces of PIECE molecules."""
    smiles = datasets.sample("moses", N)
    path = tmp_path / "in.csv"
    path.write_text("SMILES\n" + "\n".join(smiles) + "\n")
    model = tmp_path / "model.json"
    sortslice.SortSlice(length=64).fit(smiles[:200]).save(model)
    monkeypatch.setattr(sys.modules["sortslice.cli.main"], "PIECE", PIECE)
    return smiles, path, model


def _transform(path, model, out, *extra):
    args = ["transform", model, path, "-o", out, "--jobs", "1", "--chunk-size", str(N), *extra]
    return run_cli(*args, catch_exceptions=False)


def test_the_bar_moves_within_a_chunk(one_chunk, tmp_path, monkeypatch):
    smiles, path, model = one_chunk
    monkeypatch.setattr(sys.modules["sortslice.cli.run"], "REFRESH", 0.005)
    result = _transform(path, model, tmp_path / "out.parquet", "--progress")
    assert result.exit_code == 0, result.output
    shown = {int(n.replace(",", "")) for n in re.findall(r"([\d,]+) molecules", result.stderr)}
    assert any(0 < n < N for n in shown), sorted(shown)  # molecules done before the chunk was written
    assert max(shown) == N
    # the pieces change nothing
    out = pq.read_table(tmp_path / "out.parquet").column("fingerprint").combine_chunks()
    got = np.asarray(out.flatten()).reshape(len(out), -1)
    assert np.array_equal(got, sortslice.load(model).transform(smiles))


def test_an_interrupt_stops_the_chunk_at_its_next_piece(one_chunk, tmp_path, monkeypatch):
    """Ctrl-C during the first piece: at most one more piece is parsed, not the rest of the chunk, and the
    command ends with the interrupt's line and status and writes no output."""
    _, path, model = one_chunk
    flatten = sys.modules["sortslice.engine.flatten"]
    real = flatten.parse_in_process
    parsed: list[int] = []

    def parse_then_interrupt(kind, items, rows):
        out = real(kind, items, rows)
        if rows:  # (setting up may parse an empty batch)
            parsed.append(len(rows))
            if len(parsed) == 1:
                # what Ctrl-C does: SIGINT to the main thread, which is waiting for this chunk
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return out

    monkeypatch.setattr(flatten, "parse_in_process", parse_then_interrupt)
    out = tmp_path / "out.parquet"
    result = _transform(path, model, out)
    assert result.exit_code == 130, result.output
    assert "interrupted by SIGINT" in result.stderr
    assert not out.exists()
    assert sum(parsed) <= 2 * PIECE < N, parsed


def test_ecfp_reports_each_piece_and_stops_when_progress_raises():
    smiles = datasets.sample("moses", 1200)
    whole = sortslice.ecfp(smiles, n_jobs=1)
    seen: list[int] = []
    pieces = sortslice.ecfp(smiles, n_jobs=1, chunk_size=500, progress=seen.append)
    assert seen == [500, 500, 200]
    assert np.array_equal(pieces.indptr, whole.indptr) and np.array_equal(pieces.ids, whole.ids)

    class Stop(Exception):
        pass

    def stop(n):
        raise Stop

    with pytest.raises(Stop):
        sortslice.ecfp(smiles, n_jobs=1, chunk_size=500, progress=stop)
