"""Determinism: the same bytes out whatever the processes, threads, chunking and order of chunks.

On real molecules (a paper data set, MOSES) with hostile rows mixed in:

* ``ecfp``: every array identical for ``n_jobs`` 1 or 2 (in-process or worker processes), any
  ``chunk_size``, and Numba's thread count (the engine's ``threads`` argument, and
  ``numba.set_num_threads`` around calls that leave it to the engine);
* the pooling kernels (``pool`` dense/sparse/counts, ``document_frequency``) and ``morgan``: same
  bytes with 1 or 2 threads;
* every featuriser: fitted state, transform output and saved model identical for ``n_jobs`` 1 or 2;
* ``SortSlice.partial_fit`` over chunks in any order and of any size, and ``merge`` in any order or
  grouping: identical counts, vocabulary, prevalence and output.  Example environments are the
  first molecule *in data order* holding an id (see ``find_examples``), so they may differ between
  fits over differently ordered chunks; after ``find_examples`` over the data in its order the
  saved models are identical too.  Fitting on the rows in another order (labels alongside) gives
  the same vocabulary for every featuriser;
* the CLI: CSV, ``.npy`` and ``.npz`` outputs byte-identical for any ``--chunk-size`` and ``-j``, and
  the fitted model file identical up to its creation time.
"""

from __future__ import annotations

import functools
import json

import numba
import numpy as np
import pytest
import scipy.sparse as sp

import sortslice
from sortslice.engine import morgan as morgan_mod
from sortslice.engine import pooling, prevalence
from sortslice.engine.fingerprint import EcfpParams, flatten

import hostile
from datasets import paper_table, sample
from helpers import run_cli
from threads import ECFP_KERNELS, launches

RESULT_FIELDS = ("indptr", "ids", "counts", "valid")


@functools.cache
def molecules() -> tuple[list, np.ndarray]:
    """1,000 lipophilicity molecules (with labels), 500 MOSES rows and the hostile text rows, shuffled."""
    smiles, y = paper_table("lipophilicity")
    smiles, y = smiles[:1000], y[:1000]
    extra = sample("moses", 500)
    sink = [x for x in hostile.kitchen_sink(extra[:50]) if x is None or isinstance(x, str)]
    rng = np.random.default_rng(0)
    items = list(smiles) + extra + sink
    labels = np.concatenate([y, rng.normal(size=len(extra) + len(sink))])
    order = rng.permutation(len(items))
    return [items[i] for i in order], labels[order]


def same_result(a, b) -> None:
    for k in RESULT_FIELDS:
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), k
    assert a.errors.tolist() == b.errors.tolist()


def on_threads(seen, pooling_only: bool = False) -> set:
    """The thread counts the observed kernel launches ran on (optionally those after the ids pipeline)."""
    out = {t for k, t in seen.threads if not (pooling_only and k in ECFP_KERNELS)}
    assert out, "no parallel kernel was launched"
    return out


def same_output(a, b) -> None:
    if sp.issparse(a):
        assert sp.issparse(b) and a.shape == b.shape
        for k in ("data", "indices", "indptr"):
            assert getattr(a, k).tobytes() == getattr(b, k).tobytes(), k
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------------------- ecfp
@pytest.mark.parametrize("params", [EcfpParams(), EcfpParams(radius=3, invariants="fcfp", chirality=True)])
def test_ecfp_does_not_depend_on_processes_chunks_or_threads(params):
    items, _ = molecules()
    items = items if params == EcfpParams() else items[:900]
    kw = params.to_dict()
    with launches() as seen:
        base = sortslice.ecfp(items, n_jobs=1, **kw)
    assert on_threads(seen) == {1} and not seen.processes
    assert base.n_invalid > 20
    with launches() as seen:
        same_result(base, sortslice.ecfp(items, n_jobs=2, chunk_size=450, **kw))
    assert seen.processes and set(seen.processes) == {2}
    same_result(base, sortslice.ecfp(items, n_jobs=1, chunk_size=500, **kw))
    with launches() as seen:
        same_result(base, sortslice.ecfp(items, chunk_size=350, **kw))  # n_jobs=None: the whole machine
    # (several chunks in process: one chunk's kernels on 1 thread overlap the next chunk's export)
    assert set(seen.processes) == {numba.config.NUMBA_NUM_THREADS} or max(on_threads(seen)) == (
        numba.config.NUMBA_NUM_THREADS
    )
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with launches() as seen:
            same_result(base, sortslice.ecfp(items, **kw))
        assert on_threads(seen) == {1} and not seen.processes  # the caller's setting is respected
    finally:
        numba.set_num_threads(old)


