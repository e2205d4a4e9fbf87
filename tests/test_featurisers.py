"""Featurisers (``engine/featurisers.py``) against real oracles and the spec's reference semantics.

* ``HashFold`` == RDKit's ``GetFingerprintAsNumPy`` / ``GetCountFingerprintAsNumPy`` of
  ``GetMorganGenerator(radius=2, fpSize=L)`` on every molecule of the five paper data sets, for
  L in {512, 1024, 2048} (ids are computed once per file and shared by the tests of this module);
* ``SortSlice`` == the pure-Python Sort & Slice of ``reference.py`` (document-frequency prevalence,
  larger id first on ties, or smaller id first) on the same data, fitted on one half and applied to the
  other (so out-of-vocabulary ids occur), binary and counts, dense and sparse;
* ``MIM`` scores == ``reference.mutual_information_reference``; ``Filtering`` scores == scipy's
  ``chi2_contingency(correction=True)``; their selection rules re-implemented slowly from the spec;
* Filtering's non-closed step on a hand-made training set (the *smaller* fragment is removed);
* streaming (``partial_fit``) and ``merge`` == ``fit`` on everything; ``EcfpResult`` input; invalid
  molecules; the edge cases of the issue; the scikit-learn protocol, including sklearn's own
  estimator checks; ``explain`` (checked against RDKit's bit-info map) and ``draw``.
"""

from __future__ import annotations

import hashlib
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from datasets import PAPER, paper_smiles, paper_table
from helpers import dense
from reference import (
    mutual_information_reference,
    prevalence_reference,
    sort_slice_transform_reference,
    sort_slice_vocabulary_reference,
)

LENGTHS = (512, 1024, 2048)


def S():
    import sortslice

    return sortslice


def rows_of(fp, start=0, stop=None):
    """Rows ``start:stop`` of an EcfpResult as a new EcfpResult (same parameters)."""
    from sortslice import EcfpResult

    stop = len(fp) if stop is None else stop
    lo, hi = int(fp.indptr[start]), int(fp.indptr[stop])
    return EcfpResult(
        fp.indptr[start : stop + 1] - lo,
        fp.ids[lo:hi],
        fp.counts[lo:hi],
        fp.valid[start:stop],
        fp.errors[start:stop],
        fp.params,
    )


def id_lists(fp):
    return [fp.row(i)[0].tolist() for i in range(len(fp))]


def ids_counts(fp):
    return [(a.tolist(), b.tolist()) for a, b in (fp.row(i) for i in range(len(fp)))]


@pytest.fixture(scope="module")
def paper():
    """Per paper data set: SMILES, RDKit Mols and ECFP4 ids (computed once for the whole module)."""
    from rdkit import Chem

    out = {}
    for name in PAPER:
        smiles = paper_smiles(name)
        assert len(smiles) > 1000, f"{name}: the in-repository data set looks truncated"
        mols = [Chem.MolFromSmiles(s) for s in smiles]
        fp = S().ecfp(mols, radius=2)
        # our parser and RDKit's agree on which inputs are molecules
        assert fp.valid.tolist() == [m is not None for m in mols], name
        out[name] = (smiles, mols, fp)
    return out


# ---------------------------------------------------------------------------- HashFold == RDKit
@pytest.mark.parametrize("name", [n if n == "mpro" else pytest.param(n, marks=pytest.mark.slow) for n in PAPER])
def test_hash_fold_equals_rdkit_on_every_paper_molecule(paper, name):
    from rdkit.Chem import rdFingerprintGenerator

    smiles, mols, fp = paper[name]
    ok = [i for i, m in enumerate(mols) if m is not None]
    for length in LENGTHS:
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=length)
        for counts in (False, True):
            ours = S().HashFold(length=length, counts=counts).fit().transform(fp)
            assert ours.shape == (len(mols), length)
            assert ours.dtype == (np.uint32 if counts else np.uint8)
            get = gen.GetCountFingerprintAsNumPy if counts else gen.GetFingerprintAsNumPy
            theirs = np.stack([get(mols[i]) for i in ok])
            same = (ours[ok] == theirs).all(axis=1)
            if not same.all():
                i = ok[int(np.flatnonzero(~same)[0])]
                pytest.fail(f"{name} row {i} {smiles[i]!r}: L={length} counts={counts} differs from RDKit")
            assert not ours[~fp.valid].any()


def test_hash_fold_smiles_path_and_sparse_output(paper):
    smiles, mols, fp = paper["mpro"]
    a = S().HashFold(length=1024).fit_transform(smiles)
    b = S().HashFold(length=1024, sparse=True).fit().transform(mols)
    assert sp.isspmatrix_csr(b) and b.has_sorted_indices
    assert np.array_equal(a, S().HashFold(length=1024).fit().transform(fp))
    assert np.array_equal(a, b.toarray())


