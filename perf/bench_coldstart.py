"""Cold and warm starts: what a fresh process pays before its first result.

Every user path runs in a fresh Python process with an empty kernel cache (``SORTSLICE_CACHE_DIR`` a new
temporary folder), timed from outside (interpreter start included), median of ``--runs``; with the compile
helpers as a user gets them (``SORTSLICE_COMPILE_JOBS`` unset: the cores, at most 4) and, for the main
paths, without them (``SORTSLICE_COMPILE_JOBS=1``). The peers run the same three SMILES in the same run:
RDKit alone (its Morgan generator) and scikit-fingerprints when installed. Also: the compile time of every
kernel signature (one process, empty cache, the whole warmup, no helpers), the warm start (import + first
tiny fit/transform with a warm cache) and what ``import sortslice`` imports.

    python perf/bench_coldstart.py [--runs 3] [--quick] [--peer-python VENV/bin/python]

Writes ``perf/results/coldstart.md`` (or ``--out``) and the ``.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
MOLS = '["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]'

#: user paths: (name, code run after ``import sortslice``; ``{tmp}`` is a scratch folder)
PATHS = [
    ("ecfp(3 SMILES)", f"sortslice.ecfp({MOLS})"),
    ("SortSlice fit+transform, dense", f"sortslice.SortSlice(length=16).fit({MOLS}).transform({MOLS})"),
    ("SortSlice fit+transform, sparse", f"sortslice.SortSlice(length=16, sparse=True).fit({MOLS}).transform({MOLS})"),
    ("SortSlice fit+transform, counts", f"sortslice.SortSlice(length=16, counts=True).fit({MOLS}).transform({MOLS})"),
    ("HashFold transform", f"sortslice.HashFold(length=16).fit().transform({MOLS})"),
    ("MIM fit+transform", f"sortslice.MIM(length=8).fit({MOLS}, [0, 1, 1]).transform({MOLS})"),
    ("transform_one (fitted from ids)", f"sortslice.SortSlice(length=16).fit({MOLS}).transform_one('CCN')"),
    (
        "Polars query (sort_slice + parse_error)",
        "import polars as pl, sortslice.polars as ssp\n"
        f"ss = sortslice.SortSlice(length=16).fit({MOLS})\n"
        f"pl.DataFrame({{'s': {MOLS}}}).with_columns(fp=pl.col('s').ecfp.sort_slice(ss), e=ssp.parse_error('s'))",
    ),
]
#: command-line paths: (name, arguments after ``sortslice``)
CLI = [
    ("CLI fit (3 molecules)", ["fit", "{tmp}/in.csv", "-o", "{tmp}/m.json", "--length", "16"]),
    ("CLI transform (model from a warm cache)", ["transform", "{model}", "{tmp}/in.csv", "-o", "{tmp}/o.parquet"]),
    ("CLI demo", ["demo"]),
    ("CLI warmup", ["warmup"]),
]
MAIN = {"ecfp(3 SMILES)", "SortSlice fit+transform, dense", "CLI demo", "CLI warmup"}

RDKIT = f"""
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator as g
gen = g.GetMorganGenerator(radius=2)
[gen.GetSparseCountFingerprint(Chem.MolFromSmiles(s)) for s in {MOLS}]
"""
SKFP = f"""
from skfp.fingerprints import ECFPFingerprint
ECFPFingerprint(fp_size=2048).transform({MOLS})
"""

TIMING = """
import sys, time
from numba.core import event
stack, excl = [], {}
class L(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), 0.0])
    def on_end(self, ev):
        t0, child = stack.pop(); d = time.perf_counter() - t0
        if stack: stack[-1][1] += d
        f = ev.data["dispatcher"].py_func
        k = f.__module__.split(".")[-1] + "." + f.__name__
        excl.setdefault(k, []).append(d - child)
