"""An uninterrupted ``sortslice transform`` into a folder of 64 parts vs one SIGKILLed half-way and ``--resume``d.

Usage (from the repository root)::

    python perf/resume_moses.py                      # all 1,584,663 MOSES training molecules, 64 parts
    python perf/resume_moses.py --rows 200000        # the first 200,000 (a quick look)
    python perf/resume_moses.py --layout part-rows   # one input file cut with --part-rows instead of 64 files
    python perf/resume_moses.py --repeats 2          # medians of 2 rounds (order alternating)

Writes ``perf/results/resume.md`` and ``perf/results/resume.json`` (``--output`` to change; other
``--rows``/``--layout`` get their own names).

Untimed set-up: the SMILES of ``moses_train.csv.gz`` are written to ``--parts`` CSV files of equal size
(``--layout files``, the default: ``IN`` is their glob, one part per file) or to one CSV file
(``--layout part-rows``: ``--part-rows`` of the same size, so the same 64 parts); a Sort & Slice model
(1024 columns, ECFP4) is fitted on ``moses_test.csv.gz``; a small transform warms the kernel cache.

Timed, each command a fresh process of this interpreter, every core (``-j`` default), no progress bar:

* **uninterrupted**: ``sortslice transform MODEL IN -o A/``;
* **killed + resumed**: the same into ``B/``, SIGKILLed (the whole process group, parsing processes
  included) once ``--kill-at`` of the parts exist (measured by watching the folder, not by a timer),
  then ``sortslice transform MODEL IN -o B/ --resume``, which checks the parts there (every page read
  and checksummed, the input's rows counted), keeps them and writes the rest; the total is the killed
  run's wall time plus the resumed run's;
* for information, ``--resume`` on the complete folder ``B/`` (checks all parts, writes nothing): the
  cost of checking.

Checks: every file of ``B/`` equals, byte for byte, the file of the same name in ``A/``, and no other
file is in either.  Results: wall times, CPU of the completed commands (wait4 rusage: the process and the
parsing processes it reaped), the load average around each command.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _harness import CLI, cpu_name, git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
import datasets as data_locator  # noqa: E402  (tests/datasets.py: the one locator of the large data sets)

RESULTS = HERE / "results"


def run(args: list, *, kill_when=None) -> dict:
    """Run the CLI; with ``kill_when`` (a function polled every 20 ms), SIGKILL it the first time it is true."""
    t0 = time.perf_counter()
    load = load_average()
    proc = subprocess.Popen(
        CLI + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    killed = False
    if kill_when is not None:
        while proc.poll() is None:
            if kill_when():
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if killed:
        assert code == -signal.SIGKILL, (code, err)
    elif code != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({code}): {err}")
    return {
        "wall": wall,
        "cpu": None if killed else usage.ru_utime + usage.ru_stime,
        "stderr": err,
        "load_before": load,
        "load_after": load_average(),
        "killed": killed,
    }


def parts(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("part-") and n.endswith(".parquet"))


def digests(folder: Path) -> dict:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in sorted(os.listdir(folder))}


def prepare(work: Path, rows: int | None, n_parts: int, layout: str) -> tuple[str, list, int, int]:
    """Write the inputs; returns (IN, extra transform options, molecules, rows per part)."""
    smiles = []
    with gzip.open(data_locator.large_path("moses_train.csv.gz"), "rt") as fh:
        next(fh)
        for line in fh:
            smiles.append(line.strip())
            if rows and len(smiles) >= rows:
                break
    per = math.ceil(len(smiles) / n_parts)
    if layout == "files":
        (work / "in").mkdir()
        for k in range(n_parts):
            (work / "in" / f"moses-{k:02d}.csv").write_text(
                "SMILES\n" + "\n".join(smiles[k * per : (k + 1) * per]) + "\n"
            )
        return str(work / "in" / "*.csv"), [], len(smiles), per
    (work / "moses.csv").write_text("SMILES\n" + "\n".join(smiles) + "\n")
    return str(work / "moses.csv"), ["--part-rows", per], len(smiles), per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="first N rows of moses_train (default: all)")
    ap.add_argument("--parts", type=int, default=64)
    ap.add_argument("--layout", choices=["files", "part-rows"], default="files")
    ap.add_argument("--kill-at", type=float, default=0.5, help="kill once this fraction of the parts exists")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    stem = "resume" + ("" if args.rows is None else f"_{args.rows}") + ("" if args.layout == "files" else "_part_rows")
    report = args.output or RESULTS / f"{stem}.md"
    command = "python perf/resume_moses.py" + "".join(
        f" {flag} {value}"
        for flag, value, default in (
            ("--rows", args.rows, None),
            ("--parts", args.parts, 64),
            ("--layout", args.layout, "files"),
            ("--kill-at", args.kill_at, 0.5),
            ("--repeats", args.repeats, 1),
        )
        if value != default
    )
    started = time.perf_counter()
    load_start = load_average()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="resume-moses-") as tmp:
        work = Path(tmp)
        inp, extra, n, per = prepare(work, args.rows, args.parts, args.layout)
        model = work / "model.json"
        run(["fit", data_locator.large_path("moses_test.csv.gz"), "-o", model, "--length", 1024, "--no-progress"])
        warm = work / "warm.csv"
        warm.write_text("SMILES\n" + "\n".join(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"] * 2000) + "\n")
        run(["transform", model, warm, "-o", work / "warm.parquet"])
        threshold = math.ceil(args.kill_at * args.parts)
        rounds = []
        for r in range(args.repeats):
            a, b = work / f"a{r}", work / f"b{r}"
            base = ["transform", model, inp, *extra, "--no-progress"]
            res = {}
            order = ["uninterrupted", "killed"] if r % 2 == 0 else ["killed", "uninterrupted"]
            for case in order:
                if case == "uninterrupted":
                    res["uninterrupted"] = run(base + ["-o", a])
                else:
                    res["killed"] = run(base + ["-o", b], kill_when=lambda: b.is_dir() and len(parts(b)) >= threshold)
                    res["parts_at_kill"] = len(parts(b))
                    res["temporary_at_kill"] = sorted(x for x in os.listdir(b) if x.startswith("."))
                    res["resumed"] = run(base + ["-o", b, "--resume"])
                print(
                    f"round {r + 1} {case}: "
                    + ", ".join(f"{k} {v['wall']:.1f} s" for k, v in res.items() if isinstance(v, dict)),
                    flush=True,
                )
            res["check_only"] = run(base + ["-o", b, "--resume"])
            da, db = digests(a), digests(b)
            res["identical"] = da == db
            res["files"] = len(da)
            res["digest"] = hashlib.sha256(json.dumps(da, sort_keys=True).encode()).hexdigest()
            res["total"] = res["killed"]["wall"] + res["resumed"]["wall"]
            res["ratio"] = res["total"] / res["uninterrupted"]["wall"]
            print(
                f"round {r + 1}: killed at {res['parts_at_kill']} of {args.parts} parts; killed + resumed "
                f"{res['total']:.1f} s vs uninterrupted {res['uninterrupted']['wall']:.1f} s = {res['ratio']:.3f}x; "
                f"identical: {res['identical']}",
                flush=True,
            )
            rounds.append(res)
            for folder in (a, b):
                for name in os.listdir(folder):
                    os.unlink(folder / name)
    meta = {
        "command": command,
        "date": date,
        "seconds": time.perf_counter() - started,
        "load_start": load_start,
        "load_end": load_average(),
        "molecules": n,
        "parts": args.parts,
        "per_part": per,
        "layout": args.layout,
        "kill_at": args.kill_at,
        "threshold": threshold,
        "git": git_commit(dirty=True),
        "machine": f"{cpu_name()} x {os.cpu_count()} cores",
        "versions": versions("RDKit", "Numba", "NumPy", "pyarrow"),
        "timed": " ".join(
            [
                "sortslice",
                "transform",
                "MODEL",
                "'IN/*.csv'" if args.layout == "files" else "moses.csv",
                *map(str, extra),
                "--no-progress",
                "-o",
                "DIR/",
            ]
        ),
    }
    write_report(report, meta, rounds)
    report.with_suffix(".json").write_text(json.dumps({"meta": meta, "rounds": rounds}, indent=1) + "\n")
    print(f"wrote {report}")


def write_report(path: Path, meta: dict, rounds: list) -> None:
    def med(f):
        return statistics.median(f(r) for r in rounds)

    n, k = meta["molecules"], meta["parts"]
    unint = med(lambda r: r["uninterrupted"]["wall"])
    total, ratio = med(lambda r: r["total"]), med(lambda r: r["ratio"])
    check = med(lambda r: r["check_only"]["wall"])
    per_part = unint / k
    layout = (
        "64 CSV files (one part per file)"
        if meta["layout"] == "files"
        else f"one CSV file cut with --part-rows {meta['per_part']:,}"
    ).replace("64", f"{k}")
    lines = [
        f"# Resuming a killed `sortslice transform`: {n:,} MOSES molecules in {k} parts",
        "",
        f"Command: `{meta['command']}`  ",
        f"Timed command: `{meta['timed']}` (the killed run: the same; then the same with `--resume`)  ",
        f"Date: {meta['date']}; whole script {meta['seconds']:.0f} s  ",
        f"Machine: {meta['machine']}, shared with other work; load average at the start {meta['load_start']}, "
        f"at the end {meta['load_end']}; before each command in the table  ",
        f"{meta['versions']}; sortslice at {meta['git']}  ",
        f"Data: {n:,} molecules of moses_train.csv.gz in {layout}, {meta['per_part']:,} rows per part; model: "
        f"Sort & Slice, 1024 columns, ECFP4, fitted on moses_test.csv.gz; output: one Parquet part per input "
        f"part.  Killed (SIGKILL to the process group) once {meta['threshold']} of the {k} parts existed.  "
        f"{len(rounds)} round{'s' if len(rounds) > 1 else ''}"
        + (", order alternating; medians." if len(rounds) > 1 else "."),
        "",
        "## Results",
        "",
        "| round | uninterrupted | killed after | parts at the kill | resumed | killed + resumed | ratio | "
        f"check only ({k} parts kept) | identical bytes | load before (uninterrupted / killed / resumed) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        lines.append(
            f"| {i} | {r['uninterrupted']['wall']:.1f} s | {r['killed']['wall']:.1f} s | "
            f"{r['parts_at_kill']} | {r['resumed']['wall']:.1f} s | {r['total']:.1f} s | "
            f"{r['ratio']:.3f}x | {r['check_only']['wall']:.1f} s | "
            f"{'yes' if r['identical'] else '**NO**'} ({r['files']} files) | "
            f"{r['uninterrupted']['load_before'].split()[0]} / {r['killed']['load_before'].split()[0]} / "
            f"{r['resumed']['load_before'].split()[0]} |"
        )
    cpu_u = med(lambda r: r["uninterrupted"]["cpu"])
    cpu_r = med(lambda r: r["resumed"]["cpu"])
    lines += [
        "",
        f"CPU (the completed commands, wait4 rusage): uninterrupted {cpu_u:.1f} s, resumed {cpu_r:.1f} s.",
        "",
        "## What it means",
        "",
        f"* **Killed at {meta['threshold'] / k:.0%} and resumed: {ratio:.3f}x the uninterrupted wall time** "
        f"({total:.1f} s vs {unint:.1f} s{', medians' if len(rounds) > 1 else ''}), not the 1.5x of starting "
        f"again from zero.",
        f"* What the interruption costs on top: the part in progress when the process was killed (lost; on "
        f"average half a part, {per_part / 2:.1f} s at the uninterrupted rate of {per_part:.1f} s a part), "
        f"starting a second process, and checking the kept parts before trusting them: "
        f"`--resume` on the complete folder (a new process; all {k} parts read back, page checksums "
        f"verified, the input rows counted) took {check:.1f} s, so about {check * meta['threshold'] / k:.1f} s for the "
        f"{meta['threshold']} parts kept here.",
        f"* The resumed folder equals the uninterrupted one file for file and byte for byte: "
        f"**{'yes' if all(r['identical'] for r in rounds) else 'NO'}** (sha256 of the listing "
        f"`{rounds[0]['digest'][:16]}...`).",
        "* On a shared machine wall times follow the other load (the load averages are in the table); the "
        "killed and the uninterrupted runs of a round are back to back.",
    ]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
