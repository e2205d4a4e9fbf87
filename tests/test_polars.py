"""The Polars frontend: typed lazy expressions, streaming, nulls, engine identity, threads, fitting."""

from __future__ import annotations

import subprocess
import sys
import threading

import numba
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal
from rdkit import Chem

import sortslice
import sortslice.polars as ssp
import sortslice.polars_batches as batches

from datasets import paper_table, sample

BAD = [None, "", "C1CC", "not a smiles", "C(C)(C)(C)(C)C", "c1cccc1", "   "]


def _with_bad(smiles: list[str], seed: int = 7) -> list:
    """Insert every bad input at seeded positions (first and last rows included)."""
    out = list(smiles)
    rng = np.random.default_rng(seed)
    for b in BAD[1:]:
        out.insert(int(rng.integers(1, len(out))), b)
    return [BAD[0]] + out + ["C1CC"]


@pytest.fixture(scope="module")
def smiles():
    return _with_bad(sample("moses", 600))


@pytest.fixture(scope="module")
def engine(smiles):
    return sortslice.ecfp(smiles)


@pytest.fixture(scope="module")
def featurisers():
    train, y = paper_table("lipophilicity")
    train, y = train[:300], y[:300]
    return {
        "sort_slice": sortslice.SortSlice(length=256).fit(train),
        "sort_slice_counts": sortslice.SortSlice(length=64, counts=True, radius=3).fit(train),
        "sort_slice_sparse_float": sortslice.SortSlice(length=48, sparse=True, dtype=np.float32).fit(train),
        "hash_fold": sortslice.HashFold(length=128, invariants="fcfp").fit(),
        "mim": sortslice.MIM(length=32).fit(train, y),
        "filtering": sortslice.Filtering(length=32, radius=1).fit(train, y),
    }


def _query(lf: pl.LazyFrame, ss) -> pl.LazyFrame:
    return lf.with_columns(
        ids=ssp.ids("smiles", radius=1),
        fold=pl.col("smiles").ecfp.fold(64, counts=True),
        fp=pl.col("smiles").ecfp.sort_slice(ss),
        ok=ssp.is_valid(pl.col("smiles")),
        error=pl.col("smiles").ecfp.parse_error(),
    )


EXPECTED_SCHEMA = pl.Schema(
    {
        "smiles": pl.String,
        "ids": pl.Struct({"ids": pl.List(pl.UInt32), "counts": pl.List(pl.UInt32)}),
        "fold": pl.Array(pl.UInt32, 64),
        "fp": pl.Array(pl.UInt8, 256),
        "ok": pl.Boolean,
        "error": pl.String,
    }
)


def _rows_csr(col: pl.Series, field: str):
    """A List column of a Struct -> (lengths, flat values) for comparison with the engine's CSR."""
    lists = col.struct.field(field)
    return lists.list.len().fill_null(0).to_numpy(), lists.explode().drop_nulls().to_numpy()


# ------------------------------------------------------------------------------- schemas
def test_lazy_schemas_are_exact_without_running_anything(monkeypatch, featurisers):
    def boom(*args, **kwargs):
        raise AssertionError("the engine ran while only the schema was asked for")

    monkeypatch.setattr(batches, "ecfp", boom)
    monkeypatch.setattr(batches, "flatten", boom)
    lf = _query(pl.scan_csv(b"smiles\nCCO\n"), featurisers["sort_slice"])
    assert lf.collect_schema() == EXPECTED_SCHEMA
    agg = (
        pl.LazyFrame({"g": [1], "smiles": ["CC"]})
        .group_by("g")
        .agg(fp=ssp.fold("smiles", 16), n_valid=ssp.is_valid("smiles").sum())
    )
    assert agg.collect_schema() == pl.Schema(
        {"g": pl.Int64, "fp": pl.List(pl.Array(pl.UInt8, 16)), "n_valid": pl.UInt32}
    )
    over = pl.LazyFrame({"g": [1], "smiles": ["CC"]}).with_columns(
        fp=pl.col("smiles").ecfp.transform(featurisers["sort_slice_sparse_float"]).over("g")
    )
    assert over.collect_schema()["fp"] == pl.Array(pl.Float32, 48)
    counts = pl.LazyFrame({"smiles": ["CC"]}).select(pl.col("smiles").ecfp.transform(featurisers["sort_slice_counts"]))
    assert counts.collect_schema()["smiles"] == pl.Array(pl.UInt32, 64)