# ---------------------------------------------------------------------- Sort & Slice == reference
@pytest.mark.parametrize("name", list(PAPER))
def test_sort_slice_equals_reference_semantics_on_paper_data(paper, name):
    _, _, fp = paper[name]
    half = len(fp) // 2
    train, test = rows_of(fp, 0, half), rows_of(fp, half)
    prevalence = prevalence_reference(id_lists(train))
    test_rows = ids_counts(test)[:800]
    vocabularies = {}
    for tie in ("larger_id_first", "smaller_id_first"):
        ref_vocab = sort_slice_vocabulary_reference(prevalence, 1024, tie)
        ss = S().SortSlice(length=1024, tie_break=tie).fit(train)
        assert ss.vocabulary_.tolist() == ref_vocab
        assert ss.prevalence_.tolist() == [prevalence[i] for i in ref_vocab]
        assert ss.n_molecules_ == int(train.valid.sum()) and ss.n_distinct_ids_ == len(prevalence)
        vocabularies[tie] = ref_vocab
        for counts in (False, True):
            ss.set_params(counts=counts)
            out = ss.transform(rows_of(test, 0, len(test_rows)))
            assert out.shape == (len(test_rows), 1024)
            assert out.tolist() == sort_slice_transform_reference(test_rows, ref_vocab, 1024, counts=counts)
            ss.set_params(sparse=True)
            assert np.array_equal(ss.transform(rows_of(test, 0, len(test_rows))).toarray(), out)
            ss.set_params(sparse=False)
    # where the cut-off falls inside a run of tied prevalences the rule decides which ids are kept
    cut = prevalence[vocabularies["larger_id_first"][-1]]
    kept = {i for i in vocabularies["larger_id_first"] if prevalence[i] == cut}
    left_out = {i for i, p in prevalence.items() if p == cut} - kept
    if left_out:
        assert vocabularies["larger_id_first"] != vocabularies["smaller_id_first"]
        assert min(kept) > max(left_out)


def test_the_paper_data_have_ties_at_the_cut_off(paper):
    # the spec: "tens to hundreds of ids share the prevalence at rank 1024" -- so the tie tests above bite
    n_tied = []
    for name in PAPER:
        fp = paper[name][2]
        prevalence = prevalence_reference(id_lists(fp))
        vocab = sort_slice_vocabulary_reference(prevalence, 1024)
        n_tied.append(sum(p == prevalence[vocab[-1]] for p in prevalence.values()))
    assert max(n_tied) >= 10, n_tied


def test_sort_slice_from_smiles_equals_from_ids(paper):
    smiles, mols, fp = paper["mpro"]
    a = S().SortSlice(length=512).fit(smiles)
    b = S().SortSlice(length=512).fit(fp)
    c = S().SortSlice(length=512).fit(mols)
    assert a.vocabulary_.tolist() == b.vocabulary_.tolist() == c.vocabulary_.tolist()
    assert np.array_equal(a.transform(smiles[:300]), b.transform(fp)[:300])


def test_partial_fit_over_batches_equals_fit(paper):
    smiles, mols, fp = paper["lipophilicity"]
    whole = S().SortSlice(length=1024).fit(fp)
    streamed = S().SortSlice(length=1024)
    streamed.partial_fit(["not a smiles", None])  # a first batch with no valid molecule
    for lo, hi in ((0, 1000), (1000, 1000), (1000, 2500), (2500, len(fp))):
        streamed.partial_fit(rows_of(fp, lo, hi))
    streamed.partial_fit([])
    assert streamed.vocabulary_.tolist() == whole.vocabulary_.tolist()
    assert streamed.prevalence_.tolist() == whole.prevalence_.tolist()
    assert streamed.n_molecules_ == whole.n_molecules_ and streamed.n_invalid_ == whole.n_invalid_ + 2
    assert np.array_equal(streamed.transform(fp), whole.transform(fp))
    # fit() starts again from nothing
    again = streamed.fit(rows_of(fp, 0, 100))
    assert (
        again.n_molecules_ == 100
        and again.vocabulary_.tolist() == S().SortSlice(length=1024).fit(rows_of(fp, 0, 100)).vocabulary_.tolist()
    )


def test_find_examples_makes_streamed_examples_equal_fit(paper):
    """After partial_fit, examples depend on chunking; find_examples restores fit's first-in-data-order ones."""
    smiles = paper["mpro"][0]
    whole = S().SortSlice(length=256).fit(smiles)
    for step in (37, 200):
        streamed = S().SortSlice(length=256)
        for lo in range(0, len(smiles), step):
            streamed.partial_fit(smiles[lo : lo + step])
        batches = [smiles[lo : lo + 500] for lo in range(0, len(smiles), 500)]
        streamed.find_examples(iter(batches))
        assert streamed._examples == whole._examples
        assert streamed.explain() == whole.explain()
    # the oracle: each column's example comes from the first molecule (in data order) holding its id
    fp = S().ecfp(smiles)
    from rdkit import Chem

    for col in whole.explain(top=50):
        first = next(r for r in range(len(fp)) if col["id"] in set(fp.row(r)[0].tolist()))
        assert col["example"]["smiles"] == Chem.MolToSmiles(Chem.MolFromSmiles(smiles[first]))


