"""One file, one model, four ways: the documented Polars query (docs/guide/polars.md), the two-expression
query it replaced, the CLI and the Python API — wall time, CPU time and peak memory of each, in one run.

Usage (from the repository root)::

    python perf/bench_polars_file.py                         # MOSES test (176k SMILES), 3 rounds
    python perf/bench_polars_file.py --file moses_train.csv.gz --runs 1   # all 1.58M MOSES training SMILES

Reads the large data sets in place (``SORTSLICE_DATA`` or ``../shared/data``).  The model is Sort & Slice,
L = 1024, fitted on the first 20,000 MOSES training molecules.  Every case runs in a fresh process with a
warm kernel cache, started in turn (one of each per round, order rotated) so machine noise hits them alike:

* ``polars, one parse``: ``pl.scan_csv(f).with_columns(pl.col("smiles").ecfp.sort_slice(ss,
  with_error=True).struct.unnest()).sink_parquet(out)`` — the documented query;
* ``polars, two expressions``: ``fp=...ecfp.sort_slice(ss), error=ssp.parse_error("smiles")`` — the
  documented query before ``with_error``, which parses every molecule twice;
* ``CLI``: ``sortslice transform model.json f -o out.parquet``;
* ``Python API``: ``pl.read_csv(f)`` -> ``featuriser.featurise(list)`` -> ``np.save``.

Wall is measured inside the case's process from its first line to the end (interpreter start excluded);
CPU is user + system of the process and of its parsing processes; peak RSS is the case's process
(``VmHWM``) and, separately, the largest parsing process.  The fingerprints of every case are
checked equal (SHA-256 of the rows and of which rows are null).  Writes ``perf/results/polars_file.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import datasets  # noqa: E402

RUNNER = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
case, src, model, out = sys.argv[1:5]
import polars as pl
import sortslice
import sortslice.polars as ssp
ss = sortslice.load(model)
if case == "one":
    pl.scan_csv(src).with_columns(
        pl.col("smiles").ecfp.sort_slice(ss, with_error=True).struct.unnest()
    ).sink_parquet(out)
elif case == "two":
    pl.scan_csv(src).with_columns(
        fingerprint=pl.col("smiles").ecfp.sort_slice(ss), error=ssp.parse_error("smiles")
    ).sink_parquet(out)
elif case == "floor":  # the same streaming query with a stand-in expression that does no sortslice work
    import numpy as np
    import pyarrow as pa
    def zeros(s):
        values = pa.array(np.zeros(s.len() * 1024, np.uint8))
        return pl.Series("fingerprint", pa.FixedSizeListArray.from_arrays(values, 1024))
    pl.scan_csv(src).with_columns(
        pl.col("smiles").map_batches(zeros, return_dtype=pl.Array(pl.UInt8, 1024)).alias("fingerprint")
    ).sink_parquet(out)
elif case == "cli":
    from sortslice.cli import main
    try:
        main(["transform", model, src, "-o", out, "--no-progress"], standalone_mode=False)
    except SystemExit as e:
        if e.code:
            raise
elif case == "api":
    import numpy as np
    smiles = pl.read_csv(src, columns=["smiles"])["smiles"].to_list()
    r = ss.featurise(smiles)
    np.save(out, r.X)
    np.save(out + ".valid.npy", r.valid)
wall = time.perf_counter() - t0
def hwm(pid="self"):  # peak RSS of this address space (ru_maxrss would include the parent's, from before exec)
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return 0.0
from sortslice.engine import processes
workers = [pid for pool in processes._pools.values() for pid in pool.pids]
worker_rss = max((hwm(p) for p in workers), default=0.0)
processes.shutdown()  # the parsing processes end now, so their CPU is counted below
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                  "rss": hwm(), "worker_rss": worker_rss}))
"""

CASES = {
    "one": "polars, one parse (documented)",
    "two": "polars, two expressions (parse twice)",
    "cli": "CLI transform",
    "api": "Python API featurise",
    "floor": "polars floor: the same query, a stand-in expression doing no sortslice work",
}
#: the cases run unless --cases says otherwise (the floor is asked for by name)
DEFAULT_CASES = "one,two,cli,api"