def test_import_registers_the_namespace_and_functions_take_names_or_expressions():
    assert isinstance(pl.col("smiles").ecfp, ssp.EcfpNamespace)
    df = pl.DataFrame({"smiles": ["CCO", "c1ccccc1O"]})
    by_name = df.select(ssp.fold("smiles", 32))
    by_expr = df.select(ssp.fold(pl.col("smiles"), 32))
    by_namespace = df.select(pl.col("smiles").ecfp.fold(32))
    assert_frame_equal(by_name, by_expr)
    assert_frame_equal(by_name, by_namespace)
    with pytest.raises(TypeError, match="column name or a polars expression"):
        ssp.fold(["CCO"], 32)


# ------------------------------------------------------------ every engine, same result
def test_eager_lazy_streaming_and_parquet_round_trip_agree(tmp_path, smiles, featurisers):
    df = pl.DataFrame({"smiles": smiles})
    ss = featurisers["sort_slice"]
    eager = df.with_columns(
        ids=ssp.ids("smiles", radius=1),
        fold=ssp.fold("smiles", 64, counts=True),
        fp=ssp.sort_slice("smiles", ss),
        ok=ssp.is_valid("smiles"),
        error=ssp.parse_error("smiles"),
    )
    assert eager.schema == EXPECTED_SCHEMA and eager.height == len(smiles)
    lazy = _query(df.lazy(), ss)
    assert_frame_equal(lazy.collect(engine="in-memory"), eager)
    assert_frame_equal(lazy.collect(engine="streaming"), eager)
    # a file in small row groups: the streaming engine calls the functions on many batches
    src = tmp_path / "in.parquet"
    df.write_parquet(src, row_group_size=97)
    out = tmp_path / "out.parquet"
    _query(pl.scan_parquet(src), ss).sink_parquet(out)
    assert_frame_equal(pl.read_parquet(out), eager)
    batches = [b for b in _query(pl.scan_parquet(src), ss).collect_batches(chunk_size=50)]
    assert_frame_equal(pl.concat(batches), eager)


def test_streaming_engine_splits_the_work(monkeypatch, tmp_path, smiles):
    sizes = []
    real = batches.ecfp

    def counting(molecules, **kwargs):
        sizes.append(len(molecules))
        return real(molecules, **kwargs)

    monkeypatch.setattr(batches, "ecfp", counting)
    pl.DataFrame({"smiles": smiles}).write_parquet(tmp_path / "in.parquet", row_group_size=97)
    out = pl.scan_parquet(tmp_path / "in.parquet").select(ssp.fold("smiles", 8)).collect(engine="streaming")
    assert out.height == len(smiles) and sum(sizes) == len(smiles) and len(sizes) > 1


def test_any_split_of_the_column_gives_the_same_rows(smiles):
    df = pl.DataFrame({"smiles": smiles})
    whole = df.select(ssp.ids("smiles"), ssp.parse_error("smiles").alias("e"))
    parts = pl.concat(
        [
            df.slice(s, 113).select(ssp.ids("smiles"), ssp.parse_error("smiles").alias("e"))
            for s in range(0, df.height, 113)
        ]
    )
    assert_frame_equal(parts, whole)


# ------------------------------------------------------------- identical to the engine
def test_ids_are_the_engines_csr(smiles, engine):
    col = pl.DataFrame({"smiles": smiles}).select(fp=ssp.ids("smiles"))["fp"]
    assert col.dtype == ssp.IDS_DTYPE and col.len() == len(smiles)
    lengths, ids = _rows_csr(col, "ids")
    lengths_c, counts = _rows_csr(col, "counts")
    assert np.array_equal(lengths, np.diff(engine.indptr)) and np.array_equal(lengths_c, lengths)
    assert np.array_equal(ids, engine.ids) and np.array_equal(counts, engine.counts)
    assert ids.dtype == np.uint32 and counts.dtype == np.uint32
    assert np.array_equal(col.is_not_null().to_numpy(), engine.valid)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(chirality=True, radius=3),
        dict(invariants="fcfp", radius=1),
        dict(bond_types=False, ring_membership=False, redundant_environments=True),
    ],
)
def test_ids_pass_every_ecfp_parameter(kw):
    smi = sample("moses", 60) + ["C[C@H](N)O", "F/C=C/F", None]
    col = pl.DataFrame({"smiles": smi}).select(ssp.ids("smiles", **kw))["smiles"]
    ref = sortslice.ecfp(smi, **kw)
    for i in range(len(smi)):
        row = col[i]
        if not ref.valid[i]:
            assert row is None
        else:
            assert dict(zip(row["ids"], row["counts"])) == ref.to_dict(i)


