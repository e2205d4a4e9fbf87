"""Fuzzing with hostile inputs (``hostile.py``): ``sortslice.ecfp``, every featuriser, Polars and the CLI.

Whatever the input, and whatever comes before or after it in the batch:

* nothing crashes or hangs, and the output has exactly one row per input, in input order;
* a valid row is exactly RDKit's ``GetSparseCountFingerprint`` of the molecule (ids and counts), and
  a featuriser's row is what that featuriser gives for the valid molecules alone (HashFold: RDKit's
  folded fingerprint);
* an invalid row has no ids, ``valid=False`` and a one-line reason, and RDKit gives no molecule for
  it (or it is above the documented size limit, ``MAX_ATOMS`` / ``MAX_RINGS``);
* every row equals the result of its input alone, so nothing leaks or shifts between rows.

The default run tries a few thousand inputs in well under a minute (Hypothesis, derandomised).
``-m fuzz`` runs the same properties on more than 100,000 generated inputs and prints how many were
tried through each route (``python -m pytest -m fuzz tests/test_fuzz.py``).
"""

from __future__ import annotations

import collections
import csv
import functools

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rdkit import Chem

import sortslice
from sortslice.engine.fingerprint import MAX_ATOMS, MAX_RINGS, EcfpParams

import hostile
from datasets import paper_smiles, sample
from helpers import dense, run_cli

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
#: the default run: small and quick
QUICK = settings(max_examples=25, **SETTINGS)
#: ``-m fuzz``: enough examples of big batches for > 100,000 inputs in all
LONG = settings(max_examples=1000, **SETTINGS)

PARAMS = [
    EcfpParams(),
    EcfpParams(radius=0),
    EcfpParams(radius=1, chirality=True),
    EcfpParams(radius=3, invariants="fcfp"),
    EcfpParams(radius=2, invariants="fcfp", chirality=True, redundant_environments=True),
    EcfpParams(radius=2, bond_types=False, ring_membership=False),
]

#: inputs tried per route (conftest.py prints them in the terminal summary)
TRIED: collections.Counter = collections.Counter()


@functools.cache
def real_smiles() -> list[str]:
    """Valid SMILES to mutate: four of the paper data sets and some MOSES molecules."""
    out = []
    for name in ("ames", "lipophilicity", "mpro", "aqsoldb"):
        out += paper_smiles(name)[:400]
    return out + sample("moses", 400)


REAL = real_smiles()
SINK = hostile.kitchen_sink(REAL)
#: the kitchen sink as a text column (strings and None)
SINK_TEXT = [x for x in SINK if x is None or isinstance(x, str)]


# ------------------------------------------------------------------------------------ oracles
@functools.cache
def _generator(params: EcfpParams, fp_size: int = 2048):
    return params.rdkit_generator(fp_size)


def rdkit_mol(x):
    """The molecule RDKit makes of one input on its own, or None."""
    if isinstance(x, bytes):
        x = x.decode("utf-8", errors="replace")
    if isinstance(x, Chem.Mol):
        mol = x
    elif isinstance(x, str) and x.strip():
        try:
            mol = Chem.MolFromSmiles(x)
        except UnicodeEncodeError:  # lone surrogates: not text RDKit can read
            return None
        except RuntimeError:  # RDKit raises on a few impossible atoms
            return None
    else:
        return None
    if mol is None:
        return None
    rings = mol.GetNumBonds() - mol.GetNumAtoms() + len(Chem.GetMolFrags(mol))
    return mol if mol.GetNumAtoms() <= MAX_ATOMS and rings <= MAX_RINGS else None


def expected(x, params: EcfpParams):
    """RDKit's ``{id: count}`` for one input, or None when it is not a usable molecule."""
    mol = rdkit_mol(x)
    return None if mol is None else _generator(params).GetSparseCountFingerprint(mol).GetNonzeroElements()


def assert_reason(reason) -> None:
    assert isinstance(reason, str) and reason.strip() and "\n" not in reason, repr(reason)


