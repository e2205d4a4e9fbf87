"""``sortslice transform`` of MOSES training SMILES to Parquet vs the Python API on the same data.

Usage (from the repository root)::

    python perf/bench_cli.py                       # all 1,584,663 rows, writes perf/results/cli.md
    python perf/bench_cli.py --rows 200000         # the first 200,000 rows, writes perf/results/cli_200000.md
    python perf/bench_cli.py --rows 200000 --repeats 3

What is measured, each run in a fresh process (the cases interleaved, order rotated each round):

* **CLI**: ``sortslice transform MODEL moses_train.csv.gz -o OUT.parquet --no-progress``: read the gzip CSV
  in chunks, fingerprint, write Parquet (``fingerprint`` = Array(UInt8, 1024), zstd).
* **API**: ``pyarrow.csv.read_csv(path)`` of the same file, then ``sortslice.load(MODEL).transform(smiles)``
  in one call (dense ``(n, 1024)`` uint8 in memory; nothing written).

The model is Sort & Slice, 1024 columns, ECFP4, fitted with ``sortslice fit`` on the MOSES *test* set
(timed too, for information).  Per run: wall time, CPU time of the process and the parsing workers it
waited for (``wait4`` rusage), peak RSS of the largest single process (``ru_maxrss``, what
``/usr/bin/time -v`` reports as "Maximum resident set size"), and the peak of the whole process tree
sampled from ``/proc`` every 0.2 s, as summed PSS (shared pages counted once; the forked workers share
most of their pages with the parent) and summed RSS (shared pages counted in every process).

Overhead = CLI / API - 1 on medians of wall time; also on CPU time, which shared machines disturb less
(both cases do the same parsing; the CLI adds reading in chunks and writing Parquet).  The CLI's output
is checked against the API on a sample of rows.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _harness import cpu_name, git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
import datasets as data_locator  # noqa: E402  (tests/datasets.py: the one locator of the large data sets)

RESULTS = HERE / "results"
TARGET_OVERHEAD = 0.15
TARGET_RSS = 1.5 * 2**30

API_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import pyarrow.csv as pcsv
import sortslice
t1 = time.perf_counter()
smiles = pcsv.read_csv(sys.argv[1]).column("SMILES").to_pylist()
t2 = time.perf_counter()
model = sortslice.load(sys.argv[2])
X = model.transform(smiles)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "transform": t3 - t2, "rows": X.shape[0],
                  "columns": X.shape[1], "set": int(X.sum())}))
"""


# ------------------------------------------------------------------ process measurement
def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(summed PSS, summed RSS) in bytes of ``pid`` and its descendants."""
    pss = rss = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return pss, rss


def measure(cmd: list[str], *, env=None, capture: bool = False) -> dict:
    """Run ``cmd``; wall time, CPU of it and its waited-for children, peak memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    peak_pss = peak_rss = 0
    out = b""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        pss, rss = _memory(proc.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if capture:
        out = proc.stdout.read()
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss": usage.ru_maxrss * 1024,
        "tree_pss": peak_pss,
        "tree_rss": peak_rss,
        "stdout": out.decode(),
        "stderr": err,
    }


# ---------------------------------------------------------------------------------- data
def prepare(rows: int | None, work: Path) -> tuple[Path, int]:
    source = data_locator.large_path("moses_train.csv.gz")
    if not source.exists():
        sys.exit(f"{source} is missing (the shared data sets live in ../shared/data beside the repository)")
    if rows is None:
        with gzip.open(source, "rt") as fh:
            n = sum(1 for _ in fh) - 1
        return source, n
    path = work / f"moses_train_{rows}.csv.gz"
    with gzip.open(source, "rt") as src, gzip.open(path, "wt", compresslevel=6) as dst:
        dst.write(next(src))
        for i, line in enumerate(src):
            if i >= rows:
                break
            dst.write(line)
    return path, rows


def check_sample(out: Path, data: Path, model: Path, n_rows: int, k: int = 2000) -> str:
    """CLI fingerprints == API fingerprints on ``k`` rows spread over the file."""
    import numpy as np
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    import sortslice

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n_rows, size=min(k, n_rows), replace=False))
    smiles = pcsv.read_csv(data).column("SMILES").take(rows).to_pylist()
    pf = pq.ParquetFile(out)
    starts = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
    groups = sorted(set(np.searchsorted(starts, rows, side="right") - 1))
    got = []
    for g in groups:
        col = pf.read_row_group(int(g), columns=["fingerprint"]).column("fingerprint").combine_chunks()
        dense = np.asarray(col.flatten()).reshape(len(col), -1)
        sel = rows[(rows >= starts[g]) & (rows < starts[g + 1])] - starts[g]
        got.append(dense[sel])
    got = np.concatenate(got)
    expected = sortslice.load(model).transform(smiles)
    same = int((got == expected).all(axis=1).sum())
    if pf.metadata.num_rows != n_rows:
        return f"row count {pf.metadata.num_rows:,} != {n_rows:,}"
    return f"{same:,}/{len(rows):,} sampled rows identical to the API; {pf.metadata.num_rows:,} rows in the file"


