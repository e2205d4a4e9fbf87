"""A newcomer's first hour: the frictions a new user met, each pinned by a test that failed before its fix.

The library and the command line used the way a practitioner who knows RDKit, scikit-learn and pandas would:
files without a header, pandas indexes, parameters changed after fitting, invalid molecules, mistaken
arguments, the demo.  Oracles: RDKit (is a line a molecule?), scikit-learn's behaviour, the files themselves.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import sortslice

from helpers import dense, run_cli

SMILES = [
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
Y = [0.1, 1.2, 2.3, 0.4, 1.5, 2.6, 0.7, 1.8, 2.9, 0.0, 1.1, 2.2]
ALL = ["SortSlice", "HashFold", "MIM", "Filtering"]
VOCABULARY = ["SortSlice", "MIM", "Filtering"]


def make(cls: str, **params):
    return getattr(sortslice, cls)(**{"length": 32, "radius": 1, **params})


#: the command line in this process; an exception it does not handle fails the test, with its traceback
invoke = functools.partial(run_cli, catch_exceptions=False)


# ------------------------------------------------------------------ 2. set_output keeps the index
@pytest.mark.parametrize("cls", ALL)
def test_set_output_pandas_keeps_the_input_index(cls):
    index = [3603, 781, 5, 12, 40, 41, 7, 8, 900, 1, 2, 3]
    s = pd.Series(SMILES, index=index, name="smiles")
    y = pd.Series(Y, index=index)
    f = make(cls).set_output(transform="pandas")
    X = f.fit_transform(s, y)
    assert list(X.index) == index
    assert list(f.transform(s).index) == index
    assert list(f.transform(s.to_frame()).index) == index
    assert list(f.transform(SMILES).index) == list(range(len(SMILES)))  # no index in: a RangeIndex, as sklearn
    joined = pd.concat([s.to_frame(), X], axis=1)
    assert len(joined) == len(s) and joined["smiles"].tolist() == SMILES


# ------------------------------------------------------------------ 3. new ECFP parameters after fitting
@pytest.mark.parametrize("cls", VOCABULARY)
@pytest.mark.parametrize(
    "change",
    [
        {"radius": 2},
        {"chirality": True},
        {"invariants": "fcfp"},
        {"bond_types": False},
        {"ring_membership": False},
        {"redundant_environments": True},
    ],
)
def test_changing_an_ecfp_parameter_of_a_fitted_vocabulary_refuses_to_transform(cls, change, tmp_path):
    f = make(cls).fit(SMILES, Y)
    f.save(tmp_path / "m.json")
    expected = f.transform(SMILES)
    for g in (f, sortslice.load(tmp_path / "m.json")):
        g.set_params(**change)
        ((name, value),) = change.items()
        line = f"this {cls} was fitted with {name}={getattr(make(cls), name)!r}, not {name}={value!r}"
        for call in (
            lambda: g.transform(SMILES),
            lambda: g.featurise(SMILES),
            lambda: g.transform_one("CCO"),
            lambda: g.transform(sortslice.ecfp(SMILES, **g.ecfp_params.to_dict())),
        ):
            with pytest.raises(ValueError, match=line) as err:
                call()
            assert "\n" not in str(err.value)
        if cls == "SortSlice":
            with pytest.raises(ValueError, match=line):
                g.partial_fit(SMILES)
        # setting it back restores the fitted featuriser; fitting again makes one for the new parameters
        g.set_params(**{name: getattr(make(cls), name)})
        assert np.array_equal(g.transform(SMILES), expected)
        g.set_params(**change).fit(SMILES, Y)
        assert np.array_equal(g.transform(SMILES), make(cls, **change).fit(SMILES, Y).transform(SMILES))


def test_hash_fold_takes_new_ecfp_parameters_at_once():
    """HashFold learns nothing from data: a changed parameter is simply used (as RDKit's generator would)."""
    f = make("HashFold").fit().set_params(radius=2)
    gen = sortslice.EcfpParams(radius=2).rdkit_generator(32)
    expected = np.array([gen.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in SMILES])
    assert np.array_equal(f.transform(SMILES), expected)


# ------------------------------------------------------------------ 4. invalid molecules are reported
BAD = ["CCO", None, "CCN", "not a smiles", float("nan"), "c1ccccc1"]


@pytest.mark.parametrize("cls", ALL)
def test_invalid_molecules_warn_once_per_call_and_keep_their_rows(cls):
    y = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    f = make(cls).fit(SMILES, Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = f.transform(BAD)
    messages = [str(w.message) for w in caught if issubclass(w.category, sortslice.InvalidMoleculeWarning)]
    assert messages == [
        "3 of 6 molecules are invalid (first: row 1, missing molecule); their rows are all zeros. "
        "featurise() returns which rows are valid and why not; strict=True raises instead"
    ]
    assert X.shape == (6, 32) and not dense(X)[[1, 3, 4]].any() and dense(X)[[0, 2, 5]].any()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = make(cls).fit(BAD, y)
    messages = [str(w.message) for w in caught if issubclass(w.category, sortslice.InvalidMoleculeWarning)]
    if cls == "HashFold":
        assert messages == []  # folding learns nothing and reads no molecules
    else:
        assert messages == [
            "3 of 6 molecules are invalid (first: row 1, missing molecule); they were left out of the fit. "
            "featurise() returns which rows are valid and why not; strict=True raises instead"
        ]
        assert g.n_invalid_ == 3 and g.n_molecules_ == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = f.featurise(BAD)  # the caller asked for the mask: nothing to warn about
        f.transform(SMILES)
    assert not [w for w in caught if issubclass(w.category, sortslice.InvalidMoleculeWarning)]
    assert out.valid.tolist() == [True, False, True, False, False, True]
    with pytest.raises(sortslice.InvalidMoleculeError, match="row 1: missing molecule"):
        f.set_params(strict=True).transform(BAD)


def test_the_command_line_reports_invalid_molecules_its_own_way(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("smiles\n" + "\n".join(s for s in BAD if isinstance(s, str)) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning would fail the command
        result = invoke("fit", path, "-o", tmp_path / "m.json", "--length", "16")
        assert result.exit_code == 0, result.output
        result = invoke("transform", tmp_path / "m.json", path, "-o", tmp_path / "o.csv")
        assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr or "UserWarning" not in result.stderr


# ------------------------------------------------------------------ 5. mistaken arguments
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("method", ["fit", "transform", "fit_transform", "featurise", "partial_fit"])
@pytest.mark.parametrize(
    "bad,error,match",
    [
        ("CCO", ValueError, r"expected a list of molecules, got a single string 'CCO': wrap it in a list"),
        (b"CCO", ValueError, r"expected a list of molecules, got a single bytes"),
        (np.array("CCO"), ValueError, r"expected a list of molecules, got a 0-d array"),
        (np.array([[["CCO"]]]), ValueError, r"expected one column of molecules, got an array of shape \(1, 1, 1\)"),
        ({"CCO": 1}, TypeError, r"expected a list of molecules, got a dict"),
        ({"CCO"}, TypeError, r"expected a list of molecules, got a set \(it has no order"),
        (5, TypeError, r"expected a list of molecules, got int"),
    ],
)
def test_mistaken_inputs_fail_early_with_one_clear_line(cls, method, bad, error, match):
    f = make(cls)
    if not hasattr(f, method):
        pytest.skip(f"{cls} has no {method}")
    if method in ("transform", "featurise"):
        f.fit(SMILES, Y)
    args = (bad,) if method in ("transform", "featurise") else (bad, [0.0])
    with pytest.raises(error, match=match) as err:
        getattr(f, method)(*args)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cls", ALL)
def test_any_iterable_of_molecules_is_accepted_as_its_list(cls):
    """A generator or a map is read once, like a list (it raised an IndexError)."""
    expected = make(cls).fit(SMILES, Y).transform(SMILES)
    f = make(cls).fit((s for s in SMILES), iter(Y) if cls in ("MIM", "Filtering") else None)
    assert np.array_equal(f.transform(iter(SMILES)), expected)
    assert np.array_equal(make(cls).fit_transform(map(str, SMILES), Y), expected)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    "param,value,match",
    [
        ("radius", -1, "radius must be an integer >= 0"),
        ("radius", 1.5, "radius must be an integer >= 0"),
        ("length", 0, "length must be an integer >= 1"),
        ("invariants", "ECFP", "invariants must be 'ecfp' or 'fcfp'"),
        ("chirality", "yes", "chirality must be True or False, got 'yes'"),
        ("counts", "no", "counts must be True or False, got 'no'"),
        ("sparse", 2, "sparse must be True or False, got 2"),
        ("strict", None, "strict must be True or False, got None"),
        ("bond_types", "False", "bond_types must be True or False"),
        ("dtype", "foo", "dtype must be a boolean, integer or floating-point type"),
        ("dtype", "U8", "dtype must be a boolean, integer or floating-point type"),
        ("n_jobs", 0, "n_jobs must not be 0"),
    ],
)
def test_bad_parameters_raise_value_error_at_fit_not_at_construction(cls, param, value, match):
    f = make(cls, **{param: value})  # scikit-learn's rule: __init__ only stores
    assert getattr(f, param) is value
    for call in (lambda: f.fit(SMILES, Y), lambda: f.fit_transform(SMILES, Y)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("cls", ["MIM", "Filtering"])
@pytest.mark.parametrize(
    "y,match",
    [
        ("ab", "y must be a list or array of labels, one per molecule, got a str"),
        (3.0, "y must be a list or array of labels, one per molecule, got a float"),
        ([1.0, 2.0], r"y has 2 labels for 12 molecules"),
        (np.ones((12, 2)), r"y must be one-dimensional, got shape \(12, 2\)"),
    ],
)
def test_bad_labels_fail_with_one_line(cls, y, match):
    with pytest.raises(ValueError, match=match):
        make(cls).fit(SMILES, y)


# ------------------------------------------------------------------ 1. a CSV without a header
def test_headerless_csv_keeps_its_first_molecule_and_says_so(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("".join(f"{s}\n" for s in SMILES))
    assert Chem.MolFromSmiles(SMILES[0]) is not None  # the oracle: the first line is a molecule
    result = invoke("fit", path, "-o", tmp_path / "m.json", "--length", "64")
    assert result.exit_code == 0, result.output
    model = sortslice.load(tmp_path / "m.json")
    assert model.n_molecules_ == len(SMILES)
    assert np.array_equal(model.vocabulary_, sortslice.SortSlice(length=64).fit(SMILES).vocabulary_)
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1, result.stderr  # said once, although fit reads the file twice
    assert f"{path}: no header" in notes[0] and "'CCO' is a molecule" in notes[0]

    out = tmp_path / "fps.csv"
    result = invoke("transform", tmp_path / "m.json", path, "-o", out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == len(SMILES)


def test_headerless_csv_with_several_columns_names_them_by_position(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_text("".join(f"{s},m{i},{y}\n" for i, (s, y) in enumerate(zip(SMILES, Y))))
    out = tmp_path / "ids.csv"
    result = invoke("ids", path, "-o", out, "--keep", "column_2")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["column_2"].tolist() == [f"m{i}" for i in range(len(SMILES))]
    assert "the columns are named column_1, column_2, column_3 (molecules in column_1)" in result.stderr
    result = invoke("ids", path, "-o", out, "--smiles-column", "smiles")  # a header was expected: it is not there
    assert result.exit_code == 1 and result.stderr.splitlines()[-1] == (
        f"Error: {path}: no column 'smiles' (columns: column_1, column_2, column_3)"
    )
    assert "molecules in smiles" not in result.stderr


@pytest.mark.parametrize(
    "header",
    ["smiles", "SMILES,id", "structure", "Molecule ChEMBL ID,canonical_smiles", "mol,pIC50"],
)
def test_a_header_is_still_a_header(tmp_path, header):
    names = header.split(",")
    path = tmp_path / "h.csv"
    rows = [",".join([s] + [str(i)] * (len(names) - 1)) for i, s in enumerate(SMILES)]
    if names[0] == "Molecule ChEMBL ID":  # the SMILES in the second column
        rows = [f"{i},{s}" for i, s in enumerate(SMILES)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    column = ["--smiles-column", "mol"] if names[0] == "mol" else []
    result = invoke("fit", path, "-o", tmp_path / "m.json", *column)
    assert result.exit_code == 0, result.output
    assert sortslice.load(tmp_path / "m.json").n_molecules_ == len(SMILES)
    assert "Note:" not in result.stderr


def test_a_first_line_that_is_neither_a_name_nor_a_molecule_is_kept_as_a_molecule(tmp_path):
    path = tmp_path / "bad_first.csv"
    path.write_text("C1CC(\n" + "\n".join(SMILES) + "\n")
    out = tmp_path / "ids.csv"
    result = invoke("ids", path, "-o", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == len(SMILES) + 1 and isinstance(table["error"][0], str)  # kept, with its reason
    assert "Note:" in result.stderr and "'C1CC('" in result.stderr


# ------------------------------------------------------------------ 8. the demo leaves no temporary files
def test_demo_leaves_nothing_in_the_temporary_directory(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)}
    env.setdefault("SORTSLICE_CACHE_DIR", os.environ.get("SORTSLICE_CACHE_DIR", ""))
    if not env["SORTSLICE_CACHE_DIR"]:
        del env["SORTSLICE_CACHE_DIR"]
    code = "from sortslice.cli import main; main()"
    run = subprocess.run(
        [sys.executable, "-c", code, "demo", "--length", "64", "--train", "4900"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "2. transform: the other 99 molecules" in run.stdout
    assert os.listdir(tmp) == []
    assert sorted(os.listdir(tmp_path)) == ["tmp"]  # nor in the working directory


# ------------------------------------------------------------------ further frictions found the same way
def test_pandas_missing_values_are_missing_molecules():
    """A pandas "string" column's missing cell is pd.NA: it was "unsupported input of type NAType"."""
    s = pd.Series(["CCO", None, "CCN"], dtype="string")
    fp = sortslice.ecfp(s)
    assert fp.valid.tolist() == [True, False, True]
    assert fp.errors[1] == "missing molecule" == sortslice.ecfp([None]).errors[0]
    assert sortslice.ecfp([np.float32("nan"), pd.NaT]).errors.tolist() == ["missing molecule"] * 2


@pytest.mark.parametrize("cls", ALL)
def test_transform_one_and_transform_many_take_what_their_names_say(cls):
    f = make(cls).fit(SMILES, Y)
    with pytest.raises(TypeError, match="transform_one takes one molecule .* got a list: use transform"):
        f.transform_one(["CCO"])  # it returned an all-zero vector
    with pytest.raises(ValueError, match="got a single string 'CCO'"):
        f.transform_many("CCO")  # it fingerprinted 'C', 'C', 'O'
    assert np.array_equal(f.transform_many(SMILES[:3]), dense(f.transform(SMILES[:3])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not f.transform_one("not a smiles").any()
        assert not f.transform_many(["CCO", "xx", None])[1:].any()
    assert [str(w.message).split(";")[0] for w in caught] == [
        "1 of 1 molecules are invalid (first: row 0, invalid SMILES: syntax error)",
        "2 of 3 molecules are invalid (first: row 1, invalid SMILES: syntax error)",
    ]
    with pytest.raises(sortslice.InvalidMoleculeError, match="row 2: missing molecule"):
        f.set_params(strict=True).transform_many(["CCO", "CCN", None])


def test_warmup_says_nothing_about_its_own_molecules():
    """``sortslice.warmup()`` runs invalid molecules on purpose (their paths compile too); the user must not
    get warnings about rows they never gave (found running the warm-up in a container build)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sortslice.warmup()
    assert [str(w.message) for w in caught] == []