event.register("numba:compile", L())
import json, sortslice
t = time.perf_counter(); sortslice.warmup(); total = time.perf_counter() - t
print(json.dumps({"total": total, "kernels": excl}))
"""

WARM = f"""
import time; t0 = time.perf_counter()
import sortslice
t1 = time.perf_counter()
sortslice.SortSlice(length=16).fit({MOLS}).transform({MOLS})
t2 = time.perf_counter()
import sys, json
print(json.dumps({{"import": t1 - t0, "call": t2 - t1, "total": t2 - t0,
                  "modules": sorted(m for m in ("sklearn", "scipy", "pandas", "polars", "pyarrow", "dask")
                                    if m in sys.modules)}}))
"""


def _env(cache: str | None, jobs: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SORTSLICE_COMPILE_JOBS", "NUMBA_CACHE_DIR")}
    env["SORTSLICE_COMPILE_NOTICE"] = "0"
    if cache:
        env["SORTSLICE_CACHE_DIR"] = cache
    if jobs:
        env["SORTSLICE_COMPILE_JOBS"] = jobs
    return env


def _wait_helpers(cache: str) -> None:
    """Compile helpers may outlive the timed process: let them finish before the next run starts."""
    import fcntl

    for name in os.listdir(cache) if os.path.isdir(cache) else ():
        if name.startswith("compile-helper-"):
            with open(os.path.join(cache, name), "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fcntl.flock(fh, fcntl.LOCK_UN)


def _timed(cmd: list[str], env: dict, cwd: str) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {res.stderr[-2000:]}")
    return wall


def _cold(cmd_for, runs: int, jobs: str | None) -> list[float]:
    out = []
    for _ in range(runs):
        tmp = tempfile.mkdtemp(prefix="coldstart-")
        cache = os.path.join(tmp, "cache")
        try:
            cmd = cmd_for(tmp)
            Path(tmp, "in.csv").write_text("smiles\nCCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\n")
            out.append(_timed(cmd, _env(cache, jobs), tmp))
            _wait_helpers(cache)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _machine() -> str:
    load = load_average(one_minute=True)
    git = git_commit(unknown="?")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load}; "
        f"{versions('Numba', 'RDKit', 'sortslice')} at {git}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the main paths only")
    ap.add_argument("--out", default=str(HERE / "results" / "coldstart.md"), help="the Markdown table (JSON beside it)")
    ap.add_argument(
        "--peer-python",
        help="a Python with scikit-fingerprints installed (e.g. a venv of its own), for the peer row",
    )
    args = ap.parse_args()
    py = sys.executable
    cli = [py, "-c", "from sortslice.cli import main; main(prog_name='sortslice')"]
    started = time.strftime("%Y-%m-%d %H:%M")
    head = _machine()

    # a model for the CLI transform, fitted with a warm cache of its own
    model_dir = tempfile.mkdtemp(prefix="coldstart-model-")
    Path(model_dir, "in.csv").write_text("smiles\nCCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\n")
    model = os.path.join(model_dir, "m.json")
    subprocess.run(
        cli + ["fit", os.path.join(model_dir, "in.csv"), "-o", model, "--length", "16"],
        env=_env(os.path.join(model_dir, "cache"), None),
        check=True,
        capture_output=True,
    )

    rows = []  # (name, helpers-on times, helpers-off times)
    for name, code in PATHS:
        if args.quick and name not in MAIN:
            continue
        cmd = [py, "-c", "import sortslice\n" + code]
        on = _cold(lambda tmp, c=cmd: c, args.runs, None)
        off = _cold(lambda tmp, c=cmd: c, args.runs, "1") if name in MAIN else []
        rows.append((name, on, off))
        print(name, on, off, flush=True)
    for name, argv in CLI:
        if args.quick and name not in MAIN:
            continue

        def cmd_for(tmp, a=argv):
            return cli + [x.format(tmp=tmp, model=model) for x in a]

        on = _cold(cmd_for, args.runs, None)
        off = _cold(cmd_for, args.runs, "1") if name in MAIN else []
        rows.append((name, on, off))
        print(name, on, off, flush=True)

    peers = [
        (
            "RDKit alone: import + Morgan generator, 3 SMILES",
            [_timed([py, "-c", RDKIT], _env(None, None), HERE) for _ in range(args.runs)],
        )
    ]
    peer_py = args.peer_python or py
    if subprocess.run([peer_py, "-c", "import skfp"], capture_output=True).returncode == 0:
        peers.append(
            (
                "scikit-fingerprints: import + ECFP, 3 SMILES (first run)",
                [_timed([peer_py, "-c", SKFP], _env(None, None), HERE) for _ in range(args.runs)],
            )
        )

    # the warm start, after a warmup into a folder of its own
    warm_cache = os.path.join(model_dir, "warm")
    subprocess.run([py, "-c", "import sortslice; sortslice.warmup()"], env=_env(warm_cache, None), check=True)
    _wait_helpers(warm_cache)
    warm = [
        json.loads(
            subprocess.run(
                [py, "-c", WARM], env=_env(warm_cache, None), capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(max(3, args.runs))
    ]
    imported = subprocess.run(
        [py, "-X", "importtime", "-c", "import sortslice"], env=_env(warm_cache, None), capture_output=True, text=True
    ).stderr
    by_package: dict[str, int] = {}
    for line in imported.splitlines()[1:]:
        if line.count("|") == 2:
            own, name = int(line.split("|")[0].split(":")[1]), line.split("|")[2].strip()
            root = name.split(".")[0]
            by_package[root] = by_package.get(root, 0) + own
    top = sorted(((us, name) for name, us in by_package.items()), reverse=True)[:8]

    # compile time of every kernel signature: the whole warmup in one process, no helpers
    kc = tempfile.mkdtemp(prefix="coldstart-kernels-")
    kernels = json.loads(
        subprocess.run([py, "-c", TIMING], env=_env(kc, "1"), capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    shutil.rmtree(kc, ignore_errors=True)
    shutil.rmtree(model_dir, ignore_errors=True)

    med = statistics.median
    lines = [
        "## Cold start: a fresh process with an empty kernel cache",
        "",
        f"`python perf/bench_coldstart.py --runs {args.runs}{' --quick' if args.quick else ''}"
        f"{' --out ' + os.path.relpath(args.out, HERE.parent) if Path(args.out).name != 'coldstart.md' else ''}` "
        f"— {started}; "
        f"{head}. Wall seconds from outside the process (interpreter start included), median of "
        f"{args.runs}, each run with a new empty `SORTSLICE_CACHE_DIR`.",
        "",
        "| first use | compile helpers on (default) | helpers off (`SORTSLICE_COMPILE_JOBS=1`) |",
        "|---|---:|---:|",
    ]
    for name, on, off in rows:
        lines.append(f"| {name} | {med(on):.2f} | {med(off):.2f} |" if off else f"| {name} | {med(on):.2f} | |")
    for name, ts in peers:
        lines.append(f"| peer — {name} | {med(ts):.2f} | |")
    w = {k: med([r[k] for r in warm]) for k in ("import", "call", "total")}
    lines += [
        "",
        f"**Warm start** (cache warm, fresh process, median of {len(warm)}): `import sortslice` {w['import']:.2f} s + "
        f"first tiny SortSlice fit+transform {w['call']:.2f} s = **{w['total']:.2f} s**; modules imported by then "
        f"among scikit-learn, SciPy, pandas, Polars, pyarrow, Dask: {', '.join(warm[0]['modules']) or 'none'}.",
        "",
        "What `import sortslice` spends its time importing (`python -X importtime`, own µs summed by package): "
        + ", ".join(f"{name} {us:,}" for us, name in top)
        + ".",
        "",
        "**Compile time per kernel signature** (the whole warmup in one process, no helpers: "
        f"{kernels['total']:.1f} s; seconds spent compiling each function itself, callees excluded):",
        "",
        "| kernel | signatures | seconds |",
        "|---|---:|---:|",
    ]
    for k, ts in sorted(kernels["kernels"].items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {k} | {len(ts)} | {sum(ts):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"paths": rows, "peers": peers, "warm": warm, "kernels": kernels, "machine": head}, indent=1)
    )


if __name__ == "__main__":
    main()