def test_merge_of_partial_fits_equals_fit_on_the_union(paper):
    _, _, fp = paper["aqsoldb"]
    cut = 3333
    whole = S().SortSlice(length=1024, counts=True).fit(fp)
    a = S().SortSlice(length=1024, counts=True).partial_fit(rows_of(fp, 0, cut))
    b = S().SortSlice(length=1024, counts=True)
    b.partial_fit(rows_of(fp, cut, 6000)).partial_fit(rows_of(fp, 6000))
    for merged in (a.merge(b), b.merge(a)):
        assert merged.vocabulary_.tolist() == whole.vocabulary_.tolist()
        assert merged.prevalence_.tolist() == whole.prevalence_.tolist()
        assert merged.n_molecules_ == whole.n_molecules_ and merged.n_distinct_ids_ == whole.n_distinct_ids_
        assert np.array_equal(merged.transform(rows_of(fp, 0, 500)), whole.transform(rows_of(fp, 0, 500)))
    # merging with a worker that saw only invalid molecules changes nothing but the invalid count
    empty = S().SortSlice(length=1024, counts=True).fit(["xx", None])
    m = whole.merge(empty)
    assert m.vocabulary_.tolist() == whole.vocabulary_.tolist() and m.n_invalid_ == 2
    assert empty.merge(whole).vocabulary_.tolist() == whole.vocabulary_.tolist()
    with pytest.raises(ValueError, match="different parameters"):
        whole.merge(S().SortSlice(length=512, counts=True).fit(rows_of(fp, 0, 10)))


# ------------------------------------------------------------------------------ EcfpResult input
@pytest.mark.parametrize("cls", ["SortSlice", "HashFold", "MIM", "Filtering"])
def test_ecfp_result_with_other_parameters_is_rejected(cls):
    smiles = ["CCO", "c1ccccc1N", "CC(=O)O", "CCN"]
    y = [0, 1, 0, 1]
    f = getattr(S(), cls)(length=16)
    for other in (dict(radius=1), dict(invariants="fcfp"), dict(chirality=True)):
        fp = S().ecfp(smiles, **other)
        key, value = next(iter(other.items()))
        with pytest.raises(ValueError, match=f"^ids were computed with {key}={value!r}; this featuriser uses {key}="):
            f.fit_transform(fp, y)
        if cls != "HashFold":  # HashFold.fit learns nothing and does not look at X; its transform checks
            with pytest.raises(
                ValueError, match=f"^ids were computed with {key}={value!r}; this featuriser uses {key}="
            ):
                f.fit(fp, y)
    f.fit(smiles, y)
    with pytest.raises(ValueError, match=r"radius=3; this featuriser uses radius=2$"):
        f.transform(S().ecfp(smiles, radius=3))
    if cls != "Filtering":
        fp = S().ecfp(smiles)
        assert np.array_equal(getattr(S(), cls)(length=16).fit(fp, y).transform(fp), f.transform(smiles))
    else:  # the subgraph test needs the molecules themselves
        with pytest.raises(ValueError, match="needs the molecules"):
            S().Filtering(length=16).fit(S().ecfp(smiles), y)


# ------------------------------------------------------------------------- invalid molecules
@pytest.mark.parametrize("cls", ["SortSlice", "HashFold", "MIM", "Filtering"])
def test_invalid_molecules_give_zero_rows_and_reasons(cls):
    from rdkit import Chem

    train = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCCl", "not a smiles", "CCN"]
    y = [0.5, 1.5, 2.5, 0.1, 9.9, 3.0]
    f = getattr(S(), cls)(length=64).fit(train, y)
    batch = ["CCO", "C1CC", None, "", Chem.Mol(), "[Na+].[Cl-]", 42, "c1ccccc1O"]
    res = f.featurise(batch)
    X = dense(res.X)
    assert X.shape == (len(batch), 64)
    assert res.valid.tolist() == [True, False, False, False, True, True, False, True]
    assert [e is None for e in res.errors] == res.valid.tolist()
    assert all(isinstance(e, str) and e for e in res.errors[~res.valid])
    assert "missing" in res.errors[2] and "empty" in res.errors[3] and "int" in res.errors[6]
    assert not X[~res.valid].any()
    assert not X[4].any()  # a molecule without atoms has no ids
    assert X[0].any() and X[7].any()
    assert np.array_equal(dense(f.transform(batch)), X)
    # all-invalid batches
    bad = f.featurise(["C1CC", None, ""])
    assert not dense(bad.X).any() and not bad.valid.any() and dense(bad.X).shape == (3, 64)
    assert not f.transform_one("C1CC").any()
    # strict mode raises on the first unusable molecule, whatever the input form
    strict = getattr(S(), cls)(length=64, strict=True)
    with pytest.raises(S().InvalidMoleculeError, match="row 1"):
        strict.fit_transform(["CCO", "C1CC", "CCN"], [0, 1, 0])
    strict = f.set_params(strict=True)
    with pytest.raises(S().InvalidMoleculeError, match="row 2"):
        strict.transform(["CCO", "CCN", None])
    with pytest.raises(S().InvalidMoleculeError, match="row 1"):
        strict.transform(S().ecfp(["CCO", "C1CC"]))
    with pytest.raises(S().InvalidMoleculeError):
        strict.transform_one("C1CC")


# ------------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("cls", ["SortSlice", "MIM", "Filtering"])
def test_single_training_molecule_and_zero_padded_tail(cls):
    f = getattr(S(), cls)(length=1024).fit(["CCO"], [1.0])
    n = len(S().ecfp(["CCO"]).ids)
    assert len(f.vocabulary_) == n < 1024
    out = f.transform(["CCO", "CCCC"])
    assert out.shape == (2, 1024) and out[0, :n].all() and not out[:, n:].any()
    names = f.get_feature_names_out()
    assert len(names) == 1024 and names[n] == "ecfp4_pad" + str(n) and names[0] == f"ecfp4_{f.vocabulary_[0]}"


