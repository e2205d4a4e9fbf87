"""The parsing processes are fresh interpreters, never forks, and what users run prints nothing it should not.

Forking a process whose other threads are alive (Polars calls sortslice from its own thread pool; the
kernels run on a kept thread pool) copies only the forking thread: a lock one of the others held stays
locked in the child forever.  The workers are therefore started by exec, which also means a user's
script is never re-run in them (unlike ``multiprocessing``'s spawn and forkserver).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest

import sortslice
from sortslice.engine import processes

import datasets

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _mapped(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as fh:
        return fh.read()


def test_workers_are_fresh_interpreters_without_numba_or_polars():
    """A forked worker would hold a copy of this process: its Numba (llvmlite) and Polars libraries and the
    state of threads that no longer exist.  An exec'd one holds only what parsing needs."""
    smiles = datasets.sample("moses", 5000)
    fp = sortslice.ecfp(smiles, n_jobs=2)
    assert np.array_equal(fp.ids, sortslice.ecfp(smiles, n_jobs=1).ids)
    pids = processes.get_pool(2).pids
    assert len(pids) == 2
    here = _mapped(os.getpid())
    assert "llvmlite" in here and "polars" in here
    for pid in pids:
        mapped = _mapped(pid)
        assert "rdkit" in mapped.lower()  # it parsed
        assert "llvmlite" not in mapped and "polars" not in mapped


def _run(code: str, tmp_path, *args) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "SORTSLICE_COMPILE_NOTICE": "0"},
    )


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """``spawn``/``forkserver`` would re-run this script in every worker (and fail: a worker starting
    workers); the exec'd workers load only the parsing code."""
    result = _run(
        """
        import sys
        import sortslice
        print("script ran")
        fp = sortslice.ecfp(open(sys.argv[1]).read().split(), n_jobs=2)
        print(int(fp.valid.sum()))
        """,
        tmp_path,
        datasets.FIXTURES / "zinc_sample.smi",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "script ran" and lines.count("script ran") == 1
    assert int(lines[1]) > 0


def test_polars_query_and_parallel_cli_print_nothing_on_stderr(tmp_path):
    """The documented Polars query (docs/guide/polars.md; expressions run on Polars' threads, which start the
    workers) and a CLI run with --jobs 2: no fork warning, no stray output, only the results."""
    smiles = datasets.sample("moses", 6000)
    (tmp_path / "molecules.csv").write_text("smiles\n" + "\n".join(smiles) + "\n")
    sortslice.SortSlice(length=256).fit(smiles[:500]).save(tmp_path / "model.json")
    result = _run(
        """
        import polars as pl
        import sortslice
        import sortslice.polars as ssp

        ss = sortslice.load("model.json")
        lf = pl.scan_csv("molecules.csv").with_columns(
            pl.col("smiles").ecfp.sort_slice(ss, with_error=True).struct.unnest()
        )
        lf.sink_parquet("fps.parquet")
        print(pl.read_parquet("fps.parquet").height)
        from sortslice.engine import processes
        print(sorted(processes._pools))  # the query's batches were parsed by worker processes
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    height, pools = result.stdout.split("\n")[:2]
    assert height == "6000" and pools != "[]", result.stdout
    assert result.stderr == ""
    cli = subprocess.run(
        [sys.executable, "-m", "sortslice", "transform", "model.json", "molecules.csv", "-o", "fp.parquet",
         "--jobs", "2", "--chunk-size", "5000"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "SORTSLICE_COMPILE_NOTICE": "0"},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr == ""
    polars_fp = pl.read_parquet(tmp_path / "fps.parquet")["fingerprint"]
    cli_fp = pl.read_parquet(tmp_path / "fp.parquet")["fingerprint"]
    assert polars_fp.null_count() == cli_fp.null_count()
    assert polars_fp.to_list() == cli_fp.to_list()


def test_a_dead_worker_fails_the_waiting_call_and_the_next_call_works():
    smiles = datasets.sample("moses", 5000)
    pool = processes.get_pool(2)
    pool.submit(int).result()
    import signal

    os.kill(pool.pids[0], signal.SIGKILL)
    future = pool.submit(processes.parse.parse_chunk, "smiles", smiles[:100], False, False)
    with pytest.raises(Exception, match="parsing process"):
        future.result(timeout=60)
        pool.submit(processes.parse.parse_chunk, "smiles", smiles[:100], False, False).result(timeout=60)
    fp = sortslice.ecfp(smiles, n_jobs=2)  # a new pool
    assert np.array_equal(fp.ids, sortslice.ecfp(smiles, n_jobs=1).ids)
