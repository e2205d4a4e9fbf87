"""Cold starts: processes racing on one empty cache folder, what a compiling first call says, what a
process after ``sortslice warmup`` compiles (nothing), and whose Numba cache the cache folder holds.

Every run here is a fresh process with its own empty ``SORTSLICE_CACHE_DIR`` (the suite's shared cache
would hide a compile). Compiled signatures are counted by ``sortslice.engine._jit.compiled_signatures``
(loads from the cache do not count). Timings are not asserted: ``perf/bench_coldstart.py`` measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

#: molecules for the racing processes: one of more than 64 bonds (the multi-word Morgan kernel), one invalid
RACE = """
import hashlib, json, sys, warnings
import sortslice
from sortslice.engine import _jit
warnings.simplefilter("ignore")
smiles = ["CCO", "c1ccccc1C[C@H](N)C(=O)O", "C1" + "C" * 70 + "C1", "not a smiles", "CC(=O)Nc1ccc(O)cc1"]
fp = sortslice.ecfp(smiles, chirality=True)
X = sortslice.SortSlice(length=32, counts=True).fit(smiles).transform(smiles)
digest = hashlib.sha256(fp.indptr.tobytes() + fp.ids.tobytes() + fp.counts.tobytes() + X.tobytes()).hexdigest()
print(json.dumps({"digest": digest, "compiled": _jit.compiled_signatures()}))
"""


def _env(cache, **extra) -> dict:
    env = dict(os.environ, SORTSLICE_CACHE_DIR=str(cache), SORTSLICE_COMPILE_JOBS="1", SORTSLICE_COMPILE_NOTICE="1")
    env.update(extra)
    return env


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_four_processes_racing_on_an_empty_cache_agree_and_a_fifth_starts_warm(tmp_path):
    """Four processes start together on one empty cache folder: all succeed with byte-identical output,
    each says once that it compiles, and they compile each kernel once between them (per-key locks)."""
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen([sys.executable, "-c", RACE], env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e.decode()[-2000:] for _, e in outs]
    runs = [_last_json(o.decode()) for o, _ in outs]
    assert len({r["digest"] for r in runs}) == 1, runs
    # the kernels were compiled, once each: no two processes compiled the same signature
    fifth_alone = subprocess.run(
        [sys.executable, "-c", RACE], env=_env(tmp_path / "alone"), capture_output=True, text=True, timeout=900
    )
    alone = _last_json(fifth_alone.stdout)["compiled"]
    assert sum(r["compiled"] for r in runs) == alone, (runs, alone)
    for _, err in outs:  # a compiling process says so, once; a process that only waited and loaded may not
        assert err.decode().count("sortslice: compiling its kernels for first use") <= 1, err.decode()
    fifth = subprocess.run([sys.executable, "-c", RACE], env=_env(cache), capture_output=True, text=True, timeout=600)
    assert fifth.returncode == 0, fifth.stderr
    assert _last_json(fifth.stdout) == {"digest": runs[0]["digest"], "compiled": 0}
    assert fifth.stderr == "", "a warm start says nothing"


def test_a_compiling_first_call_says_so_once_on_stderr(tmp_path):
    res = subprocess.run(
        # chirality: a call the kernels answer (a small plain first call is answered without them)
        [sys.executable, "-c", "import sortslice; sortslice.ecfp(['CCO'], chirality=True); sortslice.ecfp(['CCN'])"],
        env=_env(tmp_path / "cache"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sortslice: compiling its kernels for first use"), lines
    assert "sortslice warmup" in lines[0] and str(tmp_path / "cache") in lines[0]
    quiet = subprocess.run(
        [sys.executable, "-c", "import sortslice; sortslice.ecfp(['CCO'], chirality=True)"],
        env=_env(tmp_path / "cache2", SORTSLICE_COMPILE_NOTICE="0"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


#: every path a user can reach, in one process: each featuriser and output kind, ECFP options, scoring,
#: provenance and explanations, ids files, Polars expressions and the command line (in-process)
EVERY_PATH = """
import json, sys, warnings
import numpy as np
import polars as pl
warnings.simplefilter("ignore")
import sortslice
import sortslice.polars as ssp
from sortslice.engine import _jit
from click.testing import CliRunner
from sortslice.cli import main

folder = sys.argv[1]
smiles = ["CCO", "c1ccccc1C[C@H](N)C(=O)O", "F/C=C/F", "[2H]C([13CH3])[O-].[Na+]", "C1" + "C" * 70 + "C1",
          "N->[Pt](<-N)(Cl)Cl", "not a smiles", "", "CC(=O)Nc1ccc(O)cc1", "O=C(O)c1ccccc1O"] * 3
y = np.arange(len(smiles)) % 2
for kw in ({}, {"chirality": True, "radius": 3}, {"invariants": "fcfp", "bond_types": False},
           {"redundant_environments": True, "ring_membership": False}):
    fp = sortslice.ecfp(smiles, **kw)
    sortslice.ecfp(smiles, provenance=True, **kw)
    for cls in (sortslice.SortSlice, sortslice.HashFold):
        for counts in (False, True):
            for dtype in (None, np.float32, np.uint16, bool, np.float64, np.int64):
                f = cls(length=64, counts=counts, dtype=dtype, **kw).fit(smiles)
                f.transform(smiles)
                f.set_params(sparse=True).transform(fp)
                f.transform_one(smiles[1])
                f.transform_many(smiles[:3])
