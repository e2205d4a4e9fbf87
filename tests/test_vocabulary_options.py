"""Vocabulary options: ``min_df``/``max_df`` against scikit-learn's ``CountVectorizer`` and a slow pure-Python
reference, through ``fit``, merged ``partial_fit``s, ``merge``, ``from_prevalence``, Polars and the command line;
and count fingerprints weighted by scikit-learn's ``TfidfTransformer`` in a Pipeline (dense and sparse).

The oracle for which ids qualify is ``CountVectorizer`` itself, fed each molecule's ids as its tokens (an id
is a "term", a molecule a "document"); the ranking is ``tests/reference.py``'s Sort & Slice reference.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.pipeline import Pipeline

import sortslice

from datasets import PAPER, paper_smiles, paper_table
from helpers import run_cli
from reference import prevalence_reference, sort_slice_vocabulary_reference

#: (min_df, max_df): counts, fractions, both, and the defaults
BOUNDS = [(5, 1.0), (0.01, 0.5), (2, 0.9), (1, 100), (0.02, 0.95), (1, 1.0)]
#: molecules per data set in the default run (the whole sets under -m slow)
SAMPLE = 500


def _id_lists(fp) -> list[list[int]]:
    return [fp.ids[fp.indptr[r] : fp.indptr[r + 1]].tolist() for r in range(len(fp)) if fp.valid[r]]


def qualifying_ids(id_lists, min_df, max_df) -> set[int]:
    """The ids CountVectorizer keeps with these bounds (each molecule a document of its ids)."""
    cv = CountVectorizer(analyzer=lambda doc: [str(i) for i in doc], min_df=min_df, max_df=max_df)
    try:
        cv.fit(id_lists)
    except ValueError as exc:
        if "no terms remain" in str(exc):
            return set()
        raise
    return {int(t) for t in cv.vocabulary_}


def vocabulary_reference(id_lists, min_df, max_df, length, tie="larger_id_first") -> list[int]:
    """Slow reference: prevalence of every id, bounded by CountVectorizer's verdict, ranked by the spec."""
    keep = qualifying_ids(id_lists, min_df, max_df)
    prevalence = {i: p for i, p in prevalence_reference(id_lists).items() if i in keep}
    return sort_slice_vocabulary_reference(prevalence, length, tie)


def _molecules(name: str, whole: bool) -> list[str]:
    smiles = paper_smiles(name)
    return smiles if whole else smiles[:SAMPLE]


def _check_set(name: str, whole: bool) -> None:
    smiles = _molecules(name, whole)
    fp = sortslice.ecfp(smiles)
    lists = _id_lists(fp)
    thirds = np.array_split(np.arange(len(fp)), 3)
    for min_df, max_df in BOUNDS:
        for length in (64, 1024):
            want = vocabulary_reference(lists, min_df, max_df, length)
            params = dict(length=length, min_df=min_df, max_df=max_df)
            label = (name, min_df, max_df, length)
            whole_fit = sortslice.SortSlice(**params).fit(fp)
            assert whole_fit.vocabulary_.tolist() == want, label
            assert whole_fit.transform(fp).shape == (len(fp), length)
            streamed = sortslice.SortSlice(**params)
            for rows in thirds:
                streamed.partial_fit(fp.take(rows))
            assert streamed.vocabulary_.tolist() == want, label
            parts = [sortslice.SortSlice(**params).fit(fp.take(rows)) for rows in thirds]
            merged = parts[0].merge(parts[1]).merge(parts[2])
            assert merged.vocabulary_.tolist() == want, label
            rebuilt = sortslice.SortSlice.from_prevalence(
                whole_fit.state_ids_, whole_fit.state_prevalence_, whole_fit.n_molecules_, **params
            )
            assert rebuilt.vocabulary_.tolist() == want, label


@pytest.mark.parametrize("name", list(PAPER))
def test_sort_slice_bounds_equal_the_reference(name):
    _check_set(name, whole=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAPER))