def test_kernels_do_not_depend_on_the_thread_count():
    items, _ = molecules()
    g = flatten(items, n_jobs=1).graph
    args = (
        g.atom_ptr,
        g.atom_invariants(),
        np.zeros(g.atom_ptr[-1], dtype=np.uint8),
        g.nbr_ptr,
        g.nbr_atom,
        g.nbr_bond,
        g.bond_ptr,
        g.bond_invariants(),
    )
    one = morgan_mod.morgan(*args, 2, threads=1)
    two = morgan_mod.morgan(*args, 2, threads=2)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(one, two))
    env1 = morgan_mod.morgan(*args, 3, provenance=True, threads=1)
    env2 = morgan_mod.morgan(*args, 3, provenance=True, threads=2)
    assert all(getattr(env1, k).tobytes() == getattr(env2, k).tobytes() for k in ("indptr", "ids", "atom", "radius"))
    indptr, ids, counts = one
    vocab = prevalence.document_frequency(indptr, ids)[0][::7][:1024]
    for kw in (
        dict(length=2048),
        dict(length=1024, vocabulary=vocab, use_counts=True, dtype=np.uint16),
        dict(length=512, use_counts=True, sparse=True, dtype=np.uint32),
        dict(length=1024, vocabulary=vocab, sparse=True),
    ):
        same_output(
            pooling.pool(indptr, ids, counts, threads=1, **kw), pooling.pool(indptr, ids, counts, threads=2, **kw)
        )
    row_class = (np.arange(indptr.shape[0] - 1) % 3) - 1
    a = prevalence.document_frequency(indptr, ids, row_class, 2, threads=1)
    b = prevalence.document_frequency(indptr, ids, row_class, 2, threads=2)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()


# -------------------------------------------------------------------------------- featurisers
FEATURISERS = {
    "sort_slice": lambda **kw: sortslice.SortSlice(length=512, **kw),
    "sort_slice_counts_sparse": lambda **kw: sortslice.SortSlice(
        length=256, counts=True, sparse=True, radius=3, chirality=True, **kw
    ),
    "hash_fold": lambda **kw: sortslice.HashFold(length=1024, counts=True, **kw),
    "mim": lambda **kw: sortslice.MIM(length=256, **kw),
    "filtering": lambda **kw: sortslice.Filtering(length=128, radius=1, **kw),
}


def state(f) -> dict:
    """Everything a fit learnt (the saved document without its creation time)."""
    from sortslice.engine.persist import to_document

    doc = to_document(f)
    doc.pop("created")
    return doc


@pytest.mark.parametrize("name", list(FEATURISERS))
def test_featurisers_do_not_depend_on_processes_or_threads(name):
    items, y = molecules()
    train, y_train, test = items[:900], y[:900], items[900:1500]
    with launches() as seen:
        one = FEATURISERS[name](n_jobs=1).fit(train, y_train)
        base = one.transform(test)
    assert on_threads(seen) == {1} and not seen.processes
    with launches() as seen:
        two = FEATURISERS[name](n_jobs=2).fit(train, y_train)
        second = two.transform(test)
    # the ids kernels overlap 2 parsing processes on 1 thread; prevalence and pooling run on 2
    assert on_threads(seen, pooling_only=True) == {2} and set(seen.processes) == {2}
    assert state(one) == state(two)
    same_output(base, second)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        with launches() as seen:
            same_output(base, FEATURISERS[name]().fit(train, y_train).transform(test))
        assert on_threads(seen) == {1}
    finally:
        numba.set_num_threads(old)


def _chunks(items, size, order):
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    return [parts[k] for k in order(len(parts))]


@pytest.mark.parametrize("size", [1, 97, 300])
def test_partial_fit_over_chunks_in_any_order(size):
    items, _ = molecules()
    items = items[:800] if size > 1 else items[:100]
    whole = sortslice.SortSlice(length=300).fit(items)
    rng = np.random.default_rng(size)
    orders = {
        "forward": lambda n: range(n),
        "backward": lambda n: range(n - 1, -1, -1),
        "shuffled": lambda n: rng.permutation(n),
    }
    probe = items[::5]
    for how, order in orders.items():
        streamed = sortslice.SortSlice(length=300)
        for chunk in _chunks(items, size, order):
            streamed.partial_fit(chunk)
        for k in ("state_ids_", "state_prevalence_", "vocabulary_", "prevalence_", "scores_"):
            a, b = getattr(whole, k), getattr(streamed, k)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (how, k)
        assert (streamed.n_molecules_, streamed.n_invalid_) == (whole.n_molecules_, whole.n_invalid_)
        same_output(whole.transform(probe), streamed.transform(probe))
        # examples are first-in-data-order: re-derived from the data in its order, the models are equal
        streamed.find_examples([items[i : i + 250] for i in range(0, len(items), 250)])
        assert state(streamed) == state(whole), how