ss = sortslice.SortSlice(length=16).fit(smiles)
ss.explain(top=3)
for cls in (sortslice.MIM, sortslice.Filtering):
    m = cls(length=8).fit(smiles, y)
    m.transform(smiles)
    m.set_params(sparse=True).transform(smiles)
sortslice.MIM(length=8, task="regression").fit(smiles, y * 1.5)
sortslice.ecfp(smiles * 200, n_jobs=2)
sortslice.write_ids(sortslice.ecfp(smiles), folder + "/ids.parquet")
ids = sortslice.read_ids(folder + "/ids.parquet")
sortslice.SortSlice(length=16).fit(ids).transform(ids)
df = pl.DataFrame({"smiles": smiles})
df.with_columns(fp=pl.col("smiles").ecfp.sort_slice(ss), f=pl.col("smiles").ecfp.fold(32, counts=True),
                ok=pl.col("smiles").ecfp.is_valid(), error=ssp.parse_error("smiles"))
ssp.scan_ids(folder + "/ids.parquet", expect=ss).select(fp=pl.col("ids").ecfp.pool(ss, counts="counts")).collect()
ssp.fit_lazy(sortslice.SortSlice(length=16), df.lazy(), "smiles")
with open(folder + "/in.csv", "w") as fh:
    fh.write("smiles,y\\n" + "".join(f"{s},{i % 2}\\n" for i, s in enumerate(smiles) if "," not in s))
run = CliRunner().invoke
for args in (["fit", "in.csv", "-o", "m.json"], ["fit", "in.csv", "-o", "mim.json", "--method", "mim", "--label", "y"],
             ["transform", "m.json", "in.csv", "-o", "out.parquet"], ["ids", "in.csv", "-o", "ids2.parquet"],
             ["fit", "ids2.parquet", "-o", "m2.json"], ["fold", "in.csv", "-o", "f.parquet", "--counts"],
             ["transform", "m.json", "in.csv", "-o", "parts/", "--part-rows", "7"], ["info", "m.json"]):
    res = run(main, [a if not a.endswith((".csv", ".json", ".parquet", "/")) else folder + "/" + a for a in args])
    assert res.exit_code == 0, (args, res.output)
print(json.dumps({"compiled": _jit.compiled_signatures()}))
"""


@pytest.mark.slow
def test_a_process_after_warmup_compiles_nothing(tmp_path):
    """``sortslice warmup`` into an empty cache (with its compile helper), then a fresh process down every
    path a user can reach compiles no signature: a container image built with the warmup starts warm."""
    cache = tmp_path / "cache"
    warm = subprocess.run(
        [sys.executable, "-c", "from sortslice.cli import main; main(prog_name='sortslice')", "warmup"],
        env=_env(cache, SORTSLICE_COMPILE_JOBS="2"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert warm.returncode == 0, warm.stderr
    _helpers_done(cache)
    work = subprocess.run(
        [sys.executable, "-c", EVERY_PATH, str(tmp_path)], env=_env(cache), capture_output=True, text=True, timeout=900
    )
    assert work.returncode == 0, work.stderr[-3000:]
    assert _last_json(work.stdout) == {"compiled": 0}


def _helpers_done(cache, timeout: float = 600) -> None:
    """Wait until no compile helper holds its lock in ``cache`` (helpers may outlive the process that
    started them; they finish the warmup)."""
    import fcntl

    deadline = time.monotonic() + timeout
    for name in os.listdir(cache):
        if not name.startswith("compile-helper-"):
            continue
        with open(cache / name, "a") as fh:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fh, fcntl.LOCK_UN)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "a compile helper is still running"
                    time.sleep(0.2)


def test_compile_helpers_share_a_cold_start(tmp_path):
    """With two compile jobs the first compile starts a helper process, which runs the warmup into the
    same cache: the results are the same, the notice says so, and once the helper is done a fresh
    process compiles nothing for the warmup."""
    cache = tmp_path / "cache"
    res = subprocess.run(
        [sys.executable, "-c", RACE],
        env=_env(cache, SORTSLICE_COMPILE_JOBS="2"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr
    alone = subprocess.run(
        [sys.executable, "-c", RACE], env=_env(tmp_path / "alone"), capture_output=True, text=True, timeout=900
    )
    assert _last_json(res.stdout)["digest"] == _last_json(alone.stdout)["digest"]
    assert "on 2 processes" in res.stderr or "compiling" not in res.stderr, res.stderr
    _helpers_done(cache)
    after = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sortslice, json; r = sortslice.warmup(); print(json.dumps({'compiled': r.new}))",
        ],
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert after.returncode == 0, after.stderr
    assert _last_json(after.stdout) == {"compiled": 0}


def test_the_cache_folder_holds_sortslice_kernels_only(tmp_path):
    """``SORTSLICE_CACHE_DIR`` moves sortslice's kernels, not the rest of the process's Numba cache."""
    mod = tmp_path / "userlib.py"
    mod.write_text(
        textwrap.dedent("""
            import numba

            @numba.njit(cache=True)
            def twice(x):
                return 2 * x
        """)
    )
    code = textwrap.dedent("""
        import numba, sortslice, userlib
        sortslice.ecfp(["CCO"], chirality=True)
        print(userlib.twice(21), repr(numba.config.CACHE_DIR))
    """)
    env = _env(tmp_path / "cache", PYTHONPATH=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["42", "''"]  # Numba's own setting untouched
    assert list((tmp_path / "__pycache__").glob("userlib.twice-*.nbi")), "the user's function is cached beside it"
    ours = os.listdir(tmp_path / "cache")
    assert ours and all(n.endswith((".nbk", ".lock")) for n in ours) and not any("userlib" in n for n in ours)
