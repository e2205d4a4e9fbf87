"""The ``sortslice`` command line: every command, format and error path, through click's CliRunner.

Outputs are compared with the Python API on the same molecules; errors are checked
by exit status and their exact line on stderr (no tracebacks).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from rdkit import Chem

import sortslice
from sortslice.cli import main
from sortslice.engine.persist import content_digest

import datasets
from helpers import run_cli

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Nc1ccc(O)cc1",
    "C[C@H](N)C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "OC(=O)c1ccccc1",
    "C1CCCCC1N",
    "O=C(O)C[C@@H](N)C(=O)O",
    "Clc1ccc(Br)cc1",
    "C/C=C/C(=O)OC",
    "[NH4+].[Cl-]",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
]
NAMES = [f"m{i}" for i in range(len(SMILES))]
LABELS = [0.5, 1.25, 2.0, -1.0, 3.5, 0.0, 1.0, 2.5, -0.5, 1.75, 0.25, 3.0]
# rows 3 and 6 (1-based) are invalid
BAD_SMILES = ["CCO", "c1ccccc1O", "C1CC", "CC(=O)O", "c1ccccc1", "C(C)(C)(C)(C)C", "CCN"]
BAD_NAMES = ["a", "b", "c", "d", "e", "f", "g"]
SYNTAX = "invalid SMILES: syntax error"
VALENCE = "AtomValenceException: Explicit valence for atom # 0 C, 5, is greater than permitted"


#: the command line in this process; an exception it does not handle fails the test, with its traceback
invoke = functools.partial(run_cli, catch_exceptions=False)


def ok(*args, input=None):
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def assert_error(result, line: str) -> None:
    """Exit status 1 and exactly one line on stderr: click's ``Error: ...``."""
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {line}\n"


def write_csv(path, smiles=SMILES, names=NAMES, labels=None, header=("SMILES", "id"), sep=","):
    rows = [sep.join(header + (("y",) if labels is not None else ()))]
    for i, (s, n) in enumerate(zip(smiles, names)):
        rows.append(sep.join([s, n] + ([str(labels[i])] if labels is not None else [])))
    return _write_text(path, "\n".join(rows) + "\n")


def write_smi(path, smiles=SMILES, names=NAMES):
    return _write_text(path, "".join(f"{s}\t{n}\n" for s, n in zip(smiles, names)))


def _write_text(path, text: str):
    """``text`` into ``path``, gzip-compressed when it ends in ``.gz``."""
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def write_sdf(path, smiles=SMILES, names=NAMES, labels=LABELS):
    with Chem.SDWriter(str(path)) as w:
        for s, n, y in zip(smiles, names, labels):
            m = Chem.MolFromSmiles(s)
            m.SetProp("_Name", n)
            m.SetProp("y", str(y))
            w.write(m)
    return path


def fingerprints(path) -> np.ndarray:
    col = pq.read_table(path).column("fingerprint").combine_chunks()
    return np.asarray(col.flatten()).reshape(len(col), -1)


def model_file(tmp_path, length=32, **kwargs):
    path = tmp_path / "model.json"
    sortslice.SortSlice(length=length, **kwargs).fit(SMILES).save(path)
    return path


@pytest.fixture
def csv_in(tmp_path):
    return write_csv(tmp_path / "in.csv")


@pytest.fixture
def bad_csv(tmp_path):
    return write_csv(tmp_path / "bad.csv", BAD_SMILES, BAD_NAMES)


# ----------------------------------------------------------------------------- help
def test_every_command_has_help_with_an_example():
    top = ok("--help").output
    assert "Examples:" in top
    assert set(main.commands) >= {"ids", "fold", "fit", "transform", "info", "explain", "demo", "warmup"}
    for name, command in main.commands.items():
        out = ok(name, "--help").output
        assert command.help and "Examples:" in out, name
        example = out.split("Examples:", 1)[1]
        assert f"sortslice {name}" in example, name


def test_version():
    assert ok("--version").output.strip() == f"sortslice, version {sortslice.__version__}"


# ---------------------------------------------------------------------- ids / fold
def test_ids_parquet_equals_api(tmp_path, csv_in):
    out = tmp_path / "ids.parquet"
    ok("ids", csv_in, "-o", out, "--id-column", "id")
    table = pq.read_table(out)
    assert table.column_names == ["id", "ids", "counts", "error"]
    assert table.schema.field("ids").type == pa.list_(pa.uint32())
    assert table.schema.field("counts").type == pa.list_(pa.uint32())
    api = sortslice.ecfp(SMILES)
    got_ids, got_counts = table.column("ids").to_pylist(), table.column("counts").to_pylist()
    for i in range(len(SMILES)):
        ids, counts = api.row(i)
        assert got_ids[i] == ids.tolist() and got_counts[i] == counts.tolist()
    assert table.column("id").to_pylist() == NAMES
    meta = table.schema.metadata
    assert json.loads(meta[b"sortslice.ecfp"]) == api.params.to_dict()
    assert meta[b"sortslice.command"] == b"ids" and b"sortslice.pooling" not in meta