def test_merge_in_any_order_or_grouping():
    items, _ = molecules()
    parts = [items[i : i + 300] for i in range(0, 1200, 300)]
    fitted = [sortslice.SortSlice(length=400, counts=True).fit(p) for p in parts]
    whole = sortslice.SortSlice(length=400, counts=True).fit(items[:1200])
    a, b, c, d = fitted
    for merged in (
        a.merge(b).merge(c).merge(d),
        d.merge(c).merge(b).merge(a),
        a.merge(c).merge(b.merge(d)),
        (b.merge(d)).merge(c.merge(a)),
    ):
        for k in ("state_ids_", "state_prevalence_", "vocabulary_", "prevalence_"):
            assert getattr(merged, k).tobytes() == getattr(whole, k).tobytes(), k
        assert (merged.n_molecules_, merged.n_invalid_) == (whole.n_molecules_, whole.n_invalid_)
        merged.find_examples([items[:1200]])
        assert state(merged) == state(whole)


@pytest.mark.parametrize("name", ["sort_slice", "mim", "filtering"])
def test_fit_does_not_depend_on_the_order_of_rows(name):
    items, y = molecules()
    items, y = items[:800], y[:800]
    perm = np.random.default_rng(4).permutation(len(items))
    a = FEATURISERS[name]().fit(items, y)
    b = FEATURISERS[name]().fit([items[i] for i in perm], y[perm])
    assert a.vocabulary_.tobytes() == b.vocabulary_.tobytes()
    assert np.asarray(a.scores_).tobytes() == np.asarray(b.scores_).tobytes()
    assert a.prevalence_.tobytes() == b.prevalence_.tobytes()


# ---------------------------------------------------------------------------------------- CLI
def _cli(*args):
    result = run_cli(*args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def cli_input(tmp_path_factory):
    import csv

    items, y = molecules()
    path = tmp_path_factory.mktemp("determinism") / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["smiles", "id", "y"])
        for i, s in enumerate(items[:500]):
            if s is not None and "\x00" not in s and hostile.polars_safe(s):
                w.writerow([s, f"m{i}", y[i]])
    return path


SETTINGS = [("--chunk-size", "1000", "-j", "1"), ("--chunk-size", "97", "-j", "2"), ("--chunk-size", "300", "-j", "1")]


@pytest.mark.parametrize("command, suffix", [("ids", "csv"), ("fold", "npy"), ("transform", "npz")])
def test_cli_outputs_are_byte_identical(cli_input, tmp_path, command, suffix):
    model = tmp_path / "model.json"
    _cli("fit", cli_input, "-o", model, "--length", "128")
    outputs = []
    for k, opts in enumerate(SETTINGS):
        out = tmp_path / f"out{k}.{suffix}"
        args = (command, model, cli_input) if command == "transform" else (command, cli_input)
        _cli(*args, "-o", out, *opts)
        outputs.append(out.read_bytes())
    assert all(o == outputs[0] for o in outputs[1:])


@pytest.mark.parametrize("method", ["sort-slice", "mim"])
def test_cli_fit_gives_the_same_model_for_any_chunking(cli_input, tmp_path, method):
    docs = []
    for k, opts in enumerate(SETTINGS):
        model = tmp_path / f"m{k}.json"
        label = ("--label", "y") if method == "mim" else ()
        _cli("fit", cli_input, "-o", model, "--length", "64", "--method", method, *label, *opts)
        doc = json.loads(model.read_text())
        doc.pop("created")
        docs.append(doc)
    assert all(d == docs[0] for d in docs[1:])


def test_cli_parquet_bytes_do_not_depend_on_chunking(cli_input, tmp_path):
    import pyarrow.parquet as pq

    outs = []
    for k, opts in enumerate(SETTINGS):
        out = tmp_path / f"out{k}.parquet"
        _cli("ids", cli_input, "-o", out, "--keep", "id", *opts)
        outs.append(out)
    tables = [pq.read_table(o) for o in outs]
    assert all(t.equals(tables[0]) for t in tables[1:])
    assert all(o.read_bytes() == outs[0].read_bytes() for o in outs[1:])
