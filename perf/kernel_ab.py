"""The Morgan kernel alone, 1 and 2 threads, on 20,000 MOSES test molecules: for A/B comparisons of kernel code.

Usage: ``python perf/kernel_ab.py`` (prints median ms of 25 runs and a checksum of the ids); run it
alternately on the two versions (A B A B ...), each after one untimed run that compiles.
The shared per-atom step (``morgan._atom_step``) was kept after 6 A and 6 B runs alternated in
groups of three: 1 thread, median 45.08 ms before vs 44.87 ms after (0.995x; the other core was busy, so
the 2-thread figures of that run are not quoted).
"""

import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rdkit import Chem, RDLogger  # noqa: E402

import datasets  # noqa: E402

RDLogger.DisableLog("rdApp.*")
from sortslice.engine.fingerprint import EcfpParams, flatten, ids_from_graph  # noqa: E402

with gzip.open(datasets.large_path("moses_test.csv.gz"), "rt") as fh:
    next(fh)
    smiles = [next(fh).strip() for _ in range(20000)]
mols = [Chem.MolFromSmiles(s) for s in smiles]
g = flatten(mols, n_jobs=1).graph
p = EcfpParams(radius=2)
out = {}
for t in (1, 2):
    ids_from_graph(g, p, threads=t)
    ts = []
    for _ in range(25):
        a = time.perf_counter()
        ids_from_graph(g, p, threads=t)
        ts.append(time.perf_counter() - a)
    out[t] = statistics.median(ts) * 1e3
r = ids_from_graph(g, p, threads=1)
print(json.dumps({"t1_ms": round(out[1], 2), "t2_ms": round(out[2], 2), "checksum": int(r[1].astype("uint64").sum())}))
