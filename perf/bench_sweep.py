"""Parse once, pool many: a length sweep from one stored ids file vs the same sweep from SMILES.

Usage (from the repository root)::

    python perf/bench_sweep.py                      # both parts, writes perf/results/sweep.md
    python perf/bench_sweep.py --skip-moses         # the sweep only (no large data needed)

(a) The sweep users of Sort & Slice run: Lipophilicity (4,200 molecules, in the repository), 2-fold
    cross-validation, Sort & Slice and hash folding at L = 512, 1024, 2048 and 4096 (16 fits, each
    followed by the transform of its training and test folds). Two routes, interleaved over rounds with
    the order rotating, in this one process:

    * **SMILES**: every fit and transform is given the SMILES (so it parses them);
    * **ids**: ``sortslice.read_ids`` of a file written once by ``sortslice ids`` (reading is timed,
      writing is reported separately), folds by ``EcfpResult.take``.

    Both routes' matrices are checked byte-identical before anything is timed.

(b) Streaming a large ids file: ``sortslice ids`` on all 1.58M MOSES training molecules (read in place
    through ``tests/datasets.py``), then, each in a fresh process, ``iter_ids`` + ``SortSlice.partial_fit``
    over the whole file and ``sortslice fit ids.parquet``; peak RSS of each process (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _harness import CLI, load_average

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
import datasets as data_locator  # noqa: E402  (tests/datasets.py: the one locator of the data sets)

LENGTHS = (512, 1024, 2048, 4096)
METHODS = ("SortSlice", "HashFold")
FOLDS = 2
TARGET = 10.0
RSS_LIMIT = 1.5 * 2**30


def _folds(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, FOLDS)
    return [
        (np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k])), np.sort(parts[k])) for k in range(FOLDS)
    ]


def sweep_smiles(smiles: list[str], folds) -> list:
    import sortslice

    out = []
    arr = np.asarray(smiles, dtype=object)
    for train, test in folds:
        tr, te = arr[train].tolist(), arr[test].tolist()
        for method in METHODS:
            for length in LENGTHS:
                f = getattr(sortslice, method)(length=length).fit(tr)
                out.append((f.transform(tr), f.transform(te)))
    return out


def sweep_ids(path: Path, folds) -> list:
    import sortslice

    fp = sortslice.read_ids(path)
    out = []
    for train, test in folds:
        tr, te = fp.take(train), fp.take(test)
        for method in METHODS:
            for length in LENGTHS:
                f = getattr(sortslice, method)(length=length).fit(tr)
                out.append((f.transform(tr), f.transform(te)))
    return out


def part_a(repeats: int, workdir: Path) -> dict:
    smiles = data_locator.paper_smiles("lipophilicity")
    csv = workdir / "lipophilicity.csv"
    import polars as pl

    pl.DataFrame({"SMILES": smiles}).write_csv(csv)
    ids_path = workdir / "lipophilicity_ids.parquet"
    t = time.perf_counter()
    subprocess.run(CLI + ["ids", str(csv), "-o", str(ids_path)], check=True, capture_output=True)
    write_seconds = time.perf_counter() - t
    folds = _folds(len(smiles))
    a, b = sweep_smiles(smiles, folds), sweep_ids(ids_path, folds)  # also warms both routes
    assert len(a) == len(b) == FOLDS * len(METHODS) * len(LENGTHS)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype and np.array_equal(xa, xb) and np.array_equal(ya, yb)
    times: dict[str, list[float]] = {"smiles": [], "ids": []}
    cpu: dict[str, list[float]] = {"smiles": [], "ids": []}
    runs = {"smiles": lambda: sweep_smiles(smiles, folds), "ids": lambda: sweep_ids(ids_path, folds)}
    for r in range(repeats):
        for name in list(runs) if r % 2 == 0 else list(runs)[::-1]:
            c, t = time.process_time(), time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "molecules": len(smiles),
        "write_ids_seconds": write_seconds,
        "ids_file_bytes": ids_path.stat().st_size,
        "times": times,
        "cpu": cpu,
        "median": med,
        "ratio": med["smiles"] / med["ids"],
        "ratio_with_writing": med["smiles"] / (med["ids"] + write_seconds),
        "cpu_ratio": statistics.median(cpu["smiles"]) / statistics.median(cpu["ids"]),
    }


STREAM = """
import json, resource, sys, time
import sortslice
t = time.perf_counter()
ss = sortslice.SortSlice(length=1024)
rows = ids = 0
for batch in sortslice.iter_ids(sys.argv[1]):
    ss.partial_fit(batch.fp)
    rows += len(batch)
    ids += batch.fp.ids.shape[0]