def test_ids_ecfp_options_reach_the_engine(tmp_path, csv_in):
    out = tmp_path / "ids.parquet"
    ok(
        "ids",
        csv_in,
        "-o",
        out,
        "--radius",
        "3",
        "--fcfp",
        "--chirality",
        "--no-bond-types",
        "--no-ring-membership",
        "--redundant-environments",
    )
    kwargs = dict(
        radius=3,
        invariants="fcfp",
        chirality=True,
        bond_types=False,
        ring_membership=False,
        redundant_environments=True,
    )
    api = sortslice.ecfp(SMILES, **kwargs)
    table = pq.read_table(out)
    assert table.column("ids").to_pylist() == [api.row(i)[0].tolist() for i in range(len(SMILES))]
    assert json.loads(table.schema.metadata[b"sortslice.ecfp"]) == kwargs


def test_ids_csv_and_npz(tmp_path, csv_in):
    api = sortslice.ecfp(SMILES)
    text = ok("ids", csv_in, "-o", "-", "--format", "csv").stdout.splitlines()
    assert text[0] == '"ids","counts","error"'
    first_ids, first_counts = api.row(0)
    assert text[1] == f'"{" ".join(map(str, first_ids))}","{" ".join(map(str, first_counts))}",'
    npz = tmp_path / "ids.npz"
    ok("ids", csv_in, "-o", npz)
    m = sp.load_npz(npz)
    assert m.shape == (len(SMILES), 2**32)
    assert m[2, int(api.row(2)[0][0])] == api.row(2)[1][0]
    assert_error(
        invoke("ids", csv_in, "-o", tmp_path / "ids.npy"),
        "unfolded ids have no fixed columns: write them as .parquet, .csv or .npz, not .npy",
    )


def test_fold_equals_api_binary_and_counts(tmp_path, csv_in):
    out = tmp_path / "fold.parquet"
    ok("fold", csv_in, "-o", out, "--length", "64")
    expected = sortslice.HashFold(length=64).fit().transform(SMILES)
    assert np.array_equal(fingerprints(out), expected)
    table = pq.read_table(out)
    assert table.schema.field("fingerprint").type == pa.list_(pa.uint8(), 64)
    pooling = json.loads(table.schema.metadata[b"sortslice.pooling"])
    assert pooling == {"method": "hash-fold", "length": 64, "counts": False, "dtype": None}
    ok("fold", csv_in, "-o", out, "--length", "64", "--counts", "--fcfp")
    expected = sortslice.HashFold(length=64, counts=True, invariants="fcfp").fit().transform(SMILES)
    assert pq.read_table(out).schema.field("fingerprint").type == pa.list_(pa.uint32(), 64)
    assert np.array_equal(fingerprints(out), expected)


# -------------------------------------------------------------------- fit / transform
def test_fit_streams_sort_slice_like_the_api(tmp_path, csv_in):
    model = tmp_path / "model.json"
    result = ok("fit", csv_in, "-o", model, "--length", "16", "--chunk-size", "5")
    api = sortslice.SortSlice(length=16).fit(SMILES)
    fitted = sortslice.load(model)
    assert fitted.vocabulary_.tolist() == api.vocabulary_.tolist()
    assert fitted.prevalence_.tolist() == api.prevalence_.tolist()
    assert fitted.n_molecules_ == len(SMILES)
    assert result.stderr.startswith(f"fitted sort-slice on {len(SMILES)} molecules in ")
    assert result.stderr.endswith(
        f"kept 16 of {api.n_distinct_ids_} distinct ids, prevalence "
        f"{api.prevalence_.max()}..{api.prevalence_.min()}; wrote {model}\n"
    )
    assert oct(os.stat(model).st_mode & 0o777) == oct(0o666 & ~_umask())


def test_fit_model_file_does_not_depend_on_chunk_size(tmp_path):
    """A streamed fit re-reads the file for examples: any chunk size gives the bytes of a whole-file fit."""
    smiles = datasets.paper_smiles("lipophilicity")[:600]
    src = tmp_path / "in.smi"
    src.write_text("\n".join(smiles) + "\n")
    docs = []
    for chunk in (1, 97, 600):
        ok("fit", src, "-o", tmp_path / f"m{chunk}.json", "--length", "512", "--chunk-size", str(chunk))
        doc = json.loads((tmp_path / f"m{chunk}.json").read_text())
        doc.pop("created")
        docs.append(doc)
    assert docs[0] == docs[1] == docs[2]
    whole = sortslice.SortSlice(length=512).fit(smiles)
    assert sortslice.load(tmp_path / "m97.json").explain() == whole.explain()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_transform_equals_api(tmp_path, csv_in):
    model = model_file(tmp_path, length=48)
    out = tmp_path / "fp.parquet"
    ok("transform", model, csv_in, "-o", out, "--id-column", "id", "--keep", "SMILES")
    api = sortslice.load(model)
    assert np.array_equal(fingerprints(out), api.transform(SMILES))
    import polars as pl

    df = pl.read_parquet(out)
    assert df.schema["fingerprint"] == pl.Array(pl.UInt8, 48)
    assert df.columns == ["id", "SMILES", "fingerprint", "error"]
    assert df["SMILES"].to_list() == SMILES and df["id"].to_list() == NAMES
    meta = pq.read_schema(out).metadata
    pooling = json.loads(meta[b"sortslice.pooling"])
    assert pooling["method"] == "sort-slice" and pooling["length"] == 48
    assert pooling["vocabulary"] == api.vocabulary_.tolist()
    assert json.loads(meta[b"sortslice.ecfp"]) == api.ecfp_params.to_dict()


