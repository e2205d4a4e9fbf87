"""Saving and loading fitted featurisers (``engine/persist.py``, ``schemas/featuriser.schema.json``).

Round trips give identical output for all four featurisers; every saved file validates against the
published schema; ``sortslice.load`` refuses damaged or inconsistent files with a
``ModelFileError`` whose message is one line naming the file.
"""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from datasets import paper_table
from helpers import dense

ALL = ["SortSlice", "HashFold", "MIM", "Filtering"]


def S():
    import sortslice

    return sortslice


@pytest.fixture(scope="module")
def data():
    smiles, y = paper_table("lipophilicity")
    return smiles[:250], y[:250], smiles[250:400] + ["not a smiles", None, ""]


@pytest.fixture(scope="module")
def fitted(data):
    train, y, _ = data
    return {cls: getattr(S(), cls)(length=128).fit(train, y) for cls in ALL}


def schema():
    from importlib import resources

    return json.loads(resources.files("sortslice.schemas").joinpath("featuriser.schema.json").read_text())


def saved(f, tmp_path, name="model.json"):
    path = tmp_path / name
    f.save(path)
    return path


# ------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(counts=True, sparse=True),
        dict(dtype="float32", radius=3),
        dict(invariants="fcfp", chirality=True, length=64),
    ],
)
def test_round_trip_gives_identical_output(data, tmp_path, cls, options):
    import jsonschema

    train, y, test = data
    options = dict(length=128) | options
    f = getattr(S(), cls)(**options).fit(train, y)
    path = saved(f, tmp_path)
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, schema())
    assert doc["ecfp"] == f.ecfp_params.to_dict() and doc["params"]["length"] == options["length"]
    g = S().load(path)
    assert type(g) is type(f)
    assert g.get_params() == f.get_params()
    a, b = f.featurise(test), g.featurise(test)
    assert sp.issparse(b.X) == bool(options.get("sparse")) and b.X.dtype == a.X.dtype
    assert np.array_equal(dense(a.X), dense(b.X)) and np.array_equal(a.valid, b.valid)
    assert np.array_equal(g.transform_one(test[0]), dense(a.X)[0])
    assert list(g.get_feature_names_out()) == list(f.get_feature_names_out())
    if cls != "HashFold":
        assert g.vocabulary_.tolist() == f.vocabulary_.tolist()
        assert g.scores_.tolist() == f.scores_.tolist()  # exact: JSON floats round-trip
        assert g.prevalence_.tolist() == f.prevalence_.tolist()
        assert g.explain() == f.explain()
        assert g.n_distinct_ids_ == f.n_distinct_ids_
    # the reloaded featuriser pickles and saves again to the same document
    h = pickle.loads(pickle.dumps(g))
    assert np.array_equal(dense(h.transform(test)), dense(a.X))
    again = json.loads(saved(g, tmp_path, "again.json").read_text())
    doc.pop("created"), again.pop("created")
    assert again == doc


def test_document_contents(fitted, tmp_path):
    doc = json.loads(saved(fitted["SortSlice"], tmp_path).read_text())
    assert doc["format"] == "sortslice-featuriser" and doc["format_version"] == 2 and doc["method"] == "sort-slice"
    assert set(doc["versions"]) >= {"sortslice", "rdkit"}
    assert doc["training"]["n_molecules"] == 250 and doc["training"]["n_distinct_ids"] > 128
    assert doc["vocabulary"]["ids"] == fitted["SortSlice"].vocabulary_.tolist()
    assert doc["vocabulary"]["score_name"] == "prevalence"
    assert all(e is None or set(e) == {"smiles", "atom", "radius"} for e in doc["vocabulary"]["examples"])
    for cls, method in (("MIM", "mim"), ("Filtering", "filter"), ("HashFold", "hash-fold")):
        d = json.loads(saved(fitted[cls], tmp_path, cls).read_text())
        assert d["method"] == method
        if cls != "HashFold":
            assert d["training"]["task"] == "regression" and d["training"]["median"] == fitted[cls].median_


