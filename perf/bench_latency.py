"""Single-molecule scoring latency and cold start (issue: embedded low-latency scoring).

Latency: 10,000 single-molecule calls on MOSES test SMILES, interleaved in one process:
  ours   = featuriser.transform_one(smiles)
  RDKit  = Chem.MolFromSmiles + GetSparseCountFingerprint + dict lookup into the same vocabulary
Both produce the same uint8 vector (checked).  Reports p50/p99 and their ratios.

Cold start: fresh processes running import + load(model) + first transform_one, with a warm
cache, with an empty cache, and after `sortslice warmup` into an empty cache.

    python perf/bench_latency.py [--n 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

COLD = """
import time; t0 = time.perf_counter()
import sortslice
m = sortslice.load({model!r})
v = m.transform_one("CC(=O)Nc1ccc(O)cc1")
print(time.perf_counter() - t0)
"""


def latency(n: int, model_path: str):
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator as rfg

    import sortslice

    from datasets import moses

    smiles = moses("test", n)
    f = sortslice.load(model_path)
    vocab = {int(i): j for j, i in enumerate(f.vocabulary_)}
    gen = rfg.GetMorganGenerator(radius=f.radius, includeChirality=f.chirality)
    length = int(f.length)

    def rdkit_one(s):
        with rdBase.BlockLogs():
            m = Chem.MolFromSmiles(s)
        out = np.zeros(length, np.uint8)
        for k in gen.GetSparseCountFingerprint(m).GetNonzeroElements():
            j = vocab.get(k)
            if j is not None:
                out[j] = 1
        return out

    for s in smiles[:300]:
        f.transform_one(s)
        rdkit_one(s)
    ours, theirs = np.empty(n), np.empty(n)
    clock = time.perf_counter_ns
    for i, s in enumerate(smiles):
        if i % 2:  # alternate who goes first so neither always gets the warm cache lines
            t = clock()
            a = f.transform_one(s)
            ours[i] = clock() - t
            t = clock()
            b = rdkit_one(s)
            theirs[i] = clock() - t
        else:
            t = clock()
            b = rdkit_one(s)
            theirs[i] = clock() - t
            t = clock()
            a = f.transform_one(s)
            ours[i] = clock() - t
        if not np.array_equal(a, b):
            raise AssertionError(f"different vectors for {s}")
    return ours / 1e3, theirs / 1e3


def cold(model_path: str, cache: str | None, repeats: int) -> list[float]:
    env = dict(os.environ)
    if cache:
        env["SORTSLICE_CACHE_DIR"] = cache
    out = []
    for _ in range(repeats):
        res = subprocess.run(
            [sys.executable, "-c", COLD.format(model=model_path)], env=env, capture_output=True, text=True, check=True
        )
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import sortslice

    from datasets import moses

    tmp = tempfile.mkdtemp(prefix="sortslice-latency-")
    model = os.path.join(tmp, "model.json")
    sortslice.SortSlice(length=1024, radius=2).fit(moses("train", 50000)).save(model)

    ours, theirs = latency(args.n, model)
    rows = []
    for q in (50, 90, 99):
        a, b = np.percentile(ours, q), np.percentile(theirs, q)
        rows.append((f"p{q}", a, b, a / b))

    warm = cold(model, None, args.repeats)
    empty = cold(model, os.path.join(tmp, "empty-cache"), 1)
    t = time.perf_counter()
    env = dict(os.environ, SORTSLICE_CACHE_DIR=os.path.join(tmp, "warmed"))
    subprocess.run(
        [sys.executable, "-c", "import sortslice; print(sortslice.warmup())"], env=env, check=True, capture_output=True
    )
    warmup_s = time.perf_counter() - t
    after = cold(model, os.path.join(tmp, "warmed"), args.repeats)

    lines = [
        "## Scoring latency (single molecule, SortSlice L=1024, ECFP4)",
        "",
        f"`python perf/bench_latency.py --n {args.n}` — {args.n} MOSES test SMILES, calls interleaved in one "
        "process; identical output vectors checked.",
        "",
        "| percentile | ours transform_one (µs) | RDKit parse+sparse fp+dict (µs) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    targets = {"p50": 1.1, "p99": 1.2}
    for name, a, b, r in rows:
        tgt = targets.get(name)
        lines.append(
            f"| {name} | {a:.1f} | {b:.1f} | {r:.2f} | "
            + (f"<= {tgt} {'met' if r <= tgt else 'NOT met'}" if tgt else "")
            + " |"
        )
    lines += [
        "",
        "## Cold start (fresh process: import + load(model) + first transform_one)",
        "",
        "| cache | seconds (median) | target |",
        "|---|---|---|",
        f"| warm (default location) | {np.median(warm):.2f} | < 1.0 {'met' if np.median(warm) < 1 else 'NOT met'} |",
        f"| empty (compiles what it needs) | {empty[0]:.2f} | |",
        f"| after `sortslice.warmup()` into an empty cache (warmup took {warmup_s:.1f} s) | {np.median(after):.2f} | |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latency.md").write_text(text)
    (HERE / "results" / "latency.json").write_text(
        json.dumps(
            {
                "percentiles": rows,
                "cold_warm": warm,
                "cold_empty": empty,
                "cold_after_warmup": after,
                "warmup_seconds": warmup_s,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