def test_transform_counts_model_is_uint32(tmp_path, csv_in):
    model = tmp_path / "counts.json"
    ok("fit", csv_in, "-o", model, "--length", "24", "--counts")
    out = tmp_path / "fp.parquet"
    ok("transform", model, csv_in, "-o", out)
    assert pq.read_schema(out).field("fingerprint").type == pa.list_(pa.uint32(), 24)
    assert np.array_equal(fingerprints(out), sortslice.load(model).transform(SMILES))


def test_transform_output_formats(tmp_path, csv_in):
    model = model_file(tmp_path)
    expected = sortslice.load(model).transform(SMILES)
    ok("transform", model, csv_in, "-o", tmp_path / "fp.npy")
    assert np.array_equal(np.load(tmp_path / "fp.npy"), expected)
    assert np.load(tmp_path / "fp.npy").dtype == np.uint8
    ok("transform", model, csv_in, "-o", tmp_path / "fp.npz")
    m = sp.load_npz(tmp_path / "fp.npz")
    assert m.shape == expected.shape and np.array_equal(m.toarray(), expected)
    for name, sep in (("fp.csv", ","), ("fp.tsv", "\t"), ("fp.csv.gz", ",")):
        ok("transform", model, csv_in, "-o", tmp_path / name, "--keep", "id")
        raw = (gzip.open if name.endswith(".gz") else open)(tmp_path / name, "rt").read().splitlines()
        assert raw[0] == sep.join(['"id"', '"fingerprint"', '"error"'])
        rows = [line.split(sep) for line in raw[1:]]
        assert [r[0].strip('"') for r in rows] == NAMES
        bits = np.array([[int(c) for c in r[1].strip('"')] for r in rows])
        assert np.array_equal(bits, expected)


def test_csv_counts_are_space_separated(tmp_path, csv_in):
    out = tmp_path / "fold.csv"
    ok("fold", csv_in, "-o", out, "--length", "8", "--counts")
    expected = sortslice.HashFold(length=8, counts=True).fit().transform(SMILES)
    rows = out.read_text().splitlines()[1:]
    assert rows[0] == '"' + " ".join(map(str, expected[0])) + '",'


def test_npy_to_stdout(tmp_path, csv_in):
    model = model_file(tmp_path)
    result = ok("transform", model, csv_in, "--format", "npy")
    assert np.array_equal(np.load(io.BytesIO(result.stdout_bytes)), sortslice.load(model).transform(SMILES))


def test_parquet_to_stdout(csv_in):
    result = ok("ids", csv_in, "--keep", "id")
    table = pq.read_table(pa.BufferReader(result.stdout_bytes))
    assert table.column("id").to_pylist() == NAMES
    assert table.column("ids").to_pylist()[0] == sortslice.ecfp(SMILES[:1]).row(0)[0].tolist()


def test_every_input_format_gives_the_api_fingerprints(tmp_path):
    model = model_file(tmp_path)
    expected = sortslice.load(model).transform(SMILES)
    pq.write_table(pa.table({"name": NAMES, "canonical_smiles": SMILES}), tmp_path / "in.parquet")
    inputs = [
        write_csv(tmp_path / "in.csv"),
        write_csv(tmp_path / "in.csv.gz"),
        write_csv(tmp_path / "in.tsv", sep="\t"),
        write_smi(tmp_path / "in.smi"),
        write_smi(tmp_path / "in.smi.gz"),
        tmp_path / "in.parquet",
    ]
    for path in inputs:
        out = tmp_path / "out.parquet"
        ok("transform", model, path, "-o", out)
        assert np.array_equal(fingerprints(out), expected), path
    # stdin, sniffed: .smi (no header), CSV, gzip
    for data in (
        (tmp_path / "in.smi").read_bytes(),
        (tmp_path / "in.csv").read_bytes(),
        (tmp_path / "in.csv.gz").read_bytes(),
    ):
        out = tmp_path / "stdin.parquet"
        ok("transform", model, "-", "-o", out, input=data)
        assert np.array_equal(fingerprints(out), expected)


