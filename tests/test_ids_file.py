"""Stored ids (``sortslice ids`` files, ``read_ids``) feed every featuriser exactly as the molecules would.

Oracle: the same featuriser on the molecules themselves (itself checked against RDKit and the slow
references elsewhere). Tampered or mismatched files are refused with one line before any pooling.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from polars.testing import assert_frame_equal

import sortslice
import sortslice.polars as ssp

from datasets import paper_table
from helpers import run_cli

BAD = ["not a smiles", "C1CC", "", "c1ccccc"]


@pytest.fixture(scope="module")
def data():
    smiles, y = paper_table("lipophilicity")
    smiles, y = list(smiles[:300]), np.asarray(y[:300])
    for k, bad in enumerate(BAD):  # invalid rows in the middle, with labels like any other
        smiles.insert(70 * k + 7, bad)
        y = np.insert(y, 70 * k + 7, 1.0)
    return smiles, y, (y > np.median(y)).astype(int)


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    """The molecules as CSV and their ids files (radius 2, with and without the SMILES kept)."""
    smiles, y, _ = data
    folder = tmp_path_factory.mktemp("ids")
    csv = folder / "in.csv"
    pl.DataFrame({"id": [f"m{i}" for i in range(len(smiles))], "SMILES": smiles, "y": y}).write_csv(csv)
    for name, extra in (("ids.parquet", []), ("ids_smiles.parquet", ["--keep", "SMILES"])):
        r = run_cli("ids", csv, "--id-column", "id", "--keep", "y", *extra, "-o", folder / name)
        assert r.exit_code == 0, r.output
    return folder, csv


def _same(a, b):
    if sp.issparse(a):
        assert sp.issparse(b) and a.dtype == b.dtype and a.shape == b.shape
        for f in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
    else:
        assert not sp.issparse(b) and a.dtype == b.dtype and np.array_equal(a, b)


FEATURISERS = {
    "sort_slice": lambda **kw: sortslice.SortSlice(length=256, **kw),
    "hash_fold": lambda **kw: sortslice.HashFold(length=256, **kw),
    "mim": lambda **kw: sortslice.MIM(length=128, **kw),
    "filtering": lambda **kw: sortslice.Filtering(length=128, **kw),
}


# ------------------------------------------------------------------------------------------ the API
def _combos():
    """Every featuriser x binary/counts x dense/sparse; by default one sparse case each, the rest `slow`."""
    for name in FEATURISERS:
        for counts in (False, True):
            for sparse in (False, True):
                marks = [pytest.mark.slow] if sparse and counts != (name == "sort_slice") else []
                ids = f"{name}-{'counts' if counts else 'binary'}-{'sparse' if sparse else 'dense'}"
                yield pytest.param(name, counts, sparse, marks=marks, id=ids)


@pytest.mark.parametrize("name, counts, sparse", list(_combos()))
def test_transform_from_stored_ids_is_identical(data, files, name, counts, sparse):
    smiles, _, labels = data
    # Filtering's fit compares the environments' atoms: it needs the file that keeps the SMILES
    stored = sortslice.read_ids(files[0] / ("ids_smiles.parquet" if name == "filtering" else "ids.parquet"))
    y = labels if name in ("mim", "filtering") else None
    a = FEATURISERS[name](counts=counts, sparse=sparse).fit(smiles, y)
    b = FEATURISERS[name](counts=counts, sparse=sparse).fit(stored, y)
    if hasattr(a, "vocabulary_"):
        assert np.array_equal(a.vocabulary_, b.vocabulary_) and np.array_equal(a.prevalence_, b.prevalence_)
    _same(a.transform(smiles), b.transform(stored))
    _same(a.transform(smiles), a.transform(stored))
    fa, fb = a.featurise(smiles), b.featurise(stored)
    assert fa.valid.tolist() == fb.valid.tolist() and fa.errors.tolist() == fb.errors.tolist()
    assert (~fb.valid).sum() == len(BAD)


def test_read_ids_equals_ecfp_and_keeps_smiles(data, files):
    smiles, _, _ = data
    fp = sortslice.ecfp(smiles)
    # an empty CSV cell is read as a missing value
    for name, kept in (("ids.parquet", None), ("ids_smiles.parquet", [s or None for s in smiles])):
        got = sortslice.read_ids(files[0] / name)
        for f in ("indptr", "ids", "counts", "valid"):
            assert np.array_equal(getattr(got, f), getattr(fp, f)), f
        assert got.errors.tolist() == fp.errors.tolist() and got.params == fp.params
        assert (got.smiles is None) if kept is None else (got.smiles.tolist() == kept)


def test_streamed_batches_and_partial_fit(data, files):
    smiles, _, _ = data
    path = files[0] / "ids.parquet"
    info = sortslice.open_ids(path)
    assert info.num_rows == len(smiles) and info.id_column == "id" and info.carried == ("id", "y")
    batches = list(sortslice.iter_ids(path, batch_rows=90))
    assert [b.start for b in batches] == list(range(0, len(smiles), 90))
    assert batches[1].columns["id"].to_pylist()[:2] == ["m90", "m91"]
    streamed = sortslice.SortSlice(length=256)
    for b in batches[::-1]:  # any order: prevalence counts merge
        streamed.partial_fit(b.fp)
    whole = sortslice.SortSlice(length=256).fit(smiles)
    assert np.array_equal(streamed.vocabulary_, whole.vocabulary_)


def test_examples_come_from_kept_smiles_else_a_warning(data, files):
    smiles, _, _ = data
    whole = sortslice.SortSlice(length=64).fit(smiles)
    kept = sortslice.SortSlice(length=64).fit(sortslice.read_ids(files[0] / "ids_smiles.parquet"))
    assert kept.explain() == whole.explain()
    bare = sortslice.SortSlice(length=64).fit(sortslice.read_ids(files[0] / "ids.parquet"))
    with pytest.warns(UserWarning, match="no example fragments: this featuriser was fitted on stored ids"):
        rows = bare.explain(3)
    assert [r["example"] for r in rows] == [None] * 3
    assert [r["id"] for r in rows] == [r["id"] for r in whole.explain(3)]


def test_filtering_without_smiles_says_what_it_needs(data, files):
    _, _, labels = data
    with pytest.raises(ValueError, match=r"not stored ids alone \(an ids file that keeps the SMILES"):
        sortslice.Filtering(length=8).fit(sortslice.read_ids(files[0] / "ids.parquet"), labels)
    other = sortslice.read_ids(files[0] / "ids_smiles.parquet")
    other = sortslice.EcfpResult(
        other.indptr, other.ids, other.counts, other.valid, other.errors, other.params, smiles=np.roll(other.smiles, 1)
    )
    with pytest.raises(ValueError, match="the stored SMILES do not give the stored ids"):
        sortslice.Filtering(length=8).fit(other, labels)


def test_mismatched_parameters_are_one_line(files):
    stored = sortslice.read_ids(files[0] / "ids.parquet")
    with pytest.raises(ValueError, match=r"^ids were computed with radius=2; this featuriser uses radius=3$"):
        sortslice.SortSlice(length=8, radius=3).fit(stored)
    with pytest.raises(
        sortslice.IdsFileError,
        match=r"ids were computed with chirality=False; this featuriser "
        r"uses chirality=True$",
    ):
        sortslice.read_ids(files[0] / "ids.parquet", params=sortslice.EcfpParams(chirality=True))


# ------------------------------------------------------------------------------------- tampering
def _table(path):
    t = pq.read_table(path)
    return t, dict(t.schema.metadata)


def _write(t, meta, path):
    pq.write_table(t.replace_schema_metadata(meta), path)
    return path


def _set_column(t, name, array):
    return t.set_column(t.schema.get_field_index(name), name, array)


def _lists(t, name, fn):
    """The column ``name`` with ``fn(list) -> list`` applied to every non-null row."""
    rows = t.column(name).to_pylist()
    return _set_column(t, name, pa.array([None if r is None else fn(r) for r in rows], type=pa.list_(pa.uint32())))


def _first_valid(t):
    return next(i for i, r in enumerate(t.column("ids").to_pylist()) if r)


TAMPER = {
    "no metadata": (lambda t, m: (t, {}), "not a sortslice ids file"),
    "another command": (
        lambda t, m: (t, {**m, b"sortslice.command": b"transform"}),
        "not an ids file: it was written by `sortslice transform`",
    ),
    "metadata not JSON": (lambda t, m: (t, {**m, b"sortslice.ecfp": b"{radius: 2"}), "is not valid JSON"),
    "radius not an integer": (
        lambda t, m: (
            t,
            {**m, b"sortslice.ecfp": json.dumps({**json.loads(m[b"sortslice.ecfp"]), "radius": "two"}).encode()},
        ),
        "metadata sortslice.ecfp.radius",
    ),
    "unknown format": (lambda t, m: (t, {**m, b"sortslice.format": b"sortslice-ids/9"}), "sortslice.format"),
    "id column missing": (lambda t, m: (t.drop_columns(["id"]), m), "names 'id' as the id column"),
    "ids as Int64": (
        lambda t, m: (_set_column(t, "ids", t.column("ids").cast(pa.list_(pa.int64()))), m),
        "column 'ids' must be List(UInt32)",
    ),
    "no counts column": (lambda t, m: (t.drop_columns(["counts"]), m), "has no 'counts' column"),
    "ids descending": (lambda t, m: (_lists(t, "ids", lambda r: r[::-1]), m), "strictly ascending within each row"),
    "ids repeated": (lambda t, m: (_lists(t, "ids", lambda r: r[:1] * len(r)), m), "strictly ascending"),
    "a zero count": (lambda t, m: (_lists(t, "counts", lambda r: [0] + r[1:]), m), "a count of 0"),
    "one count short": (
        lambda t, m: (_lists(t, "counts", lambda r: r[:-1]), m),
        "a different number of ids and counts",
    ),
    "error on a valid row": (
        lambda t, m: (
            _set_column(t, "error", pa.array(["oops"] + t.column("error").to_pylist()[1:], type=pa.string())),
            m,
        ),
        "row 0: ids and an error",
    ),
    "null ids without error": (
        lambda t, m: (_set_column(t, "error", pa.nulls(t.num_rows, pa.string())), m),
        "row 7: null ids without an error",
    ),
}


@pytest.mark.parametrize("how", list(TAMPER))
def test_tampered_files_are_refused_in_one_line(files, tmp_path, how):
    t, meta = _table(files[0] / "ids.parquet")
    fn, message = TAMPER[how]
    path = _write(*fn(t, meta), tmp_path / "bad.parquet")
    with pytest.raises(sortslice.IdsFileError) as info:
        sortslice.read_ids(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text, text
    # the command line refuses it too, in one line, and writes nothing
    model = sortslice.SortSlice(length=16).fit(["CCO"])
    model.save(tmp_path / "m.json")
    r = run_cli("transform", tmp_path / "m.json", path, "-o", tmp_path / "o.parquet")
    if how in ("no metadata", "another command"):  # not an ids file: read as a molecule table (no SMILES column)
        assert r.exit_code == 1 and "SMILES" in r.output
    else:
        assert r.exit_code == 1 and r.output.count("\n") == 1 and message in r.output, r.output
    assert not (tmp_path / "o.parquet").exists()


def test_not_parquet_and_truncated(files, tmp_path):
    text = tmp_path / "x.parquet"
    text.write_text("SMILES\nCCO\n")
    with pytest.raises(sortslice.IdsFileError, match="not a Parquet file"):
        sortslice.read_ids(text)
    data = (files[0] / "ids.parquet").read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(sortslice.IdsFileError, match="not a Parquet file"):
        sortslice.read_ids(cut)


# ------------------------------------------------------------------------------------ command line
@pytest.mark.parametrize("errors", ["null", "skip"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "npz", "npy"])
def test_cli_transform_from_ids_is_byte_identical(files, tmp_path, fmt, errors):
    folder, csv = files
    if fmt == "npy" and errors == "null":
        errors = "skip"  # .npy holds no nulls
    model = tmp_path / "m.json"
    assert run_cli("fit", csv, "-o", model, "--length", "128").exit_code == 0
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    ra = run_cli("transform", model, csv, "--id-column", "id", "--keep", "y", "--errors", errors, "-o", a)
    rb = run_cli("transform", model, folder / "ids.parquet", "--keep", "y", "--errors", errors, "-o", b)
    assert ra.exit_code == rb.exit_code == 0, ra.output + rb.output
    assert a.read_bytes() == b.read_bytes()


def test_cli_fit_and_fold_from_ids(files, tmp_path):
    folder, csv = files
    for method, extra in (("sort-slice", []), ("mim", ["--label", "y"])):
        docs = []
        for src in (csv, folder / "ids_smiles.parquet"):
            out = tmp_path / f"{method}-{src.stem}.json"
            r = run_cli("fit", src, "-o", out, "--length", "64", "--method", method, *extra)
            assert r.exit_code == 0, r.output
            doc = json.loads(out.read_text())
            doc.pop("created")
            docs.append(doc)
        assert docs[0] == docs[1], method
    r = run_cli("fit", folder / "ids.parquet", "-o", tmp_path / "bare.json", "--length", "64")
    assert r.exit_code == 0 and "keeps no SMILES, so the model has no example fragments" in r.output
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert run_cli("fold", csv, "--id-column", "id", "-o", a, "-L", "512", "--counts").exit_code == 0
    assert run_cli("fold", folder / "ids.parquet", "-o", b, "-L", "512", "--counts").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_cli_mismatched_parameters_are_one_error_line(files, tmp_path):
    folder, csv = files
    model = tmp_path / "m3.json"
    assert run_cli("fit", csv, "-o", model, "--length", "32", "--radius", "3").exit_code == 0
    out = tmp_path / "o.parquet"
    r = run_cli("transform", model, folder / "ids.parquet", "-o", out)
    assert r.exit_code == 1 and not out.exists()
    assert r.output == f"Error: {folder / 'ids.parquet'}: ids were computed with radius=2; the model uses radius=3\n"
    r = run_cli("fit", folder / "ids.parquet", "-o", tmp_path / "x.json", "--chirality")
    assert (
        r.exit_code == 1 and "ids were computed with chirality=False; the command line uses chirality=True" in r.output
    )
    assert not (tmp_path / "x.json").exists()
    r = run_cli("ids", folder / "ids.parquet", "-o", out)
    assert r.exit_code == 1 and "is already an ids file" in r.output and not out.exists()


# -------------------------------------------------------------------------------------------- Polars
@pytest.mark.parametrize("name", ["sort_slice", "hash_fold", "mim"])
def test_polars_pools_stored_ids_lazily(data, files, name):
    smiles, _, labels = data
    f = FEATURISERS[name](counts=True).fit(smiles, labels if name == "mim" else None)
    lf = ssp.scan_ids(files[0] / "ids.parquet", expect=f).select("id", fp=ssp.pool("ids", f, counts="counts"))
    assert lf.collect_schema() == pl.Schema({"id": pl.String, "fp": pl.Array(pl.UInt32, f.length)})
    expected = pl.DataFrame({"smiles": smiles}).select(fp=ssp.transform("smiles", f))
    assert_frame_equal(lf.collect(engine="streaming").select("fp"), expected)
    # a Struct{ids, counts} column, as ssp.ids makes
    from_struct = pl.LazyFrame({"smiles": smiles}).select(fp=pl.col("smiles").ecfp.ids().ecfp.pool(f))
    assert_frame_equal(from_struct.collect(), expected)


def test_polars_pool_refusals(files):
    f = sortslice.SortSlice(length=8, counts=True).fit(["CCO"])
    with pytest.raises(sortslice.IdsFileError, match="ids were computed with radius=2; the featuriser uses radius=3"):
        ssp.scan_ids(files[0] / "ids.parquet", expect=sortslice.SortSlice(radius=3).fit(["CCO"]))
    with pytest.raises(ValueError, match="ids were computed with radius=1"):
        ssp.pool("ids", f, ecfp={**sortslice.EcfpParams().to_dict(), "radius": 1})
    lf = ssp.scan_ids(files[0] / "ids.parquet").select(ssp.pool("ids", f))
    with pytest.raises(Exception, match="holds ids without counts; a counts featuriser needs both"):
        lf.collect()
    df = pl.DataFrame(
        {"ids": [[5, 3]], "counts": [[1, 1]]}, schema={"ids": pl.List(pl.UInt32), "counts": pl.List(pl.UInt32)}
    )
    with pytest.raises(Exception, match="strictly ascending"):
        df.select(ssp.pool("ids", f, counts="counts"))