def test_sort_slice_bounds_equal_the_reference_whole_sets(name):
    _check_set(name, whole=True)


@pytest.mark.parametrize("cls", ["MIM", "Filtering"])
@pytest.mark.parametrize("name", ["lipophilicity", "ames"])
def test_supervised_bounds(cls, name):
    smiles, y = paper_table(name)
    smiles, y = smiles[:300], np.asarray(y[:300])
    fp = sortslice.ecfp(smiles, radius=1)
    lists = _id_lists(fp)
    for min_df, max_df in [(3, 0.5), (0.05, 1.0), (1, 20)]:
        keep = qualifying_ids(lists, min_df, max_df)
        # length above the number of qualifying ids: no later step removes any, the columns are exactly them
        big = getattr(sortslice, cls)(length=4096, radius=1, min_df=min_df, max_df=max_df).fit(smiles, y)
        assert set(big.vocabulary_.tolist()) == keep, (cls, min_df, max_df)
        prevalence = prevalence_reference(lists)
        assert big.prevalence_.tolist() == [prevalence[i] for i in big.vocabulary_.tolist()]
        # a short vocabulary: every column qualifies
        small = getattr(sortslice, cls)(length=16, radius=1, min_df=min_df, max_df=max_df).fit(smiles, y)
        assert set(small.vocabulary_.tolist()) <= keep and len(small.vocabulary_) == min(16, len(keep))


def test_fewer_qualifying_ids_than_length_pad_with_zero_columns():
    smiles = paper_smiles("mpro")[:200]
    ss = sortslice.SortSlice(length=512, min_df=0.5).fit(smiles)
    n = len(ss.vocabulary_)
    assert 0 < n < 512
    X = ss.transform(smiles)
    assert X.shape == (200, 512) and not X[:, n:].any() and X[:, :n].any(axis=0).all()
    names = ss.get_feature_names_out()
    assert names[n] == f"ecfp4_pad{n}" and len(names) == 512
    none = sortslice.SortSlice(length=8, min_df=201).fit(smiles[:200] + ["CCO"])  # 201 of 201: nothing qualifies
    assert len(none.vocabulary_) == 0 and not none.transform(smiles).any()


def test_validation_is_scikit_learns():
    docs = [["1", "2"], ["2", "3"], ["3"], ["1", "3"]]
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1"]
    values = [0, 1, 2, 10**9, -1, 0.0, 0.5, 1.0, 1.5, -0.1, np.int64(2), np.float32(0.5), "1", None, [1]]

    def sklearn_accepts(**kw) -> bool:
        try:
            CountVectorizer(analyzer=lambda d: d, **kw).fit(docs)
        except ValueError as exc:  # InvalidParameterError is a ValueError
            return "no terms remain" in str(exc)
        except TypeError:
            return False
        return True

    def ours_accepts(**kw) -> bool:
        try:
            sortslice.SortSlice(length=4, radius=1, **kw).fit(smiles)
        except ValueError:
            return False
        return True

    for v in values:
        for key in ("min_df", "max_df"):
            assert ours_accepts(**{key: v}) == sklearn_accepts(**{key: v}), (key, v)
    for kw in [dict(min_df=3, max_df=2), dict(min_df=0.8, max_df=0.5), dict(min_df=3, max_df=0.5)]:
        assert not sklearn_accepts(**kw) and not ours_accepts(**kw), kw
    with pytest.raises(ValueError, match="max_df=2 corresponds to < documents than min_df=3"):
        sortslice.SortSlice(min_df=3, max_df=2).fit(smiles)
    for cls in ("MIM", "Filtering"):
        with pytest.raises(ValueError, match="corresponds to < documents"):
            getattr(sortslice, cls)(min_df=3, max_df=0.5).fit(smiles, [0, 1, 0, 1])
    for bad in (True, False):  # booleans are not counts (scikit-learn would take True as 1)
        with pytest.raises(ValueError, match="min_df must be"):
            sortslice.SortSlice(min_df=bad).fit(smiles)