def check_ecfp(fp, items, params: EcfpParams, *, alone: bool = True) -> None:
    """Every row of ``fp`` against RDKit and against its input alone."""
    n = len(items)
    assert len(fp) == n and fp.indptr.shape == (n + 1,) and fp.valid.shape == (n,) and fp.errors.shape == (n,)
    for i, x in enumerate(items):
        exp = expected(x, params)
        ids, counts = fp.row(i)
        if exp is None:
            assert not fp.valid[i], (i, x)
            assert_reason(fp.errors[i])
            assert ids.size == 0
        else:
            assert fp.valid[i] and fp.errors[i] is None, (i, x, fp.errors[i])
            assert fp.to_dict(i) == exp, (i, x)
        if alone:
            one = sortslice.ecfp([x], n_jobs=1, **params.to_dict())
            assert one.errors[0] == fp.errors[i] and one.to_dict(0) == fp.to_dict(i), (i, x)


# ------------------------------------------------------------------------------------- ecfp
def _ecfp_in_process(items, params):
    TRIED["ecfp"] += len(items)
    fp = sortslice.ecfp(items, n_jobs=1, **params.to_dict())
    check_ecfp(fp, items, params)


@QUICK
@given(hostile.batches(REAL, min_size=10), st.sampled_from(PARAMS))
@example(SINK, PARAMS[0])
@example(SINK, PARAMS[4])
def test_ecfp_hostile_batches(items, params):
    _ecfp_in_process(items, params)


@pytest.mark.fuzz
@LONG
@given(hostile.batches(REAL, min_size=40, max_size=120), st.sampled_from(PARAMS))
def test_ecfp_hostile_batches_long(items, params):
    _ecfp_in_process(items, params)


def _ecfp_workers(items, params, chunk_size):
    TRIED["ecfp n_jobs=2"] += len(items)
    fp = sortslice.ecfp(items, n_jobs=2, chunk_size=chunk_size, **params.to_dict())
    check_ecfp(fp, items, params, alone=False)
    one = sortslice.ecfp(items, n_jobs=1, **params.to_dict())
    assert np.array_equal(fp.indptr, one.indptr) and np.array_equal(fp.ids, one.ids)
    assert np.array_equal(fp.counts, one.counts) and fp.errors.tolist() == one.errors.tolist()


@settings(QUICK, max_examples=10)
@given(hostile.text_batches(REAL, max_size=40), st.sampled_from(PARAMS), st.integers(1, 50))
@example(SINK_TEXT, PARAMS[2], 7)
def test_ecfp_worker_processes(items, params, chunk_size):
    """Text batches are parsed by worker processes (``n_jobs=2``), in chunks: same rows, same order."""
    _ecfp_workers(items, params, chunk_size)


@pytest.mark.fuzz
@settings(LONG, max_examples=150)
@given(hostile.text_batches(REAL, min_size=50, max_size=150), st.sampled_from(PARAMS), st.integers(1, 200))
def test_ecfp_worker_processes_long(items, params, chunk_size):
    _ecfp_workers(items, params, chunk_size)


def _mol_block_batch(blocks):
    TRIED["ecfp mol blocks"] += len(blocks)
    fp = sortslice.ecfp(blocks, kind="molblock", n_jobs=1)
    assert len(fp) == len(blocks)
    gen = _generator(EcfpParams())
    for i, block in enumerate(blocks):
        try:
            mol = Chem.MolFromMolBlock(block)
        except RuntimeError:  # RDKit raises on a few impossible atoms
            mol = None
        if mol is None:
            assert not fp.valid[i]
            assert_reason(fp.errors[i])
        else:
            assert fp.valid[i] and fp.to_dict(i) == gen.GetSparseCountFingerprint(mol).GetNonzeroElements(), i
    workers = sortslice.ecfp(blocks, kind="molblock", n_jobs=2, chunk_size=7)
    assert np.array_equal(workers.ids, fp.ids) and workers.errors.tolist() == fp.errors.tolist()