@pytest.mark.parametrize("counts", [False, True])
def test_length_one(counts):
    smiles = ["CCO", "CCN", "c1ccccc1", "[He]", "C"]
    ss = S().SortSlice(length=1, counts=counts).fit(smiles)
    fp = S().ecfp(smiles)
    prevalence = prevalence_reference(id_lists(fp))
    assert ss.vocabulary_.tolist() == sort_slice_vocabulary_reference(prevalence, 1)
    assert ss.transform(smiles).tolist() == sort_slice_transform_reference(
        ids_counts(fp), ss.vocabulary_.tolist(), 1, counts=counts
    )
    hf = S().HashFold(length=1, counts=counts).fit().transform(smiles)
    assert hf[:, 0].tolist() == [
        int(fp.counts[fp.indptr[i] : fp.indptr[i + 1]].sum()) if counts else int(fp.indptr[i + 1] > fp.indptr[i])
        for i in range(len(smiles))
    ]
    for cls in ("MIM", "Filtering"):
        out = getattr(S(), cls)(length=1, counts=counts).fit(smiles, [0, 1, 0, 1, 1]).transform(smiles)
        assert out.shape == (5, 1)


@pytest.mark.parametrize("cls", ["SortSlice", "MIM", "Filtering"])
def test_fit_on_only_invalid_molecules(cls):
    f = getattr(S(), cls)(length=8).fit(["xx", None, ""], [0, 1, 0])
    assert len(f.vocabulary_) == 0 and f.n_molecules_ == 0 and f.n_invalid_ == 3
    assert f.transform(["CCO", "C1CC"]).tolist() == [[0] * 8] * 2
    assert f.get_feature_names_out().tolist() == [f"ecfp4_pad{j}" for j in range(8)]


def test_single_class_labels_score_without_nans():
    # every label equal (or every regression target at the median): nothing to learn, but no NaNs
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1O", "CCO"]
    for cls in ("MIM", "Filtering"):
        f = getattr(S(), cls)(length=8).fit(smiles, [1, 1, 1, 1, 1])
        assert np.isfinite(f.scores_).all()
    f = S().Filtering(length=8).fit(smiles, [2.0] * 5)
    assert f.scores_.tolist() == [1.0] * len(f.scores_)


# ------------------------------------------------------------------------- MIM and Filtering
def _presence_table(fp):
    rows = id_lists(fp)
    support = {}
    for r, ids in enumerate(rows):
        for i in ids:
            support.setdefault(i, set()).add(r)
    return support


def _binarise(y, task):
    y = np.asarray(y, dtype=float)
    return (y >= np.median(y)).astype(int).tolist() if task == "regression" else y.astype(int).tolist()


@pytest.mark.parametrize("name,task", [("ames", "classification"), ("lipophilicity", "regression")])
def test_mim_equals_a_slow_reimplementation_of_the_spec(paper, name, task):
    _, _, fp_all = paper[name]
    _, y_all = paper_table(name)
    n, length = 400, 300
    fp, y = rows_of(fp_all, 0, n), y_all[:n]
    mim = S().MIM(length=length, task=task).fit(fp, y)
    labels = _binarise(y, task)
    support = _presence_table(fp)
    # 1. identical supports: keep the largest id of each group; drop the others smallest id first,
    #    only while more than L ids remain
    groups = {}
    for i, rows in support.items():
        groups.setdefault(frozenset(rows), []).append(i)
    redundant = sorted(i for g in groups.values() for i in sorted(g)[:-1])
    excess = max(0, len(support) - length)
    candidates = sorted(set(support) - set(redundant[:excess]))
    assert mim.n_distinct_ids_ == len(support)
    # 2./3. plug-in MI in bits of presence vs the (median-binarised) label
    ref_score = {i: mutual_information_reference([r in support[i] for r in range(n)], labels) for i in candidates}
    assert set(mim.vocabulary_.tolist()) <= set(candidates)
    np.testing.assert_allclose(mim.scores_, [ref_score[i] for i in mim.vocabulary_.tolist()], rtol=1e-9, atol=1e-12)
    # 4. the L highest (up to float noise between mathematically equal scores), in score order, ties by
    #    larger id
    kth = sorted(ref_score.values(), reverse=True)[length - 1]
    chosen = set(mim.vocabulary_.tolist())
    assert len(chosen) == length
    assert all(ref_score[i] >= kth - 1e-9 for i in chosen)
    assert all(ref_score[i] <= kth + 1e-9 for i in candidates if i not in chosen)
    order = list(zip((-mim.scores_).tolist(), (-mim.vocabulary_.astype(np.int64)).tolist()))
    assert order == sorted(order)
    assert mim.prevalence_.tolist() == [len(support[int(i)]) for i in mim.vocabulary_]