def test_a_fit_that_fails_changes_nothing_and_partial_fit_waits_for_more_molecules():
    smiles = paper_smiles("ames")[:400]
    ss = sortslice.SortSlice(length=64, min_df=20, max_df=0.5).fit(smiles)
    before = ss.vocabulary_.copy()
    with pytest.raises(ValueError, match="corresponds to < documents"):
        ss.fit(smiles[:30])  # 0.5 of 30 molecules < 20
    np.testing.assert_array_equal(ss.vocabulary_, before)
    # streamed: 30 molecules are not enough yet (no column), 400 are, exactly as fit on all of them
    streamed = sortslice.SortSlice(length=64, min_df=20, max_df=0.5)
    streamed.partial_fit(smiles[:30])
    assert len(streamed.vocabulary_) == 0
    with pytest.raises(ValueError, match="corresponds to < documents"):
        streamed.document_frequency_range()
    streamed.partial_fit(smiles[30:])
    np.testing.assert_array_equal(streamed.vocabulary_, before)
    assert streamed.document_frequency_range() == (20, 200.0)


def test_polars_fit_lazy_applies_the_bounds_to_the_whole_column():
    import polars as pl

    from sortslice.polars import fit_lazy

    smiles = paper_smiles("lipophilicity")[:600]
    lf = pl.LazyFrame({"smiles": smiles})
    ref = sortslice.SortSlice(length=128, min_df=25, max_df=0.6).fit(smiles)
    got = fit_lazy(sortslice.SortSlice(length=128, min_df=25, max_df=0.6), lf, "smiles", batch_size=16)
    np.testing.assert_array_equal(got.vocabulary_, ref.vocabulary_)
    with pytest.raises(ValueError, match="corresponds to < documents"):
        fit_lazy(sortslice.SortSlice(min_df=500, max_df=0.5), lf, "smiles", batch_size=100)


def test_saved_and_shown(tmp_path):
    smiles = paper_smiles("mpro")[:300]
    for cls, y in (("SortSlice", None), ("MIM", np.arange(300) % 2), ("Filtering", np.arange(300) % 2)):
        f = getattr(sortslice, cls)(length=64, radius=1, min_df=3, max_df=0.75).fit(smiles, y)
        path = tmp_path / f"{cls}.json"
        f.save(path)
        doc = json.loads(path.read_text())
        assert doc["params"]["min_df"] == 3 and doc["params"]["max_df"] == 0.75
        g = sortslice.load(path)
        assert (g.min_df, g.max_df) == (3, 0.75) and type(g.min_df) is int and type(g.max_df) is float
        np.testing.assert_array_equal(g.transform(smiles), f.transform(smiles))
    # an int and a float of the same value mean different things, and stay what they were
    f = sortslice.SortSlice(length=8, min_df=0.0, max_df=1000).fit(smiles)
    f.save(tmp_path / "types.json")
    g = sortslice.load(tmp_path / "types.json")
    assert type(g.min_df) is float and type(g.max_df) is int
    info = run_cli("info", tmp_path / "SortSlice.json")
    assert info.exit_code == 0, info.output
    assert re.search(r"document frequency:\s+min_df 3: at least 3 molecules; max_df 0.75: at most 0.75", info.output)