def test_sdf_input_equals_api_on_mols(tmp_path):
    sdf = write_sdf(tmp_path / "in.sdf")
    mols = [m for m in Chem.SDMolSupplier(str(sdf))]
    model = model_file(tmp_path)
    out = tmp_path / "fp.parquet"
    ok("transform", model, sdf, "-o", out, "--id-column", "name", "--keep", "y")
    table = pq.read_table(out)
    assert np.array_equal(fingerprints(out), sortslice.load(model).transform(mols))
    assert table.column("name").to_pylist() == NAMES
    assert table.column("y").to_pylist() == [str(y) for y in LABELS]
    ids_out = tmp_path / "ids.parquet"
    ok("ids", sdf, "-o", ids_out)
    api = sortslice.ecfp(mols)
    assert pq.read_table(ids_out).column("ids").to_pylist() == [api.row(i)[0].tolist() for i in range(len(mols))]
    # SDF on stdin is recognised by its content
    ok("transform", model, "-", "-o", out, input=sdf.read_bytes())
    assert np.array_equal(fingerprints(out), sortslice.load(model).transform(mols))
    # fit from SDF parses the mol blocks to Mols (the featurisers take SMILES or Mols)
    fitted = tmp_path / "sdf_model.json"
    ok("fit", sdf, "-o", fitted, "--length", "32")
    assert sortslice.load(fitted).vocabulary_.tolist() == sortslice.SortSlice(length=32).fit(mols).vocabulary_.tolist()


def test_supervised_fits_equal_api(tmp_path):
    data = write_csv(tmp_path / "labelled.csv", labels=LABELS)
    for method, cls in (("mim", sortslice.MIM), ("filter", sortslice.Filtering)):
        model = tmp_path / f"{method}.json"
        ok("fit", data, "-o", model, "--method", method, "--label", "y", "--length", "8")
        api = cls(length=8).fit(SMILES, np.asarray(LABELS))
        assert sortslice.load(model).vocabulary_.tolist() == api.vocabulary_.tolist(), method
    sdf = write_sdf(tmp_path / "labelled.sdf")
    model = tmp_path / "mim_sdf.json"
    ok("fit", sdf, "-o", model, "--method", "mim", "--label", "y", "--length", "8")
    assert (
        sortslice.load(model).vocabulary_.tolist()
        == sortslice.MIM(length=8).fit(SMILES, np.asarray(LABELS)).vocabulary_.tolist()
    )


def test_hash_fold_model_and_model_to_stdout(tmp_path, csv_in):
    result = ok("fit", csv_in, "-o", "-", "--method", "hash-fold", "--length", "32")
    doc = json.loads(result.stdout)
    assert doc["method"] == "hash-fold" and doc["params"]["length"] == 32
    assert result.stderr == "hash-fold, 32 columns: nothing to learn; wrote stdout\n"
    model = tmp_path / "fold.json"
    model.write_text(result.stdout)
    assert "training set: none (folding learns nothing)" in ok("info", model).stdout
    out = tmp_path / "fp.parquet"
    ok("transform", model, csv_in, "-o", out)
    assert np.array_equal(fingerprints(out), sortslice.HashFold(length=32).fit().transform(SMILES))


# --------------------------------------------------------------------- --errors modes
def test_errors_null_keeps_rows_with_reasons(tmp_path, bad_csv):
    model = model_file(tmp_path)
    out = tmp_path / "fp.parquet"
    result = ok("transform", model, bad_csv, "-o", out, "--id-column", "id")
    assert result.stderr == (
        "Warning: 2 of 7 molecules are invalid and their fingerprints are null (the error "
        f"column says why); first: row 3 (c): {SYNTAX}\n"
    )
    table = pq.read_table(out)
    assert table.column("error").to_pylist() == [None, None, SYNTAX, None, None, VALENCE, None]
    fp = table.column("fingerprint").to_pylist()
    assert [v is None for v in fp] == [False, False, True, False, False, True, False]
    good = [s for i, s in enumerate(BAD_SMILES) if i not in (2, 5)]
    assert np.array_equal(np.array([v for v in fp if v is not None]), sortslice.load(model).transform(good))


def test_errors_skip_leaves_rows_out(tmp_path, bad_csv):
    model = model_file(tmp_path)
    out = tmp_path / "fp.parquet"
    result = ok("transform", model, bad_csv, "-o", out, "--errors", "skip", "--keep", "id", "--chunk-size", "2")
    assert result.stderr == f"Warning: 2 of 7 molecules are invalid and were left out; first: row 3: {SYNTAX}\n"
    table = pq.read_table(out)
    assert table.column_names == ["id", "fingerprint"]
    assert table.column("id").to_pylist() == ["a", "b", "d", "e", "g"]


def test_errors_strict_writes_nothing(tmp_path, bad_csv):
    model = model_file(tmp_path)
    out = tmp_path / "fp.parquet"
    out.write_bytes(b"previous output")
    result = invoke(
        "transform", model, bad_csv, "-o", out, "--errors", "strict", "--id-column", "id", "--chunk-size", "2"
    )
    assert_error(result, f"{bad_csv}: row 3 (c): {SYNTAX} (--errors strict: nothing was written)")
    assert out.read_bytes() == b"previous output"
    assert sorted(os.listdir(tmp_path)) == ["bad.csv", "fp.parquet", "model.json"]


def test_errors_in_npy_are_zero_rows(tmp_path, bad_csv):
    model = model_file(tmp_path)
    result = ok("transform", model, bad_csv, "-o", tmp_path / "fp.npy")
    assert result.stderr == (
        "Warning: 2 of 7 molecules are invalid and their rows are all zeros (npy has no nulls; "
        f"use Parquet or CSV for reasons); first: row 3: {SYNTAX}\n"
    )
    X = np.load(tmp_path / "fp.npy")
    assert X.shape == (7, 32) and not X[[2, 5]].any()