print(json.dumps({"rows": rows, "ids": ids, "seconds": time.perf_counter() - t,
                  "vocabulary": len(ss.vocabulary_),
                  "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _child_rss_run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run ``cmd`` as a child; its peak RSS (largest of the process and the children it waited for)."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    return status, usage.ru_maxrss * 1024, time.perf_counter() - t


def part_b(workdir: Path, rows: int | None) -> dict:
    source = data_locator.large_path("moses_train.csv.gz")
    ids_path = workdir / "moses_ids.parquet"
    src = source
    if rows:
        import polars as pl

        src = workdir / "moses_head.csv"
        pl.read_csv(source, n_rows=rows).write_csv(src)
    t = time.perf_counter()
    subprocess.run(CLI + ["ids", str(src), "-o", str(ids_path), "--no-progress"], check=True, capture_output=True)
    write_seconds = time.perf_counter() - t
    out = subprocess.run([sys.executable, "-c", STREAM, str(ids_path)], check=True, capture_output=True, text=True)
    stream = json.loads(out.stdout.strip().splitlines()[-1])
    status, fit_rss, fit_seconds = _child_rss_run(
        CLI + ["fit", str(ids_path), "-o", str(workdir / "m.json"), "--length", "1024", "--no-progress"]
    )
    assert status == 0, "sortslice fit ids.parquet failed"
    return {
        "rows": stream["rows"],
        "ids": stream["ids"],
        "write_ids_seconds": write_seconds,
        "ids_file_bytes": ids_path.stat().st_size,
        "stream": stream,
        "cli_fit": {"seconds": fit_seconds, "max_rss": fit_rss},
    }


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def report(a: dict | None, b: dict | None, meta: dict) -> str:
    L = [
        "# Parse once, pool many: the L-sweep from stored ids",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; sortslice {meta['sortslice']}, RDKit "
        f"{meta['rdkit']}; machine: {meta['machine']}; load average before: {meta['load_before']}",
        "",
    ]
    if a:
        m = a["median"]
        L += [
            "## (a) Lipophilicity, 2-fold CV, SortSlice + HashFold at L = 512, 1024, 2048, 4096",
            "",
            f"{a['molecules']:,} molecules; 16 fits, each with the transform of its training and test folds. "
            f"Matrices of both routes checked byte-identical. Medians of {len(a['times']['ids'])} interleaved "
            "rounds (order alternating).",
            "",
            "| route | wall (median) | all rounds | CPU (median) |",
            "|---|---|---|---|",
            f"| from SMILES | {m['smiles']:.2f} s | {', '.join(f'{x:.2f}' for x in a['times']['smiles'])} | "
            f"{statistics.median(a['cpu']['smiles']):.2f} s |",
            f"| from one ids file (read included) | {m['ids']:.3f} s | "
            f"{', '.join(f'{x:.3f}' for x in a['times']['ids'])} | {statistics.median(a['cpu']['ids']):.3f} s |",
            "",
            f"**Ratio: {a['ratio']:.1f}x faster from stored ids** (CPU time: {a['cpu_ratio']:.1f}x; target "
            f">= {TARGET:.0f}x: {'met' if a['ratio'] >= TARGET else 'NOT met'}).",
            "",
            f"Writing the ids file once (`sortslice ids`, a fresh process): {a['write_ids_seconds']:.2f} s, "
            f"{a['ids_file_bytes'] / 1e6:.2f} MB; with it counted, the sweep is still "
            f"{a['ratio_with_writing']:.1f}x faster, and every further sweep costs only the pooling.",
            "",
        ]
    if b:
        s, f = b["stream"], b["cli_fit"]
        L += [
            "## (b) Streaming the ids of MOSES train",
            "",
            f"`sortslice ids` on {b['rows']:,} molecules: {b['write_ids_seconds']:.0f} s, "
            f"{b['ids_file_bytes'] / 2**20:.0f} MiB ({b['ids']:,} ids).",
            "",
            "| reader (fresh process) | wall | peak RSS | limit |",
            "|---|---|---|---|",
            f"| `iter_ids` + `SortSlice.partial_fit` | {s['seconds']:.1f} s | {_gib(s['max_rss'])} | "
            f"{_gib(RSS_LIMIT)}: {'met' if s['max_rss'] <= RSS_LIMIT else 'NOT met'} |",
            f"| `sortslice fit ids.parquet --length 1024` | {f['seconds']:.1f} s | {_gib(f['max_rss'])} | "
            f"{_gib(RSS_LIMIT)}: {'met' if f['max_rss'] <= RSS_LIMIT else 'NOT met'} |",
            "",
        ]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-moses", action="store_true", help="only part (a)")
    ap.add_argument("--moses-rows", type=int, default=None, help="part (b) on the first N rows only")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sweep.md")
    args = ap.parse_args(argv)
    import rdkit

    import sortslice

    meta = {
        "command": "python perf/bench_sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sortslice": sortslice.__version__,
        "rdkit": rdkit.__version__,
        "machine": f"{platform.machine()} x {os.cpu_count()} cores",
        "load_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="sortslice-sweep-") as tmp:
        a = part_a(args.repeats, Path(tmp))
        print(
            f"(a) from SMILES {a['median']['smiles']:.2f} s, from ids {a['median']['ids']:.3f} s: {a['ratio']:.1f}x",
            flush=True,
        )
        b = None if args.skip_moses else part_b(Path(tmp), args.moses_rows)
        if b:
            print(
                f"(b) {b['rows']:,} rows: stream peak RSS {_gib(b['stream']['max_rss'])}, "
                f"CLI fit {_gib(b['cli_fit']['max_rss'])}",
                flush=True,
            )
    text = report(a, b, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "a": a, "b": b}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
