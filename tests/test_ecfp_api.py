"""Public behaviour of sortslice.ecfp: inputs, bad rows, alignment, determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from rdkit import Chem

import sortslice
from sortslice.engine.fingerprint import EcfpParams

from datasets import paper_smiles, sample


def _same(a, b):
    for k in ("indptr", "ids", "counts", "valid"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert a.errors.tolist() == b.errors.tolist()


BAD = [None, "", "   ", "C1CC", "not a smiles", "C(C)(C)(C)(C)C", float("nan"), 42, "c1cccc1", "[Xx]"]


def test_bad_inputs_become_invalid_rows_with_reasons_in_place():
    good = ["CCO", "c1ccccc1"]
    items = [good[0]] + BAD + [good[1]]
    fp = sortslice.ecfp(items)
    assert len(fp) == len(items)
    assert fp.valid.tolist() == [True] + [False] * len(BAD) + [True]
    assert fp.errors[0] is None and fp.errors[-1] is None
    assert all(isinstance(e, str) and e for e in fp.errors[1:-1])
    assert fp.errors[1] == "missing molecule"
    assert fp.errors[2] == "empty SMILES"
    assert fp.errors[8] == "unsupported input of type int"
    assert "valence" in fp.errors[6].lower()
    assert "kekulize" in fp.errors[9].lower() or "aromatic" in fp.errors[9].lower()
    for i in range(1, len(items) - 1):
        assert fp.row(i)[0].size == 0
    ref = sortslice.ecfp(good)
    assert fp.to_dict(0) == ref.to_dict(0) and fp.to_dict(len(items) - 1) == ref.to_dict(1)


def test_strict_mode_raises_with_the_row_and_reason():
    with pytest.raises(sortslice.InvalidMoleculeError, match=r"row 1: invalid SMILES"):
        sortslice.ecfp(["CCO", "C1CC", "CC"], strict=True)


def test_all_invalid_and_empty_batches():
    fp = sortslice.ecfp([None, "", "xx"])
    assert fp.valid.tolist() == [False] * 3 and fp.indptr.tolist() == [0, 0, 0, 0]
    fp = sortslice.ecfp([])
    assert len(fp) == 0 and fp.ids.size == 0 and fp.indptr.tolist() == [0]


@pytest.mark.parametrize("container", [list, tuple, np.array, "polars", "pandas-like"])
def test_input_containers(container):
    smiles = ["CCO", "CCN", None]
    if container == "polars":
        import polars as pl

        data = pl.Series(smiles)
    elif container == "pandas-like":

        class Col:
            def __init__(self, v):
                self.v = v

            def tolist(self):
                return list(self.v)

        data = Col(smiles)
    else:
        data = container(smiles)
    fp = sortslice.ecfp(data)
    assert fp.valid.tolist() == [True, True, False]


def test_single_string_and_mixed_mol_and_smiles_rows():
    assert len(sortslice.ecfp("CCO")) == 1
    mixed = sortslice.ecfp(["CCO", Chem.MolFromSmiles("c1ccccc1O"), None, "CN"])
    text = sortslice.ecfp(["CCO", "c1ccccc1O", None, "CN"])
    _same(mixed, text)


def test_results_do_not_depend_on_jobs_chunks_or_input_type():
    smiles = paper_smiles("lit_pcba_esr_ant")[:2500] + ["bad", None, ""] + sample("moses", 1500)
    base = sortslice.ecfp(smiles, n_jobs=1, chirality=True)
    _same(base, sortslice.ecfp(smiles, n_jobs=2, chirality=True))
    _same(base, sortslice.ecfp(smiles, n_jobs=2, chunk_size=333, chirality=True))
    mols = [Chem.MolFromSmiles(s) if isinstance(s, str) and s else None for s in smiles]
    from_mols = sortslice.ecfp(mols, chirality=True, n_jobs=2)
    assert np.array_equal(from_mols.ids, base.ids) and np.array_equal(from_mols.indptr, base.indptr)


def test_fcfp_through_worker_processes_equals_in_process():
    smiles = paper_smiles("ames")[:3000]
    _same(sortslice.ecfp(smiles, invariants="fcfp", n_jobs=1), sortslice.ecfp(smiles, invariants="fcfp", n_jobs=2))


def test_mol_blocks():
    smiles = ["CCO", "c1ccccc1C(=O)O"]
    blocks = [Chem.MolToMolBlock(Chem.MolFromSmiles(s)) for s in smiles] + ["garbage"]
    fp = sortslice.ecfp(blocks, kind="molblock")
    assert fp.valid.tolist() == [True, True, False]
    ref = sortslice.ecfp(smiles)
    assert fp.to_dict(0) == ref.to_dict(0) and fp.to_dict(1) == ref.to_dict(1)


def test_param_validation():
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="radius"):
            sortslice.ecfp(["CCO"], radius=bad)
    with pytest.raises(ValueError, match="invariants"):
        sortslice.ecfp(["CCO"], invariants="maccs")
    assert EcfpParams(radius=3).to_dict()["radius"] == 3


def test_large_radius_is_supported():
    fp = sortslice.ecfp(["CCCCCCCCCCCCCCCCCCCCCC"], radius=12)
    gen = fp.params.rdkit_generator()
    assert fp.to_dict(0) == gen.GetSparseCountFingerprint(Chem.MolFromSmiles("C" * 22)).GetNonzeroElements()


def test_import_is_light():
    code = (
        "import sys, sortslice; "
        "assert 'polars' not in sys.modules, 'polars imported'; "
        "from sortslice.engine._jit import KERNELS; "
        "assert all(not k.signatures for k in KERNELS), 'compiled at import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_kernel_goes_through_the_jit_wrapper():
    from pathlib import Path

    engine = Path(sortslice.engine.__file__).parent
    for path in engine.glob("*.py"):
        if path.name == "_jit.py":
            continue
        text = path.read_text()
        assert "njit" not in text and "@numba.jit" not in text and "@jit" not in text, path.name


def test_take_rows_equals_recomputing_those_rows():
    smiles = paper_smiles("mpro")[:300] + ["bad"]
    fp = sortslice.ecfp(smiles)
    rows = np.array([5, 300, 0, 0, -1, 17])
    sub = fp.take(rows)
    again = sortslice.ecfp([smiles[i] for i in rows])
    _same(sub, again)
    mask = np.zeros(len(fp), dtype=bool)
    mask[[3, 4]] = True
    _same(fp.take(mask), sortslice.ecfp([smiles[3], smiles[4]]))
    with pytest.raises(IndexError):
        fp.take([len(fp)])