def test_ids_errors_modes(tmp_path, bad_csv):
    out = tmp_path / "ids.parquet"
    result = ok("ids", bad_csv, "-o", out)
    assert result.stderr.startswith("Warning: 2 of 7 molecules are invalid and their ids are null")
    assert pq.read_table(out).column("ids").null_count == 2
    ok("ids", bad_csv, "-o", out, "--errors", "skip")
    assert pq.read_table(out).num_rows == 5
    assert_error(
        invoke("ids", bad_csv, "-o", out, "--errors", "strict"),
        f"{bad_csv}: row 3: {SYNTAX} (--errors strict: nothing was written)",
    )


def test_fit_errors_modes(tmp_path, bad_csv):
    model = tmp_path / "m.json"
    good = [s for i, s in enumerate(BAD_SMILES) if i not in (2, 5)]
    for mode in ("null", "skip"):
        result = ok("fit", bad_csv, "-o", model, "--length", "8", "--errors", mode, "--id-column", "id")
        assert result.stderr.splitlines()[0] == (
            f"Warning: 2 of 7 molecules are invalid and were left out of the fit; first: row 3 (c): {SYNTAX}"
        )
        assert (
            sortslice.load(model).vocabulary_.tolist() == sortslice.SortSlice(length=8).fit(good).vocabulary_.tolist()
        )
    model.unlink()
    assert_error(
        invoke("fit", bad_csv, "-o", model, "--errors", "strict", "--chunk-size", "4"),
        f"{bad_csv}: row 3: {SYNTAX} (--errors strict: nothing was written)",
    )
    assert not model.exists()
    # a later chunk: row numbers count from the start of the file
    assert_error(
        invoke(
            "fit",
            bad_csv,
            "-o",
            model,
            "--errors",
            "strict",
            "--chunk-size",
            "2",
            "--smiles-column",
            "SMILES",
            "--id-column",
            "id",
        ),
        f"{bad_csv}: row 3 (c): {SYNTAX} (--errors strict: nothing was written)",
    )
    late = write_csv(tmp_path / "late.csv", BAD_SMILES[3:], BAD_NAMES[3:])
    assert_error(
        invoke("fit", late, "-o", model, "--errors", "strict", "--chunk-size", "2"),
        f"{late}: row 3: {VALENCE} (--errors strict: nothing was written)",
    )


# ------------------------------------------------------------------------- input errors
def test_missing_and_ambiguous_columns(tmp_path, csv_in):
    out = tmp_path / "o.parquet"
    assert_error(
        invoke("ids", csv_in, "-o", out, "--smiles-column", "smile"),
        f"{csv_in}: no column 'smile' (columns: SMILES, id)",
    )
    assert_error(
        invoke("ids", csv_in, "-o", out, "--keep", "weight"), f"{csv_in}: no column 'weight' (columns: SMILES, id)"
    )
    two = tmp_path / "two.csv"
    two.write_text("smiles_a,smiles_b\nCCO,CCN\n")
    assert_error(
        invoke("ids", two, "-o", out),
        f"{two}: cannot tell which column holds the SMILES (columns: smiles_a, smiles_b); use --smiles-column",
    )
    ok("ids", two, "-o", out, "--smiles-column", "smiles_b")
    assert pq.read_table(out).column("ids").to_pylist()[0] == sortslice.ecfp(["CCN"]).row(0)[0].tolist()
    reserved = tmp_path / "reserved.csv"
    reserved.write_text("smiles,error\nCCO,x\n")
    assert_error(
        invoke("ids", reserved, "-o", out, "--keep", "error"),
        "cannot carry a column named 'error': the output has a 'error' column of its own",
    )
    model = tmp_path / "model.json"
    assert_error(
        invoke("fit", csv_in, "-o", model, "--method", "mim", "--label", "pIC50"),
        f"{csv_in}: no column 'pIC50' (columns: SMILES, id)",
    )
    assert not os.path.exists(out) or pq.read_table(out).num_rows == 1


