"""A small first ``ecfp()`` made before its kernels are compiled is answered by RDKit's own Morgan generator
(while helper processes compile): it must be exactly what the kernels give, row for row, reason for reason."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sortslice
from sortslice.engine import _jit, fingerprint

import datasets

BAD = [None, "", "C1CC", "not a smiles", "C(C)(C)(C)(C)C", "c1cccc1", "   ", 3.5]


def _molecules() -> list:
    out: list = []
    for name in ("zinc", "chembl_chiral", "moses"):
        out += datasets.sample(name, 60)
    for i, b in enumerate(BAD):
        out.insert(7 * i + 3, b)
    return out[: fingerprint.FIRST_CALL_MAX]


@pytest.fixture
def before_the_kernels(monkeypatch):
    """As in a process whose kernels are not compiled yet (and start no helper processes)."""
    monkeypatch.setattr(fingerprint, "_kernels_ready", False)
    monkeypatch.setattr(_jit, "ready", lambda names: False)
    monkeypatch.setattr(_jit, "ensure_helpers", lambda: None)
    used = []
    real = fingerprint._rdkit_generator
    monkeypatch.setattr(fingerprint, "_rdkit_generator", lambda params: used.append(params) or real(params))
    return used


PARAMS = [
    dict(radius=r, invariants=inv, bond_types=bt, ring_membership=rm, redundant_environments=red)
    for r, inv, bt, rm, red in itertools.product(
        (0, 1, 2, 3), ("ecfp", "fcfp"), (True, False), (True, False), (False, True)
    )
]


@pytest.mark.parametrize("kw", PARAMS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_first_call_equals_the_kernels(before_the_kernels, kw):
    molecules = _molecules()
    first = sortslice.ecfp(molecules, **kw)
    assert before_the_kernels, "the first-call route was not taken"
    fingerprint._kernels_ready = True  # the kernels, as every later call
    kernels = sortslice.ecfp(molecules, **kw, n_jobs=1)
    for field in ("indptr", "ids", "counts", "valid"):
        got, want = getattr(first, field), getattr(kernels, field)
        assert got.dtype == want.dtype and np.array_equal(got, want), field
    assert first.errors.tolist() == kernels.errors.tolist()


def test_first_call_route_is_only_for_small_text_batches(before_the_kernels):
    from rdkit import Chem

    smiles = datasets.sample("zinc", 40)
    sortslice.ecfp(smiles, chirality=True)  # chirality: the kernels
    sortslice.ecfp(smiles, provenance=True)  # environments: the kernels
    sortslice.ecfp([Chem.MolFromSmiles(s) for s in smiles])  # Mol objects: the kernels
    sortslice.ecfp(datasets.sample("moses", fingerprint.FIRST_CALL_MAX + 1))  # too many
    assert before_the_kernels == []
    with pytest.raises(sortslice.InvalidMoleculeError, match="row 1: invalid SMILES"):
        sortslice.ecfp(["CCO", "not a smiles"], strict=True)
    assert len(before_the_kernels) == 0  # strict fails on the parse, before any fingerprint


def _cold_run(script: str, tmp_path):
    """What ``script`` prints (one JSON line), run in a fresh process on an empty cache without helpers."""
    env = {**os.environ, "SORTSLICE_CACHE_DIR": str(tmp_path / "cache"), "SORTSLICE_COMPILE_JOBS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_cold_process_answers_a_first_call_without_compiling(tmp_path):
    """Empty cache, no helpers: the first small ecfp() compiles nothing and equals the warm result."""
    script = (
        "import json, sortslice\n"
        "from sortslice.engine._jit import compiled_signatures\n"
        "fp = sortslice.ecfp(['CCO', 'c1ccccc1O', 'CC(=O)Nc1ccc(O)cc1', 'nope'])\n"
        "print(json.dumps([compiled_signatures(), fp.indptr.tolist(), fp.ids.tolist(), fp.counts.tolist()]))\n"
    )
    compiled, indptr, ids, counts = _cold_run(script, tmp_path)
    assert compiled == 0
    warm = sortslice.ecfp(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "nope"], n_jobs=1)
    assert indptr == warm.indptr.tolist() and ids == warm.ids.tolist() and counts == warm.counts.tolist()


def test_a_large_generator_is_read_once_and_kept(before_the_kernels):
    """An input without a length is not looked at by the first-call route (looking would use it up)."""
    smiles = datasets.sample("moses", fingerprint.FIRST_CALL_MAX + 44)
    fp = sortslice.ecfp(s for s in smiles)
    assert len(fp) == len(smiles) and fp.valid.all()


@pytest.mark.parametrize(
    "kw", [dict(), dict(radius=3), dict(invariants="fcfp", redundant_environments=True)], ids=["ecfp4", "r3", "fcfp"]
)
@pytest.mark.parametrize("cls", ["SortSlice", "MIM"])
def test_a_first_fit_records_the_examples_the_kernels_record(before_the_kernels, cls, kw):
    """Fitting records each column's example environment; before the kernels exist, RDKit's bit info
    answers (ids and examples), and the fitted featuriser is the one the kernels fit."""
    smiles = datasets.sample("zinc", 60) + datasets.sample("chembl_chiral", 60) + ["not a smiles"]
    y = np.arange(len(smiles)) % 2
    first = getattr(sortslice, cls)(length=128, **kw).fit(smiles, y)
    assert len(before_the_kernels) == 2, "ids and examples were not both taken by RDKit's generator"
    fingerprint._kernels_ready = True
    kernels = getattr(sortslice, cls)(length=128, **kw).fit(smiles, y)
    assert first.vocabulary_.tolist() == kernels.vocabulary_.tolist()
    assert first.explain() == kernels.explain()
    assert sum(r["example"] is not None for r in first.explain()) == len(first.vocabulary_)


def test_examples_are_the_smallest_environment_of_the_first_molecule():
    """An id's example: the first training molecule holding it, centred on its smallest environment
    (lowest radius, then lowest atom), as RDKit's bit info lists them."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator as rfg

    smiles = datasets.sample("zinc", 80)
    ss = sortslice.SortSlice(length=256, n_jobs=1).fit(smiles)
    gen = rfg.GetMorganGenerator(radius=2)
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    for row in ss.explain():
        i, ex = row["id"], row["example"]
        first = next(m for m in mols if i in gen.GetSparseCountFingerprint(m).GetNonzeroElements())
        ao = rfg.AdditionalOutput()
        ao.AllocateBitInfoMap()
        gen.GetSparseCountFingerprint(first, additionalOutput=ao)
        radius, atom = min((r, a) for a, r in ao.GetBitInfoMap()[i])
        # the example's SMILES is the molecule written out; its atom is renumbered in that order
        assert ex["smiles"] == Chem.MolToSmiles(first)
        order = [int(x) for x in first.GetProp("_smilesAtomOutputOrder").strip("[]").split(",") if x.strip()]
        assert (ex["atom"], ex["radius"]) == (order.index(atom), radius)


def test_a_cold_fit_and_transform_compiles_no_morgan_kernel(tmp_path):
    """Empty cache, no helpers: a small first SortSlice fit+transform compiles only counting and pooling."""
    script = (
        "import json, sortslice\n"
        "from sortslice.engine import _jit\n"
        "M = ['CCO', 'c1ccccc1O', 'CC(=O)Nc1ccc(O)cc1']\n"
        "X = sortslice.SortSlice(length=16).fit(M).transform(M)\n"
        "print(json.dumps([[_jit.kernel_name(k) for k in _jit.KERNELS if k.overloads], X.tolist()]))\n"
    )
    compiled, X = _cold_run(script, tmp_path)
    assert compiled and not [
        name for name in compiled if not name.startswith(("prevalence.", "pooling.", "sorting."))
    ], compiled
    M = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    assert X == sortslice.SortSlice(length=16).fit(M).transform(M).tolist()