# ------------------------------------------------------------------------------- report
def fmt_bytes(b: float) -> str:
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="first N rows of moses_train (default: all)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--output", type=Path, default=None, help="markdown report (default: perf/results/cli*.md)")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    report = args.output or RESULTS / ("cli.md" if args.rows is None else f"cli_{args.rows}.md")
    t_start = time.perf_counter()
    load_before = load_average()
    sortslice_bin = shutil.which("sortslice") or sys.exit("the sortslice command is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        data, n_rows = prepare(args.rows, work)
        model = work / "model.json"
        fit_cmd = [
            sortslice_bin,
            "fit",
            str(data_locator.large_path("moses_test.csv.gz")),
            "-o",
            str(model),
            "--length",
            "1024",
            "--no-progress",
        ]
        fit = measure(fit_cmd)
        out = work / "fingerprints.parquet"
        cli_cmd = [sortslice_bin, "transform", str(model), str(data), "-o", str(out), "--no-progress"]
        api_cmd = [sys.executable, "-c", API_SCRIPT, str(data), str(model)]
        # warm the Numba cache, the file cache and the page cache of both paths (untimed)
        warm = work / "warm.csv"
        warm.write_text("SMILES\n" + "\n".join(["CCO", "c1ccccc1"] * 3000) + "\n")
        measure([sortslice_bin, "transform", str(model), str(warm), "-o", str(work / "warm.parquet")])
        measure([sys.executable, "-c", API_SCRIPT, str(warm), str(model)])
        runs: dict[str, list[dict]] = {"cli": [], "api": []}
        for r in range(args.repeats):
            order = ["cli", "api"] if r % 2 == 0 else ["api", "cli"]
            for case in order:
                res = measure(cli_cmd if case == "cli" else api_cmd, capture=case == "api")
                res["load"] = load_average()
                if case == "api":
                    res["stages"] = json.loads(res["stdout"].strip().splitlines()[-1])
                runs[case].append(res)
                print(
                    f"round {r + 1} {case}: {res['wall']:.1f} s wall, {res['cpu']:.1f} s CPU, "
                    f"max RSS {fmt_bytes(res['maxrss'])}, tree PSS {fmt_bytes(res['tree_pss'])} "
                    f"(load {res['load']})",
                    flush=True,
                )
        out_size = out.stat().st_size
        check = check_sample(out, data, model, n_rows)
    wall_total = time.perf_counter() - t_start
    write_report(
        report,
        args,
        n_rows,
        fit,
        runs,
        out_size,
        check,
        load_before,
        wall_total,
        " ".join(["sortslice", *cli_cmd[1:]]).replace(str(Path(tempfile.gettempdir())), "$TMP"),
    )
    print(f"wrote {report}")


def write_report(path: Path, args, n_rows, fit, runs, out_size, check, load_before, wall_total, cli_cmd_text):
    import sortslice

    med = {
        c: {k: statistics.median(r[k] for r in runs[c]) for k in ("wall", "cpu", "maxrss", "tree_pss", "tree_rss")}
        for c in runs
    }
    worst = {c: {k: max(r[k] for r in runs[c]) for k in ("maxrss", "tree_pss", "tree_rss")} for c in runs}
    over_wall = med["cli"]["wall"] / med["api"]["wall"] - 1
    over_cpu = med["cli"]["cpu"] / med["api"]["cpu"] - 1
    paired = statistics.median(c["wall"] / a["wall"] - 1 for c, a in zip(runs["cli"], runs["api"]))
    rate = {c: n_rows / med[c]["wall"] for c in runs}
    commit = git_commit(unknown="?")
    cpu = cpu_name()
    which = "all" if args.rows is None else f"the first {n_rows:,}"
    data_name = "moses_train.csv.gz" if args.rows is None else f"moses_train_{args.rows}.csv.gz (first {n_rows:,} rows)"
    yes = lambda ok: "yes" if ok else "**NO**"  # noqa: E731
    lines = [
        f"# `sortslice transform` vs the Python API ({which} MOSES training SMILES)",
        "",
        f"Command: `python perf/bench_cli.py{'' if args.rows is None else f' --rows {args.rows}'}"
        f"{'' if args.repeats == 2 else f' --repeats {args.repeats}'}`  ",
        f"Timed CLI command: `{cli_cmd_text}`  ",
        "API: `pyarrow.csv.read_csv(path).column('SMILES').to_pylist()`, then "
        "`sortslice.load(model).transform(smiles)` (one call, dense result in memory, nothing written)  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; whole script {wall_total:.0f} s  ",
        f"Machine: {cpu} x {os.cpu_count()} cores, shared with other work; load average before: {load_before}; "
        f"per run in the table  ",
        f"{versions('RDKit', 'Numba', 'NumPy', 'pyarrow')}; sortslice {sortslice.__version__} at {commit}  ",
        f"Data: {data_name}, {n_rows:,} molecules; model: Sort & Slice, 1024 columns, ECFP4, fitted with "
        f"`sortslice fit` on moses_test.csv.gz ({fit['wall']:.1f} s wall, {fit['cpu']:.1f} s CPU, "
        f"max RSS {fmt_bytes(fit['maxrss'])})  ",
        f"Repeats: {args.repeats} per case, interleaved (order alternating); medians.",
        "",
        "## Targets",
        "",
        "| Measure | CLI | API | Target | Met |",
        "|---|---:|---:|---|:---:|",
        f"| throughput (molecules/s, wall) | {rate['cli']:,.0f} | {rate['api']:,.0f} | | |",
        f"| overhead on wall time (CLI/API - 1; paired per round: {100 * paired:+.1f}%) | "
        f"{100 * over_wall:+.1f}% | | <= +15% | {yes(over_wall <= TARGET_OVERHEAD)} |",
        f"| overhead on CPU time (process + parsing workers) | {100 * over_cpu:+.1f}% | | report | |",
        f"| peak RSS, largest process (`ru_maxrss`, as `/usr/bin/time -v`), worst run | "
        f"{fmt_bytes(worst['cli']['maxrss'])} | {fmt_bytes(worst['api']['maxrss'])} | <= 1.5 GiB | "
        f"{yes(worst['cli']['maxrss'] <= TARGET_RSS)} |",
        f"| peak of the process tree, summed PSS (sampled), worst run | {fmt_bytes(worst['cli']['tree_pss'])} | "
        f"{fmt_bytes(worst['api']['tree_pss'])} | <= 1.5 GiB | {yes(worst['cli']['tree_pss'] <= TARGET_RSS)} |",
        "",
        "## Runs",
        "",
        "| Round | Case | Wall | CPU | Molecules/s | Max RSS (largest process) | Tree PSS peak | Tree RSS peak "
        "(shared counted per process) | Load average after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in ("cli", "api"):
        for i, r in enumerate(runs[case]):
            lines.append(
                f"| {i + 1} | {case.upper()} | {r['wall']:.1f} s | {r['cpu']:.1f} s | "
                f"{n_rows / r['wall']:,.0f} | {fmt_bytes(r['maxrss'])} | {fmt_bytes(r['tree_pss'])} | "
                f"{fmt_bytes(r['tree_rss'])} | {r['load']} |"
            )
    stages = [r["stages"] for r in runs["api"]]
    lines += [
        "",
        "## Notes",
        "",
        f"- API stages (median): import {statistics.median(s['import'] for s in stages):.1f} s, read CSV "
        f"{statistics.median(s['read'] for s in stages):.1f} s, load + transform "
        f"{statistics.median(s['transform'] for s in stages):.1f} s.",
        f"- CLI output: {fmt_bytes(out_size)} of Parquet; {check}.",
        "- The CLI streams chunks of 100,000 molecules (`--chunk-size`), two fingerprinted at a time on threads "
        "while the main thread reads and writes; Parquet row groups hold 8,192 rows (Arrow's writer buffers "
        "several times a row group's values).",
        "- CPU time counts the main process and the parsing workers it waited for; wall time on a shared "
        "2-core machine depends on what else runs (load averages per run above).",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "rows": n_rows,
                "repeats": args.repeats,
                "fit": {k: v for k, v in fit.items() if k not in ("stdout", "stderr")},
                "runs": {
                    c: [{k: v for k, v in r.items() if k not in ("stdout", "stderr")} for r in runs[c]] for c in runs
                },
                "overhead_wall": over_wall,
                "overhead_cpu": over_cpu,
                "overhead_paired": paired,
                "check": check,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