def test_unreadable_empty_and_malformed_inputs(tmp_path):
    out = tmp_path / "o.parquet"
    missing = tmp_path / "nope.csv"
    assert_error(invoke("ids", missing, "-o", out), f"cannot read {missing}: No such file or directory")
    assert_error(invoke("ids", tmp_path, "-o", out), f"cannot read {tmp_path}: Is a directory")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_error(invoke("ids", empty, "-o", out), f"{empty}: the file is empty")
    empty_gz = tmp_path / "empty.smi.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    assert_error(invoke("ids", empty_gz, "-o", out), f"{empty_gz}: the file is empty")
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(b"\x1f\x8bnot gzip at all")
    result = invoke("ids", corrupt, "-o", out)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {corrupt}: not a valid gzip file (")
    assert result.stderr.count("\n") == 1
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("smiles,id\nCCO,a\nCCN,b,extra\n")
    result = invoke("ids", ragged, "-o", out)
    # (Arrow's message sometimes names the row: "Row #2: Expected ...")
    assert result.exit_code == 1 and result.stderr.startswith(
        f"Error: {ragged}: cannot read CSV after row 0: CSV parse error: "
    )
    assert "Expected 2 columns, got 3" in result.stderr
    assert result.stderr.count("\n") == 1
    notparquet = tmp_path / "fake.parquet"
    notparquet.write_text("smiles\nCCO\n")
    result = invoke("ids", notparquet, "-o", out)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {notparquet}: not a Parquet file (")
    weird = tmp_path / "in.xyz"
    weird.write_text("CCO\n")
    assert_error(
        invoke("ids", weird, "-o", out),
        f"cannot tell the format of {weird} from its extension; use --input-format (csv|tsv|smi|sdf|parquet)",
    )
    ok("ids", weird, "-o", out, "--input-format", "smi")
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"smiles": [1, 2]}), numbers)
    assert_error(invoke("ids", numbers, "-o", out), f"{numbers}: column 'smiles' holds int64, not SMILES text")
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("sep", [",", "\t"])
def test_quoted_cells_with_newlines_quotes_and_delimiters(tmp_path, sep):
    # well-formed CSV/TSV (Python's csv module quotes these cells); each cell is one row, in place
    import csv

    cells = ["CCO", "C\nC", "c1ccccc1\r\nO", 'CC"O', "C,C", "C\tC", "CCN", "\n", 'x",\n"y', "OCC"]
    path = tmp_path / ("odd.csv" if sep == "," else "odd.tsv")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep, lineterminator="\n")
        w.writerow(["smiles", "id"])
        w.writerows([c, f"r{i}"] for i, c in enumerate(cells))
    out = tmp_path / "ids.parquet"
    ok("ids", path, "-o", out, "--id-column", "id")
    table = pq.read_table(out)
    api = sortslice.ecfp(cells)
    assert table.column("id").to_pylist() == [f"r{i}" for i in range(len(cells))]
    assert table.column("error").to_pylist() == api.errors.tolist()
    assert table.column("ids").to_pylist() == [
        api.row(i)[0].tolist() if api.valid[i] else None for i in range(len(cells))
    ]


def test_quoted_newlines_across_read_blocks(tmp_path):
    # regression: Arrow cut its read blocks at the last newline even inside a quoted cell, which split the
    # cell into two rows (one extra row, every later row shifted) when the cut fell there
    from sortslice.io.readers import CSV_BLOCK_SIZE

    out = tmp_path / "ids.parquet"
    filler = "x" * 4095  # a cheap invalid SMILES, so few rows fill a read block
    tail = ["C\nC"] * 1000 + ["CCN"] * 3
    api = sortslice.ecfp(tail)
    expected = [api.row(i)[0].tolist() if api.valid[i] else None for i in range(len(tail))]
    for shift in range(6):  # a quoted cell's inner newline is the block's last for some
        path = tmp_path / "block.csv"
        with open(path, "w", newline="") as fh:
            fh.write("smiles\n")
            written = 0
            rows = []
            while written < CSV_BLOCK_SIZE - 3000 + shift:
                rows.append(filler[: min(4095, CSV_BLOCK_SIZE - 3000 + shift - written)] or "x")
                written += len(rows[-1]) + 1
            rows += tail
            fh.writelines('"C\nC"\n' if r == "C\nC" else r + "\n" for r in rows)
        ok("ids", path, "-o", out, "-j", "1", "--chunk-size", "100000")
        table = pq.read_table(out)
        assert table.num_rows == len(rows), shift
        got = table.column("ids").to_pylist()
        assert got[-len(tail) :] == expected, shift  # the filler rows before are invalid, every one
        assert got[: -len(tail)] == [None] * (len(rows) - len(tail)), shift


