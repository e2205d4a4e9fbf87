"""Smoke test of the paper reproduction (perf/paper_reproduction.py) end to end, kept small.

One data set (Mpro, 700 molecules, with its -log10 IC50 label transform), one repeat of
2-fold CV, random and scaffold splits, all four poolings, RF of 25 trees (the paper's 100 in the full
run): about 5 s on 2 cores.
The full run and its numbers live in perf/results/paper.md.
"""

from __future__ import annotations

import csv
import importlib.util
import math

import numpy as np
import pytest

import sortslice

import datasets


@pytest.fixture(scope="module")
def paper():
    module = datasets.perf_script("paper_reproduction")
    assert module.DATA == datasets.PAPER_DIR, "the reproduction reads the in-repository copies by default"
    return module


@pytest.fixture(scope="module")
def run(paper, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    args = [
        "--datasets",
        "mpro",
        "--splits",
        "random,scaffold",
        "--repeats",
        "1",
        "--subsample",
        "700",
        "--out-dir",
        str(out),
        "--name",
        "smoke",
        "--quiet",
        "--findings",
        str(out / "none.md"),
        "--rf-trees",
        "25",
    ]
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    if not has_matplotlib:
        args.append("--no-chart")
    return paper.main(args), has_matplotlib


def test_whole_path_writes_table_chart_and_trials(run):
    result, has_matplotlib = run
    md = result["markdown"].read_text()
    assert "## Random split — RF, ECFP4, L = 1024" in md
    assert "## Scaffold split — RF, ECFP4, L = 1024" in md
    assert "| Mpro (pIC50) | MAE |" in md
    assert "0.457" in md and "0.443" in md  # the paper's hashed and Sort & Slice numbers beside ours
    assert "## Acceptance checks" in md
    assert "RF: 25 trees, max_features='sqrt'" in md
    if has_matplotlib:
        assert result["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(result["trials"], newline="") as fh:
        trials = list(csv.DictReader(fh))
    # 2 splits x 2 folds x 4 methods
    assert len(trials) == 16
    assert {t["method"] for t in trials} == {"hashed", "sort_slice", "filtered", "mim"}


def test_metrics_are_plausible(run):
    result, _ = run
    summary = result["summary"]
    for split in ("random", "scaffold"):
        for method in ("hashed", "sort_slice", "filtered", "mim"):
            s = summary[("mpro", split, "rf", "ecfp", 2, 1024, method)]
            assert s["n"] == 2
            # pIC50 MAE: predicting the mean scores ~0.93 on this subsample; the paper ~0.45 on all 1,924
            assert all(math.isfinite(v) and 0.3 < v < 0.8 for v in s["values"]), (split, method, s["values"])


def test_random_splits_are_the_papers_kfold(paper):
    from sklearn.model_selection import KFold

    splits = paper.random_splits(10, k=2, repeats=2, seed=42)
    assert [(r, f) for r, f, _, _ in splits] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    expected = list(KFold(n_splits=2, shuffle=True, random_state=43).split(np.arange(10)))
    assert np.array_equal(splits[2][2], expected[0][0]) and np.array_equal(splits[3][3], expected[1][1])


def test_scaffold_splits_keep_groups_together(paper):
    smiles = ["c1ccccc1C", "c1ccccc1CC", "c1ccncc1O", "C1CCCCC1N", "CCO", "CCCN", "c1ccc2ccccc2c1", "C1CC1C(=O)O"]
    scaffolds = paper.generic_scaffolds(smiles)
    # benzene, pyridine and cyclohexane share the generic scaffold; acyclic molecules share ""
    assert scaffolds[0] == scaffolds[2] == scaffolds[3]
    assert scaffolds[4] == scaffolds[5] == ""
    for _rep, _fold, train, test in paper.scaffold_splits(scaffolds, k=2, repeats=3, seed=42):
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(smiles)))
        test_groups = {scaffolds[i] for i in test}
        assert not test_groups & {scaffolds[i] for i in train}


def test_take_rows_matches_recomputing(paper):
    smiles = ["CCO", "c1ccccc1[C@H](N)O", "not a smiles", "CC(=O)Nc1ccc(O)cc1", "C"]
    fp = sortslice.ecfp(smiles, radius=2, chirality=True)
    rows = np.array([3, 0, 2])
    sub = paper.take_rows(fp, rows)
    ref = sortslice.ecfp([smiles[i] for i in rows], radius=2, chirality=True)
    assert np.array_equal(sub.indptr, ref.indptr) and np.array_equal(sub.ids, ref.ids)
    assert np.array_equal(sub.counts, ref.counts) and sub.valid.tolist() == ref.valid.tolist()
    X = sortslice.SortSlice(length=16, chirality=True).fit(sub).transform(sub)
    assert X.shape == (3, 16)