@pytest.mark.parametrize(
    "name", ["sort_slice", "sort_slice_counts", "sort_slice_sparse_float", "hash_fold", "mim", "filtering"]
)
def test_transform_is_the_featurisers_matrix(name, featurisers, smiles):
    f = featurisers[name]
    col = pl.DataFrame({"smiles": smiles}).select(fp=ssp.transform("smiles", f))["fp"]
    ref = f.featurise(smiles)
    X = ref.X.toarray() if hasattr(ref.X, "toarray") else ref.X
    assert col.dtype == pl.Array(pl.Series(np.zeros(0, X.dtype)).dtype, f.length)
    assert np.array_equal(col.is_not_null().to_numpy(), ref.valid)
    got = np.stack(col.filter(col.is_not_null()).to_list()).astype(X.dtype)
    assert np.array_equal(got, X[ref.valid])
    assert not X[~ref.valid].any()  # the featuriser's zero rows are the column's nulls


def test_sort_slice_is_transform_for_a_sort_slice(featurisers, smiles):
    ss = featurisers["sort_slice"]
    df = pl.DataFrame({"smiles": smiles})
    assert_series_equal(
        df.select(ssp.sort_slice("smiles", ss))["smiles"], df.select(ssp.transform("smiles", ss))["smiles"]
    )
    with pytest.raises(TypeError, match="needs a fitted SortSlice"):
        ssp.sort_slice("smiles", featurisers["mim"])


@pytest.mark.parametrize("counts", [False, True])
def test_fold_matches_rdkit_and_pooling(counts, smiles, engine):
    df = pl.DataFrame({"smiles": smiles})
    col = df.select(fp=ssp.fold("smiles", 256, counts))["fp"]
    assert col.dtype == pl.Array(pl.UInt32 if counts else pl.UInt8, 256)
    dense = sortslice.engine.pooling.pool(
        engine.indptr, engine.ids, engine.counts, length=256, use_counts=counts, dtype=np.uint32 if counts else np.uint8
    )
    got = col.to_numpy()  # nulls make this float: compare valid rows only
    assert np.array_equal(np.isnan(got).any(1), ~engine.valid)
    assert np.array_equal(got[engine.valid], dense[engine.valid])
    gen = engine.params.rdkit_generator(256)
    for i in np.flatnonzero(engine.valid)[:150]:
        mol = Chem.MolFromSmiles(smiles[i])
        expect = gen.GetCountFingerprintAsNumPy(mol) if counts else gen.GetFingerprintAsNumPy(mol)
        assert np.array_equal(got[i], expect), smiles[i]


# --------------------------------------------------------------------- nulls and errors
def test_nulls_and_invalid_smiles_in_every_function(featurisers):
    smi = ["CCO"] + BAD + ["c1ccccc1"]
    df = pl.DataFrame({"smiles": smi})
    out = df.with_columns(
        ids=ssp.ids("smiles"),
        fold=ssp.fold("smiles", 16),
        fp=ssp.transform("smiles", featurisers["mim"]),
        ss=ssp.sort_slice("smiles", featurisers["sort_slice"]),
        ok=ssp.is_valid("smiles"),
        error=ssp.parse_error("smiles"),
    )
    assert out.height == len(smi)
    valid = [True] + [False] * len(BAD) + [True]
    assert out["ok"].to_list() == valid
    for name in ("ids", "fold", "fp", "ss"):
        assert out[name].is_not_null().to_list() == valid, name
    ref = sortslice.ecfp(smi)
    assert out["error"].to_list() == ref.errors.tolist()
    assert out["error"][1] == "missing molecule" and out["error"][2] == "empty SMILES"
    assert "valence" in out["error"][5].lower()