LABELS = {
    "integers": [0, 1, 2, 2, 1],
    "binary ints": [0, 1, 1, 0],
    "integral floats": [0.0, 1.0, 3.0, 3.0],
    "negative integral floats": [-2.0, 5.0, -2.0],
    "float32 fractions": np.array([0.5, 1.25, 2.0], dtype=np.float32),
    "float16 fractions": np.array([0.5, 1.0], dtype=np.float16),
    "one fraction": [1.0, 2.0, 3.5],
    "large integral floats": [1e15, 2e15, -3e15],
    "beyond int64": [1e20, 3e20],
    "booleans": [True, False, True],
    "strings": ["a", "b", "a"],
    "numbers as objects": np.array([0.5, 1.5], dtype=object),
    "empty floats": np.array([], dtype=float),
    "uint8": np.array([3, 250, 7], dtype=np.uint8),
}


@pytest.mark.parametrize("y", list(LABELS.values()), ids=list(LABELS))
def test_auto_task_reads_labels_as_scikit_learn_does(y):
    """MIM's and Filtering's ``task="auto"`` follows ``type_of_target`` (without importing scikit-learn)."""
    from sklearn.utils.multiclass import type_of_target

    from sortslice.engine.featurisers.supervised import _continuous

    with np.errstate(invalid="ignore"):  # numpy warns as scikit-learn casts 1e20 to int64
        expected = type_of_target(y) == "continuous"
    assert _continuous(np.asarray(y)) == expected


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_auto_task_refuses_non_finite_labels_as_scikit_learn_does(bad):
    from sklearn.utils.multiclass import type_of_target

    y = [0.5, 1.0, bad]
    with pytest.raises(ValueError), np.errstate(invalid="ignore"):  # numpy warns as scikit-learn casts inf
        type_of_target(y)
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        S().MIM(length=4).fit(["CCO", "CCN", "c1ccccc1"], y)


