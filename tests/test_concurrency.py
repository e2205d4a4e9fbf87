"""Concurrency: featurisers, ``ecfp`` and Polars expressions used from many threads at once give serial results.

``test_scoring_path.py`` runs ``transform_one`` and ``transform`` of one SortSlice from 4 threads and
``test_polars.py`` four queries from 8 threads; here every featuriser kind (binary, counts, sparse,
FCFP, supervised), every entry point (``transform``, ``featurise``, ``transform_one``,
``transform_many``, ``fit`` on separate instances), first use of a freshly loaded and an unpickled
featuriser (its lookup table and compiled constants are built lazily, possibly by several threads
at once), ``ecfp`` in-process and on the shared pool of worker processes, and Polars expressions
over hostile columns, all started together behind a barrier from 8 threads, rows interleaved.
The oracle is the same call made serially.
"""

from __future__ import annotations

import functools
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import sortslice

import hostile
from datasets import paper_table, sample
from helpers import dense

THREADS = 8


@functools.cache
def data():
    """Training molecules with labels, and a query batch of MOSES molecules with hostile rows among them."""
    train, y = paper_table("lipophilicity")
    query = sample("moses", 1200)
    sink = hostile.kitchen_sink(query[:40])
    rng = np.random.default_rng(1)
    items = query + sink
    order = rng.permutation(len(items))
    return train[:600], np.asarray(y[:600]), [items[i] for i in order]


def together(work: list) -> list:
    """Run the zero-argument callables in ``work``, ``THREADS`` at a time, each wave released at once."""
    out = []
    with ThreadPoolExecutor(THREADS) as ex:
        for w in range(0, len(work), THREADS):
            wave = work[w : w + THREADS]
            barrier = threading.Barrier(len(wave))

            def run(fn, barrier=barrier):
                barrier.wait(timeout=120)
                return fn()

            out += list(ex.map(run, wave))
    return out


FEATURISERS = {
    "sort_slice": lambda: sortslice.SortSlice(length=256),
    "sort_slice_counts_sparse": lambda: sortslice.SortSlice(length=128, counts=True, sparse=True, radius=3),
    "hash_fold_fcfp_chiral": lambda: sortslice.HashFold(length=512, invariants="fcfp", chirality=True),
    "mim_counts": lambda: sortslice.MIM(length=128, counts=True, dtype=np.uint16),
    "filtering": lambda: sortslice.Filtering(length=64, radius=1),
}


def _fitted(name):
    train, y, _ = data()
    return FEATURISERS[name]().fit(train, y)


@pytest.mark.parametrize("name", list(FEATURISERS))
def test_featurisers_from_many_threads_give_serial_results(name, tmp_path):
    _, _, items = data()
    f = _fitted(name)
    serial = f.featurise(items)
    X = dense(serial.X)
    # loaded (odd rows) or unpickled (even): nothing prepared yet, so the first calls build the lookup
    # table and the one-molecule constants concurrently
    f.save(tmp_path / "m.json")
    copies = [sortslice.load(tmp_path / "m.json"), pickle.loads(pickle.dumps(f))]
    k = THREADS
    parts = [list(range(i, len(items), k)) for i in range(k)]
    work = []
    for j, rows in enumerate(parts):
        batch = [items[r] for r in rows]
        f = copies[(j // 4) % 2]
        kind = j % 4
        if kind == 0:
            work.append(lambda b=batch, f=f: ("transform", dense(f.transform(b))))
        elif kind == 1:
            work.append(lambda b=batch, f=f: ("featurise", f.featurise(b)))
        elif kind == 2:
            work.append(lambda b=batch, f=f: ("one", np.stack([f.transform_one(x) for x in b])))
        else:
            work.append(lambda b=batch, f=f: ("many", f.transform_many(b)))
    for rows, (kind, got) in zip(parts, together(work)):
        if kind == "featurise":
            assert np.array_equal(dense(got.X), X[rows])
            assert got.valid.tolist() == serial.valid[rows].tolist()
            assert got.errors.tolist() == serial.errors[rows].tolist()
        else:
            assert got.dtype == X.dtype and np.array_equal(got, X[rows]), kind


def test_fitting_separate_featurisers_concurrently():
    train, y, items = data()
    names = list(FEATURISERS)
    serial = {n: _fitted(n) for n in names}
    fitted = together([lambda n=n: (n, FEATURISERS[n]().fit(train, y)) for n in names] * 2)
    for n, f in fitted:
        ref = serial[n]
        if hasattr(ref, "vocabulary_"):
            assert f.vocabulary_.tolist() == ref.vocabulary_.tolist()
            assert np.asarray(f.scores_).tolist() == np.asarray(ref.scores_).tolist()
        assert np.array_equal(dense(f.transform(items[:200])), dense(ref.transform(items[:200])))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ecfp_from_many_threads(n_jobs):
    """In-process, and on the one shared pool of worker processes (text batches only use it)."""
    _, _, items = data()
    text = [x for x in items if x is None or isinstance(x, str)]
    parts = [text[i::THREADS] for i in range(THREADS)]
    params = [dict(), dict(chirality=True), dict(invariants="fcfp", radius=3), dict(radius=1)]
    serial = [sortslice.ecfp(p, n_jobs=1, **params[i % len(params)]) for i, p in enumerate(parts)]
    got = together(
        [
            lambda p=p, kw=params[i % len(params)]: sortslice.ecfp(p, n_jobs=n_jobs, chunk_size=50, **kw)  # noqa: B008
            for i, p in enumerate(parts)
        ]
    )
    for a, b in zip(serial, got):
        for k in ("indptr", "ids", "counts", "valid"):
            assert np.array_equal(getattr(a, k), getattr(b, k)), k
        assert a.errors.tolist() == b.errors.tolist()


def test_polars_expressions_from_many_threads():
    import polars as pl
    from polars.testing import assert_frame_equal

    import sortslice.polars as ssp

    _, _, items = data()
    column = [x for x in items if x is None or (isinstance(x, str) and hostile.polars_safe(x))][:250]
    df = pl.DataFrame({"smiles": column}, schema={"smiles": pl.String})
    fs = {n: _fitted(n) for n in ("sort_slice", "mim_counts", "filtering", "hash_fold_fcfp_chiral")}
    queries = {
        "ids": lambda lf: lf.select(ssp.ids("smiles", chirality=True)),
        "fold": lambda lf: lf.select(pl.col("smiles").ecfp.fold(256, counts=True)),
        "valid": lambda lf: lf.select(ssp.is_valid("smiles").alias("ok"), ssp.parse_error("smiles").alias("why")),
        **{n: (lambda lf, f=f: lf.select(ssp.transform("smiles", f))) for n, f in fs.items()},
        "all": lambda lf: lf.select(
            ssp.ids("smiles").alias("ids"),
            ssp.fold("smiles", 64).alias("fold"),
            *[ssp.transform("smiles", f).alias(n) for n, f in fs.items()],
        ),
    }
    serial = {k: q(df.lazy()).collect(engine="in-memory") for k, q in queries.items()}
    work = [
        lambda k=k, q=q, e=e: (k, q(df.lazy()).collect(engine=e))
        for k, q in queries.items()
        for e in ("streaming", "in-memory")
    ]
    for key, got in together(work):
        assert_frame_equal(got, serial[key])