def test_all_null_and_empty_columns():
    nulls = pl.DataFrame({"smiles": [None, None]})  # dtype Null
    out = nulls.with_columns(
        f=ssp.fold("smiles", 8), i=ssp.ids("smiles"), ok=ssp.is_valid("smiles"), e=ssp.parse_error("smiles")
    )
    assert out["f"].null_count() == 2 and out["i"].null_count() == 2
    assert out["ok"].to_list() == [False, False] and out["e"].to_list() == ["missing molecule"] * 2
    empty = pl.DataFrame({"smiles": []}, schema={"smiles": pl.String}).lazy()
    got = empty.with_columns(
        f=ssp.fold("smiles", 8), i=ssp.ids("smiles"), ok=ssp.is_valid("smiles"), e=ssp.parse_error("smiles")
    )
    assert got.collect().schema == got.collect_schema() and got.collect().height == 0


def test_parameters_checked_when_the_expression_is_built(featurisers):
    with pytest.raises(ValueError, match="radius"):
        ssp.ids("smiles", radius=-1)
    with pytest.raises(ValueError, match="invariants"):
        ssp.fold("smiles", 64, invariants="maccs")
    with pytest.raises(ValueError, match="length"):
        ssp.fold("smiles", 0)
    with pytest.raises(ValueError, match="invariants"):
        ssp.is_valid("smiles", invariants="x")
    with pytest.raises(ValueError, match="not fitted"):
        ssp.transform("smiles", sortslice.SortSlice(length=8))
    with pytest.raises(TypeError, match="featuriser"):
        ssp.transform("smiles", object())


def test_non_string_columns_are_refused_and_categoricals_accepted():
    with pytest.raises(TypeError, match="SMILES strings.*Int64"):
        pl.DataFrame({"smiles": [1, 2]}).select(ssp.fold("smiles", 8))
    cat = pl.DataFrame({"smiles": ["CCO", "x"]}, schema={"smiles": pl.Categorical})
    assert_series_equal(
        cat.select(ssp.fold("smiles", 8))["smiles"], cat.select(ssp.fold(pl.col("smiles").cast(pl.String), 8))["smiles"]
    )


def test_strict_featuriser_fails_naming_the_molecule():
    ss = sortslice.SortSlice(length=8, strict=True).fit(["CCO", "CCN"])
    df = pl.DataFrame({"smiles": ["CCO", "C1CC"]})
    with pytest.raises(sortslice.InvalidMoleculeError, match=r"'C1CC': invalid SMILES"):
        df.select(ssp.sort_slice("smiles", ss))
    assert df.head(1).select(ssp.sort_slice("smiles", ss))["smiles"].to_list() == [ss.transform(["CCO"])[0].tolist()]


def test_expression_keeps_the_featuriser_it_was_built_with():
    ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    expr = ssp.sort_slice("smiles", ss)
    before = ss.transform(["CCO", "c1ccccc1"])
    ss.set_params(length=2).fit(["c1ccccc1"])  # refit after building
    got = pl.DataFrame({"smiles": ["CCO", "c1ccccc1"]}).select(expr)["smiles"].to_list()
    assert got == before.tolist()


# ----------------------------------------------------------------- group_by, over, agg
def test_group_by_agg_and_over(smiles):
    df = pl.DataFrame({"smiles": smiles, "g": np.arange(len(smiles)) % 3})
    plain = df.with_columns(fp=ssp.fold("smiles", 32), ok=ssp.is_valid("smiles"))
    agg = df.group_by("g", maintain_order=True).agg(
        fp=ssp.fold("smiles", 32),
        n_valid=ssp.is_valid("smiles").sum(),
        n_bad=pl.col("smiles").ecfp.parse_error().is_not_null().sum(),
    )
    expect = plain.group_by("g", maintain_order=True).agg(
        pl.col("fp"), n_valid=pl.col("ok").sum(), n_bad=(~pl.col("ok")).sum()
    )
    assert_frame_equal(agg, expect)
    over = (
        df.lazy()
        .with_columns(
            fp=ssp.fold("smiles", 32).over("g"),
            n_valid=ssp.is_valid("smiles").sum().over("g"),
        )
        .collect(engine="streaming")
    )
    assert_series_equal(over["fp"], plain["fp"])
    assert_series_equal(over["n_valid"], plain.select(pl.col("ok").sum().over("g"))["ok"], check_names=False)