def digest(case: str, out: str) -> str:
    """SHA-256 of the fingerprint rows (nulls as a mask), so outputs of all cases compare equal."""
    import numpy as np

    h = hashlib.sha256()
    if case == "api":
        X = np.load(out, mmap_mode="r")
        valid = np.load(out + ".valid.npy")
        for a in range(0, X.shape[0], 100_000):
            block = np.asarray(X[a : a + 100_000])
            h.update(np.ascontiguousarray(block[valid[a : a + 100_000]]).tobytes())
        h.update(np.packbits(valid).tobytes())
        return h.hexdigest()
    import pyarrow.parquet as pq

    f = pq.ParquetFile(out)
    nulls = []
    for batch in f.iter_batches(columns=["fingerprint"], batch_size=100_000):
        col = batch.column(0)
        valid = ~np.asarray(col.is_null())
        values = np.asarray(col.flatten()).reshape(-1, col.type.list_size) if len(col) else np.zeros((0, 0))
        # the flattened values skip null rows' slots only if they are zero-length; take valid rows explicitly
        if values.shape[0] == len(col):
            values = values[valid]
        h.update(np.ascontiguousarray(values).tobytes())
        nulls.append(valid)
    h.update(np.packbits(np.concatenate(nulls)).tobytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", default="moses_test.csv.gz", help="a file of the large data sets (SMILES column)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated subset of " + ",".join(CASES))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    src_gz = datasets.large_path(args.file)
    cases = args.cases.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench-polars-file-"))
    # Polars reads a plain CSV (its scan_csv does not stream gzip): decompress once, column named smiles
    import gzip

    src = tmp / "in.csv"
    with gzip.open(src_gz, "rt") as fh, open(src, "w") as out:
        header = fh.readline()
        out.write("smiles\n" if header.strip().lower() == "smiles" else "smiles\n" + header)
        for line in fh:
            out.write(line.split(",")[0].rstrip("\n") + "\n")
    n_rows = sum(1 for _ in open(src)) - 1
    import sortslice

    model = tmp / "model.json"
    sortslice.SortSlice(length=1024).fit(datasets.moses("train", 20_000)).save(model)
    # warm the kernels this benchmark uses (not timed)
    subprocess.run([sys.executable, "-c", "import sortslice; sortslice.warmup()"], check=True)

    times: dict[str, list[dict]] = {c: [] for c in cases}
    digests: dict[str, str] = {}
    for r in range(args.runs):
        order = cases[r % len(cases) :] + cases[: r % len(cases)]
        for case in order:
            out = str(tmp / (f"{case}.npy" if case == "api" else f"{case}.parquet"))
            res = subprocess.run(
                [sys.executable, "-c", RUNNER, case, str(src), str(model), out],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise SystemExit(f"{case} failed: {res.stderr[-3000:]}")
            m = json.loads(res.stdout.strip().splitlines()[-1])
            m["stderr"] = res.stderr.strip()
            times[case].append(m)
            print(case, m, flush=True)
            if case not in digests and case != "floor":  # the floor computes no fingerprints
                digests[case] = digest(case, out)
            for f in tmp.glob(f"{case}.*"):
                f.unlink()
    equal = len(set(digests.values())) == 1

    med = statistics.median
    ref = med(t["wall"] for t in times["cli"]) if "cli" in times else None
    ref_cpu = med(t["cpu"] for t in times["cli"]) if "cli" in times else None
    load = load_average(one_minute=True)
    git = git_commit(unknown="?")

    lines = [
        f"# One file, four ways ({n_rows:,} SMILES of `{args.file}`)",
        "",
        f"Command: `python perf/bench_polars_file.py --file {args.file} --runs {args.runs}"
        + (f" --cases {args.cases}" if args.cases != DEFAULT_CASES else "")
        + "`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; {os.cpu_count()} cores, load {load} at the end; "
        f"{versions('Polars', 'Numba', 'RDKit', 'sortslice')} at {git}  ",
        "Model: Sort & Slice, L = 1024, fitted on the first 20,000 MOSES training molecules.  ",
        f"Fingerprints of every case equal: **{'yes' if equal else 'NO'}**"
        + (" (the floor computes none)." if "floor" in cases else "."),
        "",
        "| case | wall (median) | vs CLI | CPU s (median) | vs CLI | peak RSS, process | largest parsing process |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        ts = times[case]
        wall, cpu = med(t["wall"] for t in ts), med(t["cpu"] for t in ts)
        rss, wrss = max(t["rss"] for t in ts), max(t["worker_rss"] for t in ts)
        lines.append(
            f"| {CASES[case]} | {wall:.1f} s | {wall / ref:.2f}x | {cpu:.0f} | {cpu / ref_cpu:.2f}x | "
            f"{rss:.2f} GiB | {wrss:.2f} GiB |"
        )
    stray = sorted({t["stderr"] for ts in times.values() for t in ts if t["stderr"]})
    lines += ["", "Anything printed on stderr: " + ("; ".join(stray) if stray else "nothing") + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = args.out or HERE / "results" / f"polars_file_{Path(args.file).name.split('.')[0]}.md"
    out.write_text(text)
    (out.with_suffix(".json")).write_text(json.dumps({"times": times, "digests": digests}, indent=1))


if __name__ == "__main__":
    main()