@settings(QUICK, max_examples=5)
@given(st.lists(hostile.mol_blocks(REAL), min_size=1, max_size=30))
def test_mutated_mol_blocks(blocks):
    """SDF records from other tools: lines lost, doubled or edited (kind="molblock")."""
    _mol_block_batch(blocks)


@pytest.mark.fuzz
@settings(LONG, max_examples=100)
@given(st.lists(hostile.mol_blocks(REAL), min_size=20, max_size=100))
def test_mutated_mol_blocks_long(blocks):
    _mol_block_batch(blocks)


# ------------------------------------------------------------------------------ featurisers
def _labels(rng, n):
    """Class labels or regression targets."""
    return rng.integers(0, 2, n) if rng.integers(0, 2) else rng.normal(size=n)


def _featurisers():
    return [
        sortslice.SortSlice(length=32, radius=1),
        sortslice.SortSlice(length=16, counts=True, sparse=True),
        sortslice.HashFold(length=64, counts=True),
        sortslice.HashFold(length=32, chirality=True),
        sortslice.MIM(length=16),
        sortslice.Filtering(length=16, radius=1),
    ]


def _fitted_state(f):
    if isinstance(f, sortslice.HashFold):
        return None
    return f.vocabulary_.tolist(), np.asarray(f.scores_).tolist(), f.prevalence_.tolist()