# -------------------------------------------------------------------------- threads
def test_no_numba_threading_layer_is_started():
    """Kernels are serial and run over blocks on sortslice's own thread pool: Numba's threading layer (TBB,
    whose threads warn at every fork and need a launch lock under ``workqueue``) never starts."""
    code = (
        "import numba.np.ufunc.parallel as p, sortslice, polars as pl\n"
        "ss = sortslice.SortSlice(length=16).fit(['CCO', 'c1ccccc1O'] * 50)\n"
        "sortslice.ecfp(['CCO', 'c1ccccc1'] * 2000, n_jobs=2)\n"
        "ss.set_params(n_jobs=2).transform(['CCO'] * 5000)\n"
        "import sortslice.polars\n"
        "pl.DataFrame({'s': ['CCO'] * 10}).select(pl.col('s').ecfp.sort_slice(ss))\n"
        "print('layer started:', p._is_initialized)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "layer started: False" in out.stdout
    assert "fork" not in out.stderr, out.stderr


def test_default_jobs_ask_every_batch_for_the_same_pool():
    # concurrent batches must never ask the engine for parsing pools of different sizes
    from sortslice.engine.parallel import cpu_count, processes

    big = [n for n in (4_000, 9_999, 75_000, 1_000_000) if processes(None, n) > 1]
    assert {batches.jobs(None, n) for n in big} <= {cpu_count()}
    assert batches.jobs(None, 10) is None and batches.jobs(3, 10) == 3 and batches.jobs(1, 10**6) == 1


def test_concurrent_use_from_several_python_threads(featurisers, monkeypatch):
    # every call uses the engine's parsing processes too: batches of 100 text rows per process are enough
    # (the threshold changes no result, only when a hand-off pays; 2,000 by default)
    from sortslice.engine import parallel

    from threads import launches

    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_PROCESS", 100)
    smi = _with_bad(sample("moses", 1200), seed=3)
    df = pl.DataFrame({"smiles": smi})
    ss = featurisers["sort_slice"]
    queries = {
        "ids": lambda lf: lf.select(ssp.ids("smiles")),
        "fold": lambda lf: lf.select(ssp.fold("smiles", 128, counts=True)),
        "ss": lambda lf: lf.select(ssp.sort_slice("smiles", ss)),
        "error": lambda lf: lf.select(ssp.parse_error("smiles")),
    }
    serial = {k: q(df.lazy()).collect(engine="in-memory") for k, q in queries.items()}
    results, errors = {}, []

    def run(key, engine):
        try:
            results[key, engine] = queries[key](df.lazy()).collect(engine=engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(f"{key}/{engine}: {exc!r}")

    threads = [threading.Thread(target=run, args=(k, e)) for k in queries for e in ("streaming", "in-memory")]
    with launches() as seen:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(seen.processes) >= len(threads) and set(seen.processes) == {numba.config.NUMBA_NUM_THREADS}
    for (key, _engine), got in results.items():
        assert_frame_equal(got, serial[key])


# ---------------------------------------------------------------------------- fitting
def test_fit_accepts_a_series_and_fit_lazy_streams_scanned_files(tmp_path):
    smi = _with_bad(sample("moses", 1500), seed=11)
    series = pl.Series("smiles", smi)
    whole = sortslice.SortSlice(length=200).fit(series)
    assert np.array_equal(whole.vocabulary_, sortslice.SortSlice(length=200).fit(smi).vocabulary_)
    pl.DataFrame({"smiles": smi, "y": np.arange(len(smi))}).write_parquet(tmp_path / "train.parquet")
    pl.DataFrame({"SMILES": smi}).write_csv(tmp_path / "train.csv")
    sources = [pl.scan_parquet(tmp_path / "train.parquet"), pl.scan_csv(tmp_path / "train.csv")]
    for lf, column in zip(sources, ["smiles", pl.col("SMILES")]):
        ss = sortslice.SortSlice(length=200).fit(["c1ccccc1"])  # fitted before: fit_lazy starts afresh
        assert ssp.fit_lazy(ss, lf, column, batch_size=333) is ss
        assert np.array_equal(ss.vocabulary_, whole.vocabulary_)
        assert np.array_equal(ss.prevalence_, whole.prevalence_)
        assert (ss.n_molecules_, ss.n_invalid_) == (whole.n_molecules_, whole.n_invalid_)
        assert np.array_equal(ss.transform(smi[:50]), whole.transform(smi[:50]))


def test_fit_lazy_edge_cases():
    empty = pl.LazyFrame({"smiles": []}, schema={"smiles": pl.String})
    ss = ssp.fit_lazy(sortslice.SortSlice(length=4), empty, "smiles")
    assert ss.n_molecules_ == 0 and ss.transform(["CCO"]).shape == (1, 4)
    hf = ssp.fit_lazy(sortslice.HashFold(length=16), pl.DataFrame({"smiles": ["CCO"]}), "smiles")
    assert hf.n_features_out_ == 16
    with pytest.raises(TypeError, match="no partial_fit"):
        ssp.fit_lazy(sortslice.MIM(length=4), empty, "smiles")
    with pytest.raises(ValueError, match="batch_size"):
        ssp.fit_lazy(sortslice.SortSlice(length=4), empty, "smiles", batch_size=0)


# ---------------------------------------------------------------------------- zero copy
def test_outputs_share_the_engines_buffers():
    X = np.arange(12, dtype=np.uint8).reshape(4, 3)
    s = batches.array_series("fp", X, np.array([True, False, True, True]))
    arrow = s.to_arrow()
    assert arrow.values.buffers()[1].address == X.ctypes.data
    assert s.to_list() == [[0, 1, 2], None, [6, 7, 8], [9, 10, 11]]
    fp = sortslice.ecfp(["CCO", "x", "CC"])
    col = batches.ids_series("fp", fp)
    ids_list = col.struct.field("ids").to_arrow()
    assert ids_list.values.buffers()[1].address == fp.ids.ctypes.data
    assert ids_list.buffers()[1].address == fp.indptr.ctypes.data


# ------------------------------------------------------------------ one parse per row: with_error
@pytest.mark.parametrize("function", ["sort_slice", "fold", "transform", "ids"])
def test_with_error_is_the_value_and_the_reason_from_one_parse(function, smiles, featurisers, monkeypatch):
    """``with_error=True`` equals the value expression and ``parse_error`` side by side, and parses each
    row once where the pair parses it twice (counted, in this process)."""
    from sortslice.engine import flatten

    real = flatten.parse_in_process
    parsed = []

    def counting(kind, items, rows):
        parsed.append(len(rows))
        return real(kind, items, rows)

    monkeypatch.setattr(flatten, "parse_in_process", counting)
    real_fast = flatten.fastpath.parse_smiles

    def counting_fast(texts, **kwargs):  # rows the fast path takes are parsed there, not by RDKit
        out = real_fast(texts, **kwargs)
        parsed.append(int(out.accepted.sum()))
        return out

    monkeypatch.setattr(flatten.fastpath, "parse_smiles", counting_fast)
    ss = featurisers["sort_slice"]
    build = {
        "sort_slice": lambda **kw: pl.col("smiles").ecfp.sort_slice(ss, **kw),
        "fold": lambda **kw: pl.col("smiles").ecfp.fold(128, n_jobs=1, **kw),
        "transform": lambda **kw: ssp.transform("smiles", featurisers["mim"], **kw),
        "ids": lambda **kw: ssp.ids("smiles", radius=1, n_jobs=1, **kw),
    }[function]
    field = "ids" if function == "ids" else "fingerprint"
    lf = pl.LazyFrame({"smiles": smiles})
    one = lf.select(build(with_error=True).struct.unnest())
    assert one.collect_schema() == pl.Schema({field: lf.select(build()).collect_schema()["smiles"], "error": pl.String})
    parsed.clear()
    got = one.collect()
    once = sum(parsed)
    parsed.clear()
    pair = lf.select(build().alias(field), ssp.parse_error("smiles", n_jobs=1).alias("error")).collect()
    twice = sum(parsed)
    assert_frame_equal(got, pair)
    n_text = sum(isinstance(s, str) for s in smiles)
    assert once == n_text and twice == 2 * n_text
    assert got["error"].null_count() == sum(sortslice.ecfp(smiles, n_jobs=1).valid)


def test_batches_computed_in_pieces_give_the_same_rows(monkeypatch, smiles, featurisers):
    """Large Polars batches are computed a piece at a time (memory): any piece size gives the same column."""
    df = pl.DataFrame({"smiles": smiles})
    query = [
        pl.col("smiles").ecfp.sort_slice(featurisers["sort_slice"], with_error=True).alias("fp"),
        ssp.ids("smiles", radius=1).alias("ids"),
        ssp.parse_error("smiles").alias("error"),
        ssp.transform("smiles", featurisers["sort_slice_counts"]).alias("counts"),
    ]
    whole = df.select(query)
    monkeypatch.setattr(batches, "PIECE", 7)
    pieces = df.select(query)
    assert_frame_equal(pieces, whole)
    assert whole.height == len(smiles)
