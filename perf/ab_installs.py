"""A/B of two installed versions of sortslice (one venv each), for refactors that must not change speed.

Usage: build a wheel of each commit (``pip wheel --no-deps . -w dist``), install each into its own venv,
then alternate them, e.g. three rounds::

    for r in 1 2 3; do /tmp/vold/bin/python perf/ab_installs.py old; /tmp/vnew/bin/python perf/ab_installs.py new; done

Each run prints one JSON line of medians (ms): ``ecfp(mols)`` and ``flatten(mols)`` on 5,000 MOSES test Mols
with ``n_jobs`` 1 and 2 (15 runs each), then Sort & Slice fit / dense / sparse transform of the ECFP4 ids of the
first 100,000 MOSES train molecules (L = 1024, 21 runs each).  Reads the large data sets
(``SORTSLICE_DATA`` or ``../shared/data``).  Results: perf/results/ab_issue17.md.
"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rdkit import Chem, RDLogger  # noqa: E402

import datasets  # noqa: E402

RDLogger.DisableLog("rdApp.*")
import sortslice  # noqa: E402
from sortslice.engine.fingerprint import flatten  # noqa: E402


def median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 2)


out = {"version": sortslice.__version__, "from": str(Path(sortslice.__file__).parent)}
mols = [Chem.MolFromSmiles(s) for s in datasets.moses("test", 5000)]
for jobs in (1, 2):
    out[f"ecfp_mols_j{jobs}"] = median_ms(lambda j=jobs: sortslice.ecfp(mols, n_jobs=j), 15)
    out[f"flatten_j{jobs}"] = median_ms(lambda j=jobs: flatten(mols, n_jobs=j), 15)
fp = sortslice.ecfp(datasets.moses("train", 100_000), n_jobs=2)
dense = sortslice.SortSlice(length=1024).fit(fp)
sparse = sortslice.SortSlice(length=1024, sparse=True).fit(fp)
out["fit"] = median_ms(lambda: sortslice.SortSlice(length=1024).fit(fp), 21)
out["dense"] = median_ms(lambda: dense.transform(fp), 21)
out["sparse"] = median_ms(lambda: sparse.transform(fp), 21)
print(sys.argv[1] if len(sys.argv) > 1 else "this", json.dumps(out))