def check_featurisers(items, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = _labels(rng, len(items))
    fp = sortslice.ecfp(items, n_jobs=1)
    valid = fp.valid
    good = [x for x, v in zip(items, valid) if v]
    TRIED["featurisers (each through all 6)"] += len(items)
    for f in _featurisers():
        name = type(f).__name__
        f.fit(items, y)
        res = f.featurise(items)
        X = dense(res.X)
        assert X.shape == (len(items), f.length), name
        assert res.valid.tolist() == valid.tolist() and res.errors.tolist() == fp.errors.tolist(), name
        assert not X[~valid].any(), name
        # the valid rows are what the featuriser gives the valid molecules alone
        if good:
            assert np.array_equal(dense(f.transform(good)), X[valid]), name
        assert np.array_equal(dense(f.fit_transform(items, y)), X), name
        # the fused one-molecule path agrees row by row, whatever the input
        for i, x in enumerate(items):
            if isinstance(x, (list, tuple, np.ndarray)) or hasattr(x, "to_list"):
                # a container is a batch, not a molecule: an invalid row in a batch, refused by transform_one
                assert not valid[i], (name, i, x)
                with pytest.raises(TypeError, match="transform_one takes one molecule"):
                    f.transform_one(x)
                continue
            assert np.array_equal(f.transform_one(x), X[i]), (name, i, x)
        # invalid rows do not change what is learnt
        if not isinstance(f, sortslice.HashFold) and good:
            ref = type(f)(**f.get_params()).fit(good, y[valid])
            assert _fitted_state(ref) == _fitted_state(f), name
        # strict: the first invalid row is named, or the output is the same
        strict = type(f)(**{**f.get_params(), "strict": True}).fit(good, y[valid]) if good else None
        if strict is not None:
            if valid.all():
                assert np.array_equal(dense(strict.transform(items)), X), name
            else:
                first = int(np.flatnonzero(~valid)[0])
                with pytest.raises(sortslice.InvalidMoleculeError, match=f"^row {first}: "):
                    strict.transform(items)
        if isinstance(f, sortslice.HashFold):
            gen = _generator(f.ecfp_params, f.length)
            for i in np.flatnonzero(valid):
                mol = rdkit_mol(items[i])
                want = gen.GetCountFingerprintAsNumPy(mol) if f.counts else gen.GetFingerprintAsNumPy(mol)
                assert X[i].tolist() == want.tolist(), (name, i, items[i])
        if isinstance(f, sortslice.SortSlice):
            # Sort & Slice from RDKit's own ids: prevalence over the valid molecules, ties by larger id
            prevalence = collections.Counter()
            for i in np.flatnonzero(valid):
                prevalence.update(expected(items[i], f.ecfp_params).keys())
            ranked = sorted(prevalence.items(), key=lambda kv: (-kv[1], -kv[0]))[: f.length]
            assert f.vocabulary_.tolist() == [k for k, _ in ranked], name
            assert f.prevalence_.tolist() == [v for _, v in ranked], name
            assert (f.n_molecules_, f.n_invalid_) == (int(valid.sum()), int((~valid).sum())), name


@settings(QUICK, max_examples=12)
@given(hostile.batches(REAL, max_size=20), st.integers(0, 2**16))
@example(SINK, 0)
def test_featurisers_hostile_batches(items, seed):
    check_featurisers(items, seed)


@pytest.mark.fuzz
@settings(LONG, max_examples=100)
@given(hostile.batches(REAL, min_size=20, max_size=60), st.integers(0, 2**16))
def test_featurisers_hostile_batches_long(items, seed):
    check_featurisers(items, seed)


# ----------------------------------------------------------------------------------- Polars
@functools.cache
def _polars_featurisers():
    train = REAL[:300]
    y = np.arange(len(train)) % 3
    return {
        "ss": sortslice.SortSlice(length=64).fit(train),
        "mim": sortslice.MIM(length=32, radius=1).fit(train, y),
        "filter": sortslice.Filtering(length=32, radius=1).fit(train, y),
        "fold": sortslice.HashFold(length=32, counts=True).fit(),
    }


def check_polars(items, streaming: bool) -> None:
    import polars as pl

    import sortslice.polars as ssp

    TRIED["polars"] += len(items)
    fs = _polars_featurisers()
    lf = pl.LazyFrame({"smiles": items}, schema={"smiles": pl.String})
    out = lf.select(
        ids=ssp.ids("smiles"),
        ok=ssp.is_valid("smiles"),
        error=ssp.parse_error("smiles"),
        fold=pl.col("smiles").ecfp.fold(32, counts=True),
        ss_ns=pl.col("smiles").ecfp.sort_slice(fs["ss"]),
        **{k: ssp.transform("smiles", f) for k, f in fs.items() if k != "fold"},
    ).collect(engine="streaming" if streaming else "in-memory")
    assert out["ss_ns"].to_list() == out["ss"].to_list()
    assert out.height == len(items)
    fp = sortslice.ecfp(items, n_jobs=1)
    check_ecfp(fp, items, EcfpParams(), alone=False)
    assert out["ok"].to_list() == fp.valid.tolist()
    assert out["error"].to_list() == fp.errors.tolist()
    ids = out["ids"].to_list()
    for i in range(len(items)):
        if fp.valid[i]:
            assert ids[i] == {"ids": fp.row(i)[0].tolist(), "counts": fp.row(i)[1].tolist()}
        else:
            assert ids[i] is None
    for key, f in fs.items():
        X = dense(f.transform(items))
        got = out[key].to_list()
        for i in range(len(items)):
            assert got[i] == (X[i].tolist() if fp.valid[i] else None), (key, i, items[i])
    # fitting on the hostile column batch by batch equals fitting on it at once
    lazy = ssp.fit_lazy(sortslice.SortSlice(length=32, radius=1), lf, "smiles", batch_size=7)
    whole = sortslice.SortSlice(length=32, radius=1).fit(items)
    assert lazy.vocabulary_.tolist() == whole.vocabulary_.tolist()
    assert lazy.prevalence_.tolist() == whole.prevalence_.tolist()
    assert (lazy.n_molecules_, lazy.n_invalid_) == (whole.n_molecules_, whole.n_invalid_)


@settings(QUICK, max_examples=10)
@given(hostile.text_batches(REAL, max_size=40, polars=True), st.booleans())
@example([x for x in SINK_TEXT if hostile.polars_safe(x)], True)
def test_polars_hostile_columns(items, streaming):
    check_polars(items, streaming)


@pytest.mark.fuzz
@settings(LONG, max_examples=120)
@given(hostile.text_batches(REAL, min_size=50, max_size=150, polars=True), st.booleans())
def test_polars_hostile_columns_long(items, streaming):
    check_polars(items, streaming)


# -------------------------------------------------------------------------------- size limits
def _chain(n):
    return "C" * n


LONG_INPUTS = {
    # (input, a substring of the reason): the size limits are checked first, on the text itself
    "1 MB of random SMILES characters": (
        "".join(np.random.default_rng(1).choice(list("CNO()=#[]123%@+-"), 1_000_000)),
        "molecule too large",
    ),
    "1 MB of random characters": (
        "".join(map(chr, np.random.default_rng(2).integers(1, 0xD7FF, 1_000_000))),
        "syntax error",
    ),
    "1 MB chain": (_chain(1_000_000), "molecule too large"),
    "1 MB branched": ("C(C)" * 250_000, "molecule too large"),
    "1 MB of ring closures": ("C1CC1" * 200_000, "molecule too large"),
    "1 MB of open brackets": ("[" * 1_000_000, "syntax error"),
    "1 MB of open branches": ("C(" * 500_000, "molecule too large"),
    "1 MB of open brackets and atoms": ("[C" * 500_000, "molecule too large"),
    "1 MB of unclosed ring numbers": ("C%(" + "1" * 1_000_000, "molecule too large"),
    "1 MB of NUL bytes": ("\x00" * 1_000_000, "syntax error"),
    "1 MB of spaces": (" " * 1_000_000, "empty SMILES"),
    "one atom beyond the limit": ("C" * (MAX_ATOMS + 1), "molecule too large"),
    "one ring beyond the limit": (".".join(["C1CC1"] * (MAX_RINGS + 1)), "molecule too large"),
}


@pytest.mark.parametrize("name", list(LONG_INPUTS))
def test_very_long_strings_are_invalid_rows_with_a_reason(name):
    text, want = LONG_INPUTS[name]
    items = ["CCO", text, "c1ccccc1O"]
    fp = sortslice.ecfp(items, n_jobs=1)
    assert fp.valid.tolist() == [True, False, True]
    assert want in fp.errors[1], fp.errors[1]
    assert_reason(fp.errors[1])
    assert fp.to_dict(0) == expected("CCO", EcfpParams()) and fp.to_dict(2) == expected("c1ccccc1O", EcfpParams())


BIG_MOLECULES = {
    "20,000-atom chain (the limit)": _chain(MAX_ATOMS),
    "polystyrene, 400 rings": "CC(c1ccccc1)" * 400,
    "1,000 rings (the limit)": ".".join(["C1CC1"] * MAX_RINGS),
    "Pt/NH3 coordination polymer, 6,000 atoms": "[Pt+2](<-N)(<-N)" * 2000,
    # RDKit itself takes seconds to parse these (superlinear in branches), so only -m fuzz runs them
    "polyethylene glycol, 12,000 atoms": pytest.param("O" + "CCO" * 4000, marks=pytest.mark.fuzz),
    "poly-alanine, 10,000 atoms": pytest.param("N" + "C(C)C(=O)N" * 2000 + "C", marks=pytest.mark.fuzz),
}


@pytest.mark.parametrize("smiles", list(BIG_MOLECULES.values()), ids=list(BIG_MOLECULES))
def test_big_molecules_equal_rdkit(smiles):
    params = EcfpParams(radius=3, chirality=True)
    fp = sortslice.ecfp(["CCO", smiles, None], n_jobs=1, **params.to_dict())
    assert fp.valid.tolist() == [True, True, False]
    assert fp.to_dict(1) == expected(smiles, params)


def test_fitting_on_a_huge_molecule_does_not_crash():
    """A 20,000-atom chain first in the training data: examples come from molecules RDKit can write out.

    RDKit's ``MolToSmiles`` recurses once per atom of a chain and overflows the C stack (a segfault)
    somewhere past 16,000 atoms (far fewer on threads with small stacks); examples are therefore taken
    only from molecules of at most ``MAX_EXAMPLE_ATOMS`` atoms.
    """
    from sortslice.engine.featurisers import MAX_EXAMPLE_ATOMS

    big = _chain(MAX_ATOMS)
    train = [big, "CCO", "CCCC", "c1ccccc1CC"]
    for f in (sortslice.SortSlice(length=8), sortslice.MIM(length=8), sortslice.Filtering(length=8)):
        f.fit(train, [0, 1, 0, 1])
        rows = f.explain()
        for r in rows:
            if r["example"] is not None:
                assert Chem.MolFromSmiles(r["example"]["smiles"]).GetNumAtoms() <= MAX_EXAMPLE_ATOMS
        # ids the chain shares with small molecules get their examples from those
        assert all(r["example"] is not None for r in rows if r["prevalence"] >= 2)
        assert f.transform([big]).any()


# --------------------------------------------------------------------------------------- CLI
def test_cli_hostile_csv_keeps_every_row_in_place(tmp_path):
    rng = np.random.default_rng(5)
    smiles = [
        str(x)
        for x in rng.choice(
            np.array(
                REAL
                + list(hostile.BAD_VALENCES)
                + list(hostile.HOSTILE_TOKENS)
                + ["", " ", "\t", "C C", 'C"C', "C,C", "C\nC", "C\r\nC"],
                dtype=object,
            ),
            400,
        )
        if "\x00" not in str(x) and hostile.polars_safe(str(x))
    ]
    path = tmp_path / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["smiles", "id"])
        w.writerows([s, f"r{i}"] for i, s in enumerate(smiles))
    TRIED["cli"] += 2 * len(smiles)
    out = tmp_path / "ids.parquet"
    res = run_cli("ids", path, "-o", out, "--keep", "id", "--chunk-size", "37")
    assert res.exit_code == 0, res.output
    table = pq.read_table(out).to_pydict()
    # empty fields are missing values in CSV; every other row is there, in order
    assert table["id"] == [f"r{i}" for i in range(len(smiles))]
    fp = sortslice.ecfp([s if s != "" else None for s in smiles])
    assert [e is None for e in table["error"]] == fp.valid.tolist()
    for i in range(len(smiles)):
        if fp.valid[i]:
            assert table["ids"][i] == fp.row(i)[0].tolist()
        else:
            assert table["ids"][i] is None and table["error"][i]
    model = tmp_path / "m.json"
    assert run_cli("fit", path, "-o", model, "--length", "64").exit_code == 0
    X = tmp_path / "X.npy"
    res = run_cli("transform", model, path, "-o", X, "--chunk-size", "50")
    assert res.exit_code == 0, res.output
    ss = sortslice.SortSlice(length=64).fit([s if s != "" else None for s in smiles])
    assert np.array_equal(np.load(X), ss.transform([s if s != "" else None for s in smiles]))