def test_fitting_supervised_featurisers_imports_neither_scikit_learn_nor_scipy_stats():
    """A scoring service's warmup() and a first MIM/Filtering fit do not pay for these imports (~3 s)."""
    import subprocess
    import sys

    code = (
        "import sys, sortslice\n"
        "s = ['CCO', 'CCN', 'c1ccccc1', 'CC(=O)O']\n"
        "sortslice.MIM(length=4).fit(s, [0.5, 1.5, 2.0, 3.25]).transform(s)\n"
        "sortslice.Filtering(length=4).fit(s, [0, 1, 0, 1]).transform(s)\n"
        "print(sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_filtering_scores_are_yates_chi2_pvalues(paper):
    from scipy.stats import chi2_contingency

    smiles, _, _ = paper["ames"]
    _, y = paper_table("ames")
    n = 250
    f = S().Filtering(length=200).fit(smiles[:n], y[:n])
    fp = S().ecfp(smiles[:n])
    support = _presence_table(fp)
    labels = np.asarray(_binarise(y[:n], "classification"))
    n_per_class = np.bincount(labels)
    assert len(f.vocabulary_) == 200
    for i, p in zip(f.vocabulary_.tolist(), f.scores_.tolist()):
        present = np.zeros(n, dtype=bool)
        present[list(support[i])] = True
        table = np.array([[np.sum(present & (labels == c)) for c in (0, 1)]])
        table = np.vstack([table, n_per_class - table])
        try:
            expect = chi2_contingency(table, correction=True)[1]
        except ValueError:
            expect = 1.0
        assert p == pytest.approx(expect, rel=1e-9)
    # step 1: enough ids occur in more than one molecule, so no single-molecule id survives
    assert sum(len(s) > 1 for s in support.values()) > 200
    assert all(len(support[i]) > 1 for i in f.vocabulary_.tolist())
    order = list(zip(f.scores_.tolist(), (-f.vocabulary_.astype(np.int64)).tolist()))
    assert order == sorted(order)  # ascending p, ties by larger id


# Hand-made: every bromide is R-CH2-Br, so [Br] (radius 0) and Br-C (radius 1) occur in exactly the same
# molecules; so do aromatic c (radius 0) and c:c:c (radius 1) and amine N and C-N.
FILTER_SMILES = ["CCBr", "OCCBr", "NCCBr", "CCO", "CCN", "CCCO", "c1ccccc1", "c1ccccc1CBr", "CC(C)O", "OCCN"]
FILTER_Y = [1, 1, 1, 0, 0, 0, 0, 1, 0, 0]


def _radius_of(smiles_list, radius):
    """id -> (fragment SMILES) of every environment at ``radius`` in the molecules (via RDKit bit info)."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=1)
    out = {}
    for s in smiles_list:
        mol = Chem.MolFromSmiles(s)
        ao = rdFingerprintGenerator.AdditionalOutput()
        ao.AllocateBitInfoMap()
        gen.GetSparseCountFingerprint(mol, additionalOutput=ao)
        for i, envs in ao.GetBitInfoMap().items():
            for atom, r in envs:
                if r == radius:
                    out.setdefault(
                        i,
                        Chem.MolFragmentToSmiles(
                            mol,
                            atomsToUse=[atom] + [n.GetIdx() for n in mol.GetAtomWithIdx(atom).GetNeighbors()]
                            if r
                            else [atom],
                        ),
                    )
    return out


def test_filtering_removes_the_smaller_of_two_same_support_fragments():
    r0, r1 = _radius_of(FILTER_SMILES, 0), _radius_of(FILTER_SMILES, 1)
    br0 = next(i for i, s in r0.items() if s == "Br")
    br1 = next(i for i, s in r1.items() if s in ("BrC", "CBr"))
    n0 = next(i for i, s in r0.items() if s == "N")
    fp = S().ecfp(FILTER_SMILES, radius=1)
    prevalence = prevalence_reference(id_lists(fp))
    support = _presence_table(fp)
    c0 = next(i for i, s in r0.items() if s == "c" and prevalence[i] == 2)  # aromatic CH, not the ipso c
    assert support[br0] == support[br1] == {0, 1, 2, 7}
    n_multi = sum(p > 1 for p in prevalence.values())
    assert n_multi == 14  # 26 distinct ids, 12 of them in a single molecule
    # L = 11: step 1 leaves 14 > 11, step 2 removes the three strict-subgraph fragments ([Br], N, c)
    f = S().Filtering(length=11, radius=1).fit(FILTER_SMILES, FILTER_Y)
    vocab = set(f.vocabulary_.tolist())
    assert len(vocab) == 11
    assert br1 in vocab and br0 not in vocab, "the smaller fragment ([Br] inside Br-C) is removed"
    assert n0 not in vocab and c0 not in vocab
    assert vocab == {i for i, p in prevalence.items() if p > 1} - {br0, n0, c0}
    # removals stop once only L ids remain: smallest id first among the non-closed ones
    for length, gone in ((12, 2), (13, 1), (14, 0)):
        f = S().Filtering(length=length, radius=1).fit(FILTER_SMILES, FILTER_Y)
        removed = {br0, n0, c0} - set(f.vocabulary_.tolist())
        assert removed == set(sorted({br0, n0, c0})[:gone])


def test_strict_subgraph_labels():
    from rdkit import Chem

    from sortslice.engine.fragments import environment_fragment, is_strict_subgraph

    def frag(smiles, atom, radius):
        return environment_fragment(Chem.MolFromSmiles(smiles), atom, radius)

    br, brc = frag("CCBr", 2, 0), frag("CCBr", 2, 1)
    assert is_strict_subgraph(br, brc) and not is_strict_subgraph(brc, br)
    assert not is_strict_subgraph(brc, brc)  # not strict
    assert not is_strict_subgraph(frag("CCCl", 2, 0), brc)  # other element
    assert is_strict_subgraph(frag("CO", 0, 1), frag("CCO", 1, 1))
    assert not is_strict_subgraph(frag("C=O", 0, 1), frag("CCO", 1, 1))  # other bond type
    # charges are labels both ways (RDKit alone lets a neutral query atom match a charged one)
    assert not is_strict_subgraph(frag("CN", 1, 0), frag("C[NH3+]", 1, 1))
    assert is_strict_subgraph(frag("C[NH3+]", 1, 0), frag("CC[NH3+]", 2, 1))
    assert is_strict_subgraph(frag("CN", 1, 0), frag("C[NH2+]CN", 2, 1))  # the neutral N of [N+]-C-N


# ------------------------------------------------------------------------------- sklearn protocol
ALL = ["SortSlice", "HashFold", "MIM", "Filtering"]
SMALL = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Nc1ccccc1",
    "CCCl",
    "CCN",
    "OC(=O)c1ccccc1",
    "CC(C)(C)O",
    "c1ccncc1",
    "CCOC(=O)C",
    "NCCO",
    "C1CCCCC1N",
    "Clc1ccccc1",
]
SMALL_Y = [0.1, 1.2, 2.3, 0.4, 1.5, 2.6, 0.7, 1.8, 2.9, 0.0, 1.1, 2.2]


@pytest.mark.parametrize("cls", ALL)
def test_get_params_set_params_clone(cls):
    from sklearn.base import clone

    f = getattr(S(), cls)(length=32, radius=1, counts=True)
    import inspect

    params = f.get_params()
    assert params["length"] == 32 and params["radius"] == 1 and params["counts"] is True
    assert set(params) == set(inspect.signature(type(f)).parameters)
    assert f.set_params(length=16, sparse=True) is f and f.length == 16 and f.sparse is True
    with pytest.raises(ValueError, match="invalid parameter 'lenght'"):
        f.set_params(lenght=3)
    f.fit(SMALL, SMALL_Y)
    c = clone(f)
    assert c.get_params() == f.get_params() and c is not f
    assert not any(k.endswith("_") for k in vars(c)), "clone is unfitted"
    assert (dense(c.fit(SMALL, SMALL_Y).transform(SMALL)) == dense(f.transform(SMALL))).all()


@pytest.mark.parametrize("cls", ["SortSlice", "MIM", "Filtering"])
def test_shrinking_length_after_fit_is_refused(cls):
    # regression: the kernels wrote vocabulary columns past the end of each output row
    f = getattr(S(), cls)(length=32, radius=1).fit(SMALL, SMALL_Y)
    f.set_params(length=4)
    with pytest.raises(ValueError, match="changed after fitting"):
        f.transform(SMALL)
    with pytest.raises(ValueError, match="changed after fitting"):
        f.transform_one("CCO")
    assert f.set_params(length=40).transform(SMALL).shape == (len(SMALL), 40)  # longer: zero padded
    assert f.fit(SMALL, SMALL_Y).set_params(length=32).fit_transform(SMALL, SMALL_Y).shape == (len(SMALL), 32)


@pytest.mark.parametrize("cls", ALL)
def test_fit_validates_length(cls):
    for bad in (0, -3, 2.5, "8", True):
        f = getattr(S(), cls)(length=bad)
        with pytest.raises(ValueError, match="length must be an integer"):
            f.fit(SMALL, SMALL_Y)
        with pytest.raises(ValueError, match="length must be an integer"):
            f.fit_transform(SMALL, SMALL_Y)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("sparse,counts", [(False, False), (True, True)])
def test_pickle_round_trip_gives_identical_output(cls, sparse, counts):
    f = getattr(S(), cls)(length=64, sparse=sparse, counts=counts).fit(SMALL, SMALL_Y)
    before = dense(f.transform(SMALL))
    g = pickle.loads(pickle.dumps(f))
    assert g.get_params() == f.get_params()
    after = g.transform(SMALL)
    assert sp.issparse(after) == sparse and after.dtype == f.transform(SMALL).dtype
    assert np.array_equal(dense(after), before)
    assert np.array_equal(g.transform_one("CCO"), before[0])
    assert list(g.get_feature_names_out()) == list(f.get_feature_names_out())


@pytest.mark.parametrize("cls", ALL)
def test_fit_transform_equals_fit_then_transform_and_transform_one(cls):
    for counts in (False, True):
        f = getattr(S(), cls)(length=48, counts=counts)
        a = f.fit_transform(SMALL, SMALL_Y)
        b = f.fit(SMALL, SMALL_Y).transform(SMALL)
        assert np.array_equal(a, b) and a.shape == (len(SMALL), 48)
        for i, s in enumerate(SMALL):
            assert np.array_equal(f.transform_one(s), b[i]), (cls, s)
        assert np.array_equal(f.transform_many(SMALL), b)


def test_pipeline_with_a_random_forest():
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline

    smiles, y = paper_table("lipophilicity")
    train, test = slice(0, 500), slice(500, 650)
    for featuriser in (S().SortSlice(length=256), S().MIM(length=256), S().HashFold(length=256)):
        pipe = Pipeline([("fp", featuriser), ("rf", RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1))])
        pipe.fit(smiles[train], y[train])
        pred = pipe.predict(smiles[test])
        # the same by hand
        from sklearn.base import clone

        f = clone(featuriser)
        rf = RandomForestRegressor(n_estimators=10, random_state=0, n_jobs=1).fit(
            f.fit_transform(smiles[train], y[train]), y[train]
        )
        assert np.array_equal(pred, rf.predict(f.transform(smiles[test])))
        assert np.corrcoef(pred, y[test])[0, 1] > 0.2, "a fingerprint that carries no signal"
        assert pipe.named_steps["fp"].n_features_out_ == 256


# sklearn's checks generate numeric matrices.  The adapter below turns each numeric row into one SMILES
# (a hash of the row picks a molecule) and changes nothing else, so the checks exercise the real fit /
# transform / pickle / clone code.  Tags: the adapter declares 2-d input, otherwise ``check_estimator``
# skips every check for a string-input estimator (it runs only ``check_estimator_cloneable``).
NOT_APPLICABLE = {
    "check_n_features_in": "input is one molecule per row: there is no n_features_in_",
    "check_n_features_in_after_fitting": "input is one molecule per row: there is no n_features_in_",
    "check_transformer_general": "fails only at its last step (transform must reject a different number "
    "of input columns); fit_transform/transform consistency before it passes",
    "check_fit1d": "1-d input is our normal input (a list of molecules)",
    "check_fit2d_predict1d": "1-d input is our normal input (a list of molecules)",
    "check_estimators_empty_data_messages": "fitting on no molecules is allowed (all-zero columns); "
    "the streaming fit relies on it",
    "check_estimators_nan_inf": "missing molecules are invalid rows with a reason (strict=True raises)",
    "check_complex_data": "no numeric input",
    "check_estimator_sparse_tag": "no numeric input: a sparse matrix is not a list of molecules",
    "check_estimator_sparse_array": "no numeric input: a sparse matrix is not a list of molecules",
    "check_estimator_sparse_matrix": "no numeric input: a sparse matrix is not a list of molecules",
    "check_transformer_get_feature_names_out": "names come from the vocabulary, not from input features",
}


def _rows_to_smiles(X):
    if sp.issparse(X):
        return X  # passed through: the featuriser's own answer is what the sparse checks look at
    X = np.asarray(X)
    if X.ndim != 2:
        return X
    out = []
    for row in X:
        row = np.asarray(row, dtype=np.float64)
        if not np.isfinite(row).all():
            out.append(None)
            continue
        h = hashlib.blake2b(np.round(row, 6).tobytes(), digest_size=8).digest()
        out.append(SMALL[int.from_bytes(h, "little") % len(SMALL)])
    return out


class _NumericRows:
    """Numeric rows in, molecules to the real featuriser."""

    def fit(self, X=None, y=None):
        return super().fit(None if X is None else _rows_to_smiles(X), y)

    def transform(self, X):
        return super().transform(_rows_to_smiles(X))

    def fit_transform(self, X, y=None):
        return super().fit_transform(_rows_to_smiles(X), y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = False
        return tags


class _NumericRowsPartial(_NumericRows):
    def partial_fit(self, X=None, y=None):
        return super().partial_fit(None if X is None else _rows_to_smiles(X), y)


def _adapted(cls: str):
    """``<cls>OnRows``, created on first use and kept as a module global so that pickle finds it."""
    name = cls + "OnRows"
    if name not in globals():
        base = getattr(S(), cls)
        adapter = _NumericRowsPartial if hasattr(base, "partial_fit") else _NumericRows
        globals()[name] = type(name, (adapter, base), {"__module__": __name__})
    return globals()[name]


@pytest.mark.parametrize("cls", ALL)
def test_sklearn_estimator_checks(cls):
    from sklearn.utils.estimator_checks import check_estimator

    adapted = _adapted(cls)
    # the untouched estimator: check_estimator itself runs only the clone check for string input
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = check_estimator(getattr(S(), cls)(), on_fail=None)
        results = check_estimator(adapted(length=32, radius=1), on_fail=None, expected_failed_checks=NOT_APPLICABLE)
    assert [r["status"] for r in plain] == ["passed"]
    failed = {
        r["check_name"]: f"{type(r['exception']).__name__}: {r['exception']}"
        for r in results
        if r["status"] == "failed"
    }
    assert not failed
    passed = {r["check_name"] for r in results if r["status"] == "passed" and not r["expected_to_fail"]}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {
        "check_array_api_input",
        "check_set_output_transform_pandas",
        "check_global_output_transform_pandas",
        "check_transformer_get_feature_names_out_pandas",
        "check_dataframe_column_names_consistency",
    }, skipped
    for must in (
        "check_fit_idempotent",
        "check_estimators_pickle",
        "check_methods_subset_invariance",
        "check_methods_sample_order_invariance",
        "check_fit_check_is_fitted",
        "check_set_params",
        "check_get_params_invariance",
        "check_estimators_overwrite_params",
        "check_pipeline_consistency",
        "check_transformers_unfitted",
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_estimators_dtypes",
        "check_fit2d_1sample",
        "check_readonly_memmap_input",
        "check_dont_overwrite_parameters",
        "check_dict_unchanged",
    ):
        assert must in passed, must
    if cls in ("MIM", "Filtering"):
        assert "check_requires_y_none" in passed


# ------------------------------------------------------------------------------ explain / draw
def _bit_info(smiles):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    ao = rdFingerprintGenerator.AdditionalOutput()
    ao.AllocateBitInfoMap()
    gen.GetSparseCountFingerprint(Chem.MolFromSmiles(smiles), additionalOutput=ao)
    return ao.GetBitInfoMap()


@pytest.mark.parametrize("cls", ["SortSlice", "MIM", "Filtering"])
def test_explain_points_at_real_environments(cls):
    from rdkit import Chem

    smiles, y = paper_table("lipophilicity")
    f = getattr(S(), cls)(length=64).fit(smiles[:300], y[:300])
    rows = f.explain()
    assert [r["column"] for r in rows] == list(range(len(f.vocabulary_)))
    assert [r["id"] for r in rows] == f.vocabulary_.tolist()
    score = {"SortSlice": "prevalence", "MIM": "mutual_information", "Filtering": "p_value"}[cls]
    assert [r[score] for r in rows] == f.scores_.tolist()
    assert [r["prevalence"] for r in rows] == f.prevalence_.tolist()
    for r in rows:
        ex = r["example"]
        assert ex is not None and r["radius"] == ex["radius"] and 0 <= ex["radius"] <= 2
        # RDKit itself says this environment (centre atom, radius) of the example emits the id
        assert (ex["atom"], ex["radius"]) in _bit_info(ex["smiles"])[r["id"]]
        assert Chem.MolFromSmiles(r["fragment"], sanitize=False) is not None
    assert len(f.explain(top=5)) == 5
    svg = f.draw(top=6)
    assert isinstance(svg, str) and "<svg" in svg and svg.rstrip().endswith("</svg>")
    png = f.draw(top=3, fmt="png", per_row=3)
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")


def test_explain_without_molecules(paper):
    _, _, fp = paper["mpro"]
    ss = S().SortSlice(length=16).fit(fp)
    with pytest.warns(UserWarning, match="no example fragments"):
        rows = ss.explain()
    assert all(r["example"] is None and r["radius"] is None and r["fragment"] is None for r in rows)
    with pytest.raises(ValueError, match="no column has an example"), pytest.warns(UserWarning):
        ss.draw()
    names = S().HashFold(length=4, radius=3, invariants="fcfp").fit().get_feature_names_out()
    assert names.tolist() == ["fcfp6_fold0", "fcfp6_fold1", "fcfp6_fold2", "fcfp6_fold3"]


def test_unfitted_featurisers_refuse_to_transform():
    from sortslice.engine.featurisers import NotFittedError

    for cls in ALL:
        for call in (
            lambda f: f.transform(["CCO"]),
            lambda f: f.transform_one("CCO"),
            lambda f: f.get_feature_names_out(),
        ):
            with pytest.raises(NotFittedError, match="not fitted"):
                call(getattr(S(), cls)())