def test_header_only_input(tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("smiles,id\n")
    out = tmp_path / "o.parquet"
    ok("fold", header, "-o", out, "--length", "16", "--keep", "id")
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.column_names == ["id", "fingerprint", "error"]
    assert_error(invoke("fit", header, "-o", tmp_path / "m.json"), f"{header}: no molecules to fit on")


def test_output_errors(tmp_path, csv_in):
    target = tmp_path / "no" / "such" / "dir.parquet"
    assert_error(invoke("ids", csv_in, "-o", target), f"cannot write {target}: No such file or directory")
    assert_error(invoke("fit", csv_in, "-o", target), f"cannot write {target}: No such file or directory")
    assert_error(
        invoke("ids", csv_in, "-o", tmp_path / "o.txt"),
        f"cannot tell the output format of {tmp_path / 'o.txt'} from its extension; use --format "
        "(parquet|csv|tsv|npy|npz)",
    )


def test_label_errors(tmp_path, csv_in):
    model = tmp_path / "m.json"
    assert_error(
        invoke("fit", csv_in, "-o", model, "--method", "mim"),
        "--method mim needs --label COL (the property the columns are chosen for)",
    )
    assert_error(
        invoke("fit", csv_in, "-o", model, "--label", "id"),
        "--label is only used by --method mim and --method filter, not sort-slice",
    )
    holes = tmp_path / "holes.csv"
    holes.write_text("smiles,name,y\nCCO,a,1\nCCN,b,\nCCC,c,2\n")
    assert_error(
        invoke("fit", holes, "-o", model, "--method", "mim", "--label", "y", "--id-column", "name"),
        f"{holes}: row 2 (b) has no value in the label column 'y'",
    )


def test_bad_model_files(tmp_path, csv_in):
    out = tmp_path / "o.parquet"
    missing = tmp_path / "missing.json"
    assert_error(invoke("transform", missing, csv_in, "-o", out), f"{missing}: cannot read (No such file or directory)")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert_error(
        invoke("info", garbage),
        f"{garbage}: not valid JSON (JSONDecodeError: Expecting value: line 1 column 1 (char 0))",
    )
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert_error(invoke("explain", other), f"{other}: not a sortslice featuriser file")
    broken = tmp_path / "broken.json"
    doc = json.loads(model_file(tmp_path).read_text())
    doc["params"]["length"] = "long"
    doc["digest"] = content_digest(doc)  # a consistent digest: the schema's refusal is what is tested
    broken.write_text(json.dumps(doc))
    assert_error(
        invoke("transform", broken, csv_in, "-o", out),
        f"{broken}: invalid featuriser file at params/length: 'long' is not of type 'integer'",
    )
    assert not out.exists()


# ---------------------------------------------------- chunking, atomicity, progress
def test_chunking_does_not_change_the_output(tmp_path, bad_csv):
    model = model_file(tmp_path)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    ok("transform", model, bad_csv, "-o", a, "--keep", "id")
    ok("transform", model, bad_csv, "-o", b, "--keep", "id", "--chunk-size", "1", "-j", "1")
    assert pq.read_table(a).equals(pq.read_table(b))


def test_failure_midway_leaves_previous_output(tmp_path, csv_in, monkeypatch):
    model = model_file(tmp_path)
    out = tmp_path / "fp.parquet"
    ok("transform", model, csv_in, "-o", out)
    before = out.read_bytes()
    real = sortslice.ecfp
    calls = []

    def flaky(molecules, **kwargs):
        calls.append(len(molecules))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(molecules, **kwargs)

    monkeypatch.setattr(sortslice, "ecfp", flaky)
    result = run_cli("transform", model, csv_in, "-o", out, "--chunk-size", "2")
    assert result.exit_code != 0
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["fp.parquet", "in.csv", "model.json"]


def test_progress_bar_on_request(tmp_path, csv_in):
    model = model_file(tmp_path)
    result = ok("transform", model, csv_in, "-o", tmp_path / "o.parquet", "--progress", "--chunk-size", "5")
    assert "100%" in result.stderr and f"{len(SMILES)} molecules" in result.stderr
    assert ok("transform", model, csv_in, "-o", tmp_path / "o.parquet").stderr == ""
    assert ok("transform", model, csv_in, "-o", tmp_path / "o.parquet", "--no-progress").stderr == ""


def test_smi_names_in_messages(tmp_path):
    smi = write_smi(tmp_path / "bad.smi", BAD_SMILES, BAD_NAMES)
    assert_error(
        invoke("ids", smi, "-o", tmp_path / "o.parquet", "--errors", "strict"),
        f"{smi}: row 3 (c): {SYNTAX} (--errors strict: nothing was written)",
    )


def test_smi_fields_split_on_ascii_whitespace_only(tmp_path):
    # RDKit reads a .smi line's SMILES up to ASCII whitespace; a Unicode space (U+3000, U+00A0) inside it is
    # part of the SMILES (which RDKit then rejects), never a field separator that would turn "C\u3000C" into "C"
    src = tmp_path / "odd.smi"
    src.write_text("CCO ethanol\nC\u3000C ideographic\nCN\u00a0nbsp\n\tc1ccccc1\tbenzene ring \n", encoding="utf-8")
    out = tmp_path / "o.parquet"
    ok("ids", src, "-o", out)
    table = pq.read_table(out).to_pydict()
    api = sortslice.ecfp(["CCO", "C\u3000C", "CN\u00a0nbsp", "c1ccccc1"])
    assert [Chem.MolFromSmiles(s) is None for s in ("C\u3000C", "CN\u00a0nbsp")] == [True, True]
    assert api.valid.tolist() == [True, False, False, True]
    assert [e is None for e in table["error"]] == [True, False, False, True]
    assert table["ids"][0] == api.row(0)[0].tolist() and table["ids"][3] == api.row(3)[0].tolist()


# ------------------------------------------------------------------- info, explain
def test_info(tmp_path):
    model = tmp_path / "m.json"
    api = sortslice.SortSlice(length=16).fit(SMILES)
    api.save(model)
    lines = ok("info", model).stdout.splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["method"] == "sort-slice: Sort & Slice (the most prevalent training ids)"
    assert fields["length"] == "16 columns of 0/1 (uint8)"
    assert fields["ecfp"] == (
        "radius 2 (ECFP4), chirality no, bond types yes, ring membership yes, redundant environments no"
    )
    assert fields["vocabulary"] == f"16 ids of {api.n_distinct_ids_:,} distinct in training"
    hi, lo = int(api.prevalence_.max()), int(api.prevalence_.min())
    assert fields["prevalence"] == (
        f"{hi} ({100 * hi / 12:.1f}%) .. {lo} ({100 * lo / 12:.1f}%) training molecules per column"
    )
    assert fields["training set"] == "12 molecules (0 invalid, left out)"
    assert fields["versions"].startswith(f"sortslice {sortslice.__version__}, rdkit ")
    doc = json.loads(ok("info", model, "--json").stdout)
    assert doc["vocabulary"] == {"size": 16, "score_name": "prevalence"} and doc["method"] == "sort-slice"


def test_explain_table_and_drawings(tmp_path):
    model = model_file(tmp_path, length=16)
    api = sortslice.load(model)
    out = ok("explain", model, "--top", "3").stdout.splitlines()
    assert out[0].split() == ["column", "id", "prevalence", "radius", "fragment"]
    rows = api.explain(3)
    assert [line.split()[:3] for line in out[1:]] == [
        [str(r["column"]), str(r["id"]), str(r["prevalence"])] for r in rows
    ]
    svg = tmp_path / "grid.svg"
    result = ok("explain", model, "-k", "4", "-o", svg)
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg")) and result.stderr == f"drew 4 columns to {svg}\n"
    png = tmp_path / "grid.png"
    ok("explain", model, "-k", "4", "-o", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(ok("explain", model, "-k", "2", "--json").stdout)[1]["id"] == rows[1]["id"]
    assert_error(
        invoke("explain", model, "-o", tmp_path / "grid.gif"),
        f"cannot tell the drawing format of {tmp_path / 'grid.gif'}; use a .svg or .png name or --format",
    )
    fold = tmp_path / "fold.json"
    sortslice.HashFold(length=8).fit().save(fold)
    assert_error(
        invoke("explain", fold),
        "a hash-fold model has no vocabulary to explain: column j is every id with id % length == j",
    )


def test_explain_supervised_has_score_column(tmp_path):
    model = tmp_path / "mim.json"
    sortslice.MIM(length=4).fit(SMILES, np.asarray(LABELS)).save(model)
    header = ok("explain", model, "-k", "2").stdout.splitlines()[0]
    assert header.split() == ["column", "id", "mutual", "information", "prevalence", "radius", "fragment"]


# ----------------------------------------------------------------------- demo, warmup
def test_demo(tmp_path):
    result = ok("demo", "--output-dir", tmp_path, "--length", "256", "--train", "4500")
    out = result.stdout
    assert out.startswith("Sort & Slice demo: 4,999 NCI molecules that ship with RDKit (")
    assert "1. fit: Sort & Slice, 256 columns, ECFP4, on the first 4,500 molecules" in out
    assert "2. transform: the other 499 molecules" in out
    assert sorted(os.listdir(tmp_path)) == [
        "fingerprints.parquet",
        "model.json",
        "test.smi",
        "top_columns.svg",
        "train.smi",
    ]
    model = sortslice.load(tmp_path / "model.json")
    test = [line.split()[0] for line in (tmp_path / "test.smi").read_text().splitlines()]
    assert np.array_equal(np.nan_to_num(_with_zeros(tmp_path / "fingerprints.parquet")), model.transform(test))


def _with_zeros(path):
    col = pq.read_table(path).column("fingerprint").to_pylist()
    width = len(next(v for v in col if v is not None))
    return np.array([v if v is not None else [0] * width for v in col])


def test_warmup():
    """The command prints warmup's report: one line per kernel it compiled or loaded, then the count."""
    from sortslice.engine import _jit

    before = {id(k): len(k.signatures) for k in _jit.KERNELS}
    result = ok("warmup")
    lines = result.stdout.strip().splitlines()
    grown = [k for k in _jit.KERNELS if len(k.signatures) > before.get(id(k), 0)]
    assert lines[-1].startswith(f"{len(lines) - 1} kernels ready in ")
    assert len(lines) - 1 == len(grown)  # in this process most kernels are compiled already
    assert all(line.endswith("signature(s)") for line in lines[:-1])
    assert ok("warmup", "--quiet").stdout == ""


def test_a_fit_from_stdin_gives_every_column_an_example(tmp_path):
    """Standard input is read once: each column still gets an example from the chunk its id first shows up
    in (as a streamed partial_fit records them), not only from the first chunk."""
    first = ["CCO"] * 5  # the first chunk: ethanol only
    rest = datasets.sample("zinc", 60)  # ids the first chunk does not have
    text = "smiles\n" + "\n".join(first + rest) + "\n"
    out = tmp_path / "model.json"
    r = invoke("fit", "-", "-o", out, "--length", "64", "--chunk-size", "5", input=text)
    assert r.exit_code == 0, r.output
    rows = sortslice.load(out).explain()
    assert all(row["example"] is not None for row in rows), [row["id"] for row in rows if row["example"] is None]
    # the examples are those of the streamed fit of the same chunks
    streamed = sortslice.SortSlice(length=64)
    for k in range(0, len(first + rest), 5):
        streamed.partial_fit((first + rest)[k : k + 5])
    assert [row["example"] for row in rows] == [row["example"] for row in streamed.explain()]