def test_cli_hostile_smi_lines(tmp_path):
    """A .smi file: the first word of a line is the SMILES, the rest its name; odd bytes and blank lines."""
    lines = [
        "CCO ethanol",
        "C1CC open",
        "[999999999C] big",
        "[Pt](<-N)(<-N)(Cl)Cl cisplatin",
        "\u00e9 accent",
        "C%99CC%99 ring99",
        "((((C deep",
        "C(C)(C)(C)(C)C valence",
        "c1cccc1 kekule",
        "   ",
        "",
        "[C-99] charge",
        "\u202eCCO bidi",
        "N->[Fe]<-N dative",
        "* star",
    ] + [f"{s} real{i}" for i, s in enumerate(REAL[:50])]
    path = tmp_path / "in.smi"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ids.parquet"
    res = run_cli("ids", path, "-o", out, "--keep", "name")
    assert res.exit_code == 0, res.output
    table = pq.read_table(out).to_pydict()
    kept = [line.split(None, 1) for line in lines if line.split()]
    TRIED["cli"] += len(kept)
    assert table["name"] == [k[1] for k in kept]
    fp = sortslice.ecfp([k[0] for k in kept])
    check_ecfp(fp, [k[0] for k in kept], EcfpParams(), alone=False)
    assert table["error"] == fp.errors.tolist()