def test_cli_round_trip(tmp_path):
    smiles = paper_smiles("aqsoldb")[:400]
    data = tmp_path / "train.csv"
    data.write_text("smiles\n" + "\n".join(smiles) + "\n")
    model = tmp_path / "m.json"
    run = run_cli("fit", data, "-o", model, "-L", "256", "--min-df", "4", "--max-df", "0.5", "--chunk-size", "7")
    assert run.exit_code == 0, run.output
    ref = sortslice.SortSlice(length=256, min_df=4, max_df=0.5).fit(smiles)
    got = sortslice.load(model)
    assert (got.min_df, got.max_df) == (4, 0.5)
    np.testing.assert_array_equal(got.vocabulary_, ref.vocabulary_)
    out = tmp_path / "X.npy"
    run = run_cli("transform", model, data, "-o", out)
    assert run.exit_code == 0, run.output
    np.testing.assert_array_equal(np.load(out), ref.transform(smiles))
    # supervised, and the refusals: one line each
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("smiles,y\n" + "\n".join(f"{s},{i % 2}" for i, s in enumerate(smiles)) + "\n")
    run = run_cli("fit", labelled, "-o", model, "--method", "mim", "--label", "y", "--min-df", "0.05")
    assert run.exit_code == 0, run.output
    assert sortslice.load(model).min_df == 0.05
    for args, message in [
        (["--min-df", "0"], "min_df must be an int >= 1"),
        (["--max-df", "1.5"], "max_df must be an int >= 1"),
        (["--min-df", "many"], "neither an integer"),
        (["--min-df", "300", "--max-df", "0.5"], "corresponds to < documents than min_df=300"),
        (["--method", "hash-fold", "--min-df", "2"], "they apply to sort-slice, mim and filter"),
    ]:
        run = run_cli("fit", data, "-o", tmp_path / "x.json", *args)
        assert run.exit_code != 0 and message in run.output, (args, run.output)
        assert not (tmp_path / "x.json").exists()


# ------------------------------------------------------------------------------------- weighting
def _tokens(fp):
    """Each molecule's ids repeated by their counts: CountVectorizer then counts what ``counts=True`` pools."""
    return [
        [
            str(i)
            for i, c in zip(fp.ids[fp.indptr[r] : fp.indptr[r + 1]], fp.counts[fp.indptr[r] : fp.indptr[r + 1]])
            for _ in range(int(c))
        ]
        for r in range(len(fp))
    ]


@pytest.mark.parametrize("sparse", [False, True])
def test_counts_in_a_pipeline_with_tfidf_equal_count_vectorizer(sparse):
    smiles, _ = paper_table("lipophilicity")
    train, test = smiles[:400], smiles[400:600]
    pipe = Pipeline(
        [("fp", sortslice.SortSlice(length=512, counts=True, sparse=sparse, min_df=2)), ("tfidf", TfidfTransformer())]
    )
    got = pipe.fit(train).transform(test)
    assert sp.issparse(got)  # TfidfTransformer returns CSR either way
    # the oracle: CountVectorizer over the same ids with the fitted vocabulary, then TfidfTransformer
    vocabulary = {str(int(i)): j for j, i in enumerate(pipe["fp"].vocabulary_)}
    cv = CountVectorizer(analyzer=lambda doc: doc, vocabulary=vocabulary)
    counts_train = cv.transform(_tokens(sortslice.ecfp(train)))
    counts_test = cv.transform(_tokens(sortslice.ecfp(test)))
    n = len(vocabulary)
    np.testing.assert_array_equal(
        pipe["fp"].transform(test)[:, :n].toarray() if sparse else pipe["fp"].transform(test)[:, :n],
        counts_test.toarray(),
    )
    want = TfidfTransformer().fit(counts_train).transform(counts_test).toarray()
    np.testing.assert_allclose(got.toarray()[:, :n], want, rtol=1e-12, atol=0)
    assert not got.toarray()[:, n:].any()


def test_the_documented_tfidf_example_runs():
    """The user guide's IDF example (docs/guide/vocabulary.md), executed as written after the page's set-up."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "vocabulary.md").read_text()
    set_up = re.search(r"```python\n(.*?)```", page, re.S)
    section = page[page.index("## IDF weighting") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert set_up is not None and block is not None
    namespace: dict = {}
    for code in (set_up.group(1), block.group(1)):
        exec(compile(code, "vocabulary.md", "exec"), namespace)  # noqa: S102 - the repository's own docs
    X = namespace["X"]
    assert X.shape[0] == 2 and X.shape[1] == 2048