def test_save_is_atomic_and_refuses_unfitted(tmp_path):
    for cls in ALL:
        with pytest.raises(ValueError, match="fit the featuriser before saving it"):
            getattr(S(), cls)().save(tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left behind


def test_loaded_sort_slice_restarts_counting_and_cannot_merge(fitted, data, tmp_path):
    # regression: the file keeps only the vocabulary's prevalence; partial_fit used to continue from those
    # truncated counts (every other id's count lost) although persist documents a restart
    train, _, test = data
    g = S().load(saved(fitted["SortSlice"], tmp_path))
    assert g.n_distinct_ids_ == fitted["SortSlice"].n_distinct_ids_
    g.partial_fit(test)
    fresh = S().SortSlice(length=128).fit(test)
    assert g.vocabulary_.tolist() == fresh.vocabulary_.tolist()
    assert g.n_molecules_ == fresh.n_molecules_ and g.n_distinct_ids_ == fresh.n_distinct_ids_
    g.partial_fit(train)
    assert g.vocabulary_.tolist() == S().SortSlice(length=128).fit(list(test) + list(train)).vocabulary_.tolist()
    loaded = S().load(saved(fitted["SortSlice"], tmp_path))
    with pytest.raises(ValueError, match="loaded from a file"):
        loaded.merge(fresh)
    with pytest.raises(ValueError, match="loaded from a file"):
        fresh.merge(loaded)


# --------------------------------------------------------------------------------- refusals
def assert_refused(path, match, **kwargs):
    with pytest.raises(S().ModelFileError, match=match) as info:
        S().load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def edited(tmp_path, doc, edit, name="edited.json"):
    """``doc`` edited and resealed (its content digest recomputed): what the checks behind the digest see."""
    from sortslice.engine.persist import content_digest

    doc = json.loads(json.dumps(doc))
    edit(doc)
    if isinstance(doc, dict) and "digest" in doc:
        doc["digest"] = content_digest(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def good(fitted, tmp_path):
    path = saved(fitted["SortSlice"], tmp_path, "good.json")
    return path, json.loads(path.read_text())


def test_refuses_unreadable_files(good, tmp_path):
    path, doc = good
    text = path.read_bytes()
    (tmp_path / "corrupt.json").write_bytes(b'{"format": "sortslice-featuriser", oops}')
    assert_refused(tmp_path / "corrupt.json", "not valid JSON")
    (tmp_path / "truncated.json").write_bytes(text[: len(text) // 2])
    assert_refused(tmp_path / "truncated.json", "not valid JSON")
    (tmp_path / "empty.json").write_bytes(b"")
    assert_refused(tmp_path / "empty.json", "not valid JSON")
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert_refused(tmp_path / "binary.json", "not valid JSON")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # regression: escaped as RecursionError
    assert_refused(tmp_path / "deep.json", "not valid JSON")
    (tmp_path / "list.json").write_text("[1, 2]")
    assert_refused(tmp_path / "list.json", "not a sortslice featuriser file")
    assert_refused(tmp_path / "missing.json", "cannot read")
    assert_refused(tmp_path, "cannot read")  # a folder


def test_refuses_files_above_the_size_limit(good, tmp_path, monkeypatch):
    from sortslice.engine import persist

    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: no disk space, refused from its size before any read
        fh.truncate(persist.MAX_MODEL_BYTES + 1)
    assert_refused(big, "larger than 512 MiB")
    path, _ = good
    monkeypatch.setattr(persist, "MAX_MODEL_BYTES", path.stat().st_size)
    assert S().load(path) is not None  # exactly at the limit: fine
    monkeypatch.setattr(persist, "MAX_MODEL_BYTES", path.stat().st_size - 1)
    assert_refused(path, "not a sortslice featuriser file")
    if os.path.exists("/dev/zero"):  # a device has no size: refused after reading past the limit
        monkeypatch.setattr(persist, "MAX_MODEL_BYTES", 2**20)
        assert_refused("/dev/zero", "larger than 1 MiB")


def test_refuses_every_truncation(good, tmp_path):
    path, _ = good
    text = path.read_bytes()
    cut = tmp_path / "cut.json"
    for n in range(0, len(text) - 1, max(1, len(text) // 150)):
        cut.write_bytes(text[:n])
        assert_refused(cut, "not valid JSON|not a sortslice featuriser file")


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d.update(format_version=3), "unsupported format version 3"),
        (lambda d: d.update(format_version="1"), "unsupported format version '1'"),
        (lambda d: d.pop("format_version"), "unsupported format version None"),
        (lambda d: d.update(format="something-else"), "not a sortslice featuriser file"),
        (lambda d: d.update(method="pca"), "invalid featuriser file at method"),
        (lambda d: d["params"].update(length="1024"), "invalid featuriser file at params/length"),
        (lambda d: d["params"].update(length=0), "params/length"),
        (lambda d: d["params"].update(counts="yes"), "params/counts"),
        (lambda d: d["params"].update(tie_break="random"), "params/tie_break"),
        (lambda d: d["ecfp"].update(radius=-1), "ecfp/radius"),
        (lambda d: d["ecfp"].update(invariants="ECFP"), "ecfp/invariants"),
        (lambda d: d["ecfp"].pop("chirality"), "ecfp"),
        (lambda d: d["vocabulary"]["ids"].__setitem__(0, "123"), "vocabulary/ids/0"),
        (lambda d: d["vocabulary"]["ids"].__setitem__(0, -1), "vocabulary/ids/0"),
        (lambda d: d["vocabulary"]["ids"].__setitem__(3, 2**32), "vocabulary/ids/3"),
        (lambda d: d["vocabulary"]["ids"].__setitem__(1, 1.5), "vocabulary/ids/1"),
        (lambda d: d["vocabulary"]["prevalence"].__setitem__(2, -4), "vocabulary/prevalence/2"),
        (lambda d: d["vocabulary"]["scores"].pop(), "different lengths"),
        (lambda d: d["vocabulary"]["prevalence"].append(3), "different lengths"),
        (lambda d: d["vocabulary"]["examples"].pop(), "different lengths"),
        (lambda d: d["vocabulary"]["ids"].__setitem__(5, d["vocabulary"]["ids"][2]), "repeats ids"),
        (lambda d: d["params"].update(length=100), "128 vocabulary ids for length 100"),
        (lambda d: d["training"].update(n_molecules=-1), "training/n_molecules"),
        (lambda d: d.update(extra=1), "Additional properties"),
        (lambda d: d["vocabulary"]["examples"].__setitem__(0, {"smiles": "C", "atom": 0}), "vocabulary/examples/0"),
    ],
)
def test_refuses_invalid_documents(good, tmp_path, edit, match):
    _, doc = good
    assert_refused(edited(tmp_path, doc, edit), match)


def test_refuses_a_hash_fold_with_a_vocabulary(fitted, tmp_path):
    doc = json.loads(saved(fitted["HashFold"], tmp_path).read_text())
    path = edited(tmp_path, doc, lambda d: d["vocabulary"].update(ids=[1], scores=[1.0], prevalence=[1]))
    assert_refused(path, "a hash-fold featuriser has no vocabulary")


def test_expected_ecfp_parameters(good, fitted):
    path, _ = good
    params = fitted["SortSlice"].ecfp_params
    assert S().load(path, expect_ecfp=params).vocabulary_.tolist() == fitted["SortSlice"].vocabulary_.tolist()
    for other in (dict(radius=3), dict(invariants="fcfp"), dict(chirality=True)):
        expected = S().EcfpParams(**(params.to_dict() | other))
        message = assert_refused(path, "do not match the expected", expect_ecfp=expected)
        assert str(next(iter(other.values()))) in message


def test_loading_never_leaves_a_partial_featuriser(good, tmp_path):
    # an error anywhere raises before anything is returned; the good file still loads afterwards
    path, doc = good
    bad = edited(tmp_path, doc, lambda d: d["vocabulary"]["ids"].__setitem__(5, d["vocabulary"]["ids"][2]))
    assert_refused(bad, "repeats")
    assert S().load(path).transform(["CCO"]).shape == (1, 128)
    assert os.path.exists(path)


def test_one_table_of_methods():
    """Every method of the table has its featuriser class (named as the table says), and only those."""
    import sortslice
    from sortslice.engine.featurisers import CLASSES, METHODS

    assert set(CLASSES) == set(METHODS)
    for method, entry in METHODS.items():
        cls = CLASSES[method]
        assert cls.__name__ == entry.cls and getattr(sortslice, entry.cls) is cls and cls.method == method
