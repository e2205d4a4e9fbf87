"""One threading policy (``sortslice.engine.parallel``): ``n_jobs`` reaches every kernel, and a caller's
``numba.set_num_threads`` is respected when ``n_jobs`` is None. Observed on the launches themselves
(``tests/threads.py``), and outputs are byte-identical across 1 and 2 threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import sortslice

from datasets import paper_table, sample
from threads import ECFP_KERNELS, launches

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs Numba's pool to hold 2 threads")


@pytest.fixture(scope="module")
def data():
    smiles, y = paper_table("lipophilicity")
    # with invalid rows; n_jobs=2 parses text in 2 processes whatever the size
    return smiles[:900] + ["bad", None] + sample("moses", 400), np.r_[np.asarray(y[:900]) > 2, [0, 0], [1] * 400]


RUNS = {
    "ecfp": lambda X, y, n: sortslice.ecfp(X, n_jobs=n, radius=3),
    "sort_slice dense": lambda X, y, n: sortslice.SortSlice(length=512, n_jobs=n).fit(X).transform(X),
    "sort_slice sparse counts": lambda X, y, n: sortslice.SortSlice(
        length=512, counts=True, sparse=True, n_jobs=n
    ).fit_transform(X),
    "hash_fold": lambda X, y, n: sortslice.HashFold(length=1024, n_jobs=n).fit().transform(X),
    "mim": lambda X, y, n: sortslice.MIM(length=256, n_jobs=n).fit(X, y).transform(X),
    "filtering": lambda X, y, n: (
        sortslice.Filtering(length=64, radius=1, n_jobs=n).fit(X[:900], y[:900]).transform(X[:300])
    ),
}


def _bytes(out):
    if isinstance(out, sortslice.EcfpResult):
        return out.indptr.tobytes() + out.ids.tobytes() + out.counts.tobytes()
    if hasattr(out, "tocsr"):
        return out.indptr.tobytes() + out.indices.tobytes() + out.data.tobytes()
    return out.tobytes()


@pytest.mark.parametrize("name", list(RUNS))
def test_n_jobs_reaches_every_kernel(data, name):
    X, y = data
    results = {}
    for n in (1, 2):
        with launches() as seen:
            results[n] = _bytes(RUNS[name](X, y, n))
        assert seen.threads, "no parallel kernel was launched"
        used = sorted(set(seen.threads))
        if n == 1:
            assert {t for _, t in seen.threads} == {1}, f"n_jobs=1: kernels ran on {used}"
            assert seen.processes == [], "n_jobs=1 started parsing processes"
        else:
            # while 2 processes parse, the ids kernels overlap them on 1 thread (3 busy in all would
            # oversubscribe); every other kernel (prevalence, pooling) runs on the 2
            assert seen.processes and set(seen.processes) == {2}, seen.processes
            assert all(t == 2 for k, t in seen.threads if k not in ECFP_KERNELS), used
            assert {t for _, t in seen.threads} <= {1, 2}, used
            if name != "ecfp":
                assert any(k not in ECFP_KERNELS for k, _ in seen.threads), "no pooling kernel was observed"
    assert results[1] == results[2]


def test_a_callers_numba_setting_is_respected(data):
    X, _ = data
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with launches() as seen:
            one = sortslice.SortSlice(length=512).fit(X).transform(X)
        assert seen.threads and {t for _, t in seen.threads} == {1} and seen.processes == []
        assert numba.get_num_threads() == 1, "the engine changed the caller's setting"
    finally:
        numba.set_num_threads(old)
    with launches() as seen:
        two = sortslice.SortSlice(length=512).fit(X).transform(X)
    # left to itself, every kernel but those overlapping the parsing processes uses Numba's whole pool
    assert {t for k, t in seen.threads if k not in ECFP_KERNELS} == {numba.config.NUMBA_NUM_THREADS}
    assert one.tobytes() == two.tobytes()


def test_n_jobs_values():
    from sortslice.engine import parallel

    assert parallel.threads(1) == 1 and parallel.threads(99) == numba.config.NUMBA_NUM_THREADS
    assert parallel.threads(-1) == min(parallel.cpu_count(), numba.config.NUMBA_NUM_THREADS)
    assert parallel.processes(None, 10) == 1 and parallel.processes(3, 10) == 3
    for bad in (0, True, 1.5):
        with pytest.raises((TypeError, ValueError)):
            parallel.threads(bad)
