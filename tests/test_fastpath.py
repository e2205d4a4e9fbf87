"""The certified SMILES fast path (``parser="auto"``) against the RDKit route (``parser="rdkit"``).

The oracle is RDKit itself: every molecule goes through both routes and ids, counts, validity and reasons
must be identical; on the molecules the fast path accepts, its graph (atoms, H counts, charges, ring
membership, bond types) must equal RDKit's atom by atom.  By default the in-repository samples and RDKit's
own data files; the ``data`` marker runs every molecule of the large sets (CI).
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

import sortslice
from sortslice.engine import fastpath, smiles
from sortslice.engine.graph import graph_from_mols_exact

from datasets import moses, paper_smiles, rdkit_nci, rdkit_wehi, sample, smi_gz
from helpers import EDGE_SMILES, run_cli

#: the ECFP options the fast path serves (achiral ECFP), each compared between the routes
OPTIONS = [
    dict(),
    dict(radius=0),
    dict(radius=1),
    dict(radius=3),
    dict(bond_types=False),
    dict(ring_membership=False),
    dict(redundant_environments=True),
]


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Compile the parser here, so that every call below takes it (calls take RDKit until it is ready)."""
    fastpath.parse_smiles(["CCO"], threads=1)
    assert fastpath.ready(1)


def same(a: sortslice.EcfpResult, b: sortslice.EcfpResult) -> None:
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.ids, b.ids)
    assert np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.valid, b.valid)
    assert a.errors.tolist() == b.errors.tolist()


def check_graphs(texts: list[str]) -> fastpath.FastParse:
    """Every molecule the fast path accepts is valid for RDKit, with RDKit's graph."""
    from rdkit import Chem

    fp = fastpath.parse_smiles(texts, threads=2)
    g = fp.graph
    for i in np.flatnonzero(fp.accepted).tolist():
        mol = Chem.MolFromSmiles(texts[i])
        assert mol is not None, f"accepted what RDKit refuses: {texts[i]!r}"
        ref = graph_from_mols_exact([mol])
        a0, a1, b0, b1 = g.atom_ptr[i], g.atom_ptr[i + 1], g.bond_ptr[i], g.bond_ptr[i + 1]
        for name in ("atomic_num", "total_degree", "total_hs", "charge", "delta_mass", "in_ring"):
            assert np.array_equal(getattr(g, name)[a0:a1], getattr(ref, name)), (name, texts[i])
        ours = {
            (min(u, v), max(u, v)): t for u, v, t in zip(g.bond_begin[b0:b1], g.bond_end[b0:b1], g.bond_type[b0:b1])
        }
        theirs = {(min(u, v), max(u, v)): t for u, v, t in zip(ref.bond_begin, ref.bond_end, ref.bond_type)}
        assert ours == theirs, texts[i]
    return fp


def both_routes(texts, **options):
    auto = sortslice.ecfp(texts, parser="auto", **options)
    ref = sortslice.ecfp(texts, parser="rdkit", **options)
    same(auto, ref)
    return auto


def pubchem_examples() -> list[str]:
    """PubChem's SMILES (Kekulé form: every aromatic ring is perceived, none is written) of the hit-triaging
    patterns' examples that RDKit ships."""
    import csv
    from pathlib import Path

    from rdkit import RDConfig

    name = "SubstructureFilter_HitTriaging_wPubChemExamples.csv"
    with open(Path(RDConfig.RDContribDir, "NIBRSubstructureFilters", name), newline="") as fh:
        return [r[f"EX{k}"] for r in csv.DictReader(fh) for k in range(1, 6) if r.get(f"EX{k}")]


SETS = {
    "pubchem_kekule": pubchem_examples,
    "moses": lambda: sample("moses"),
    "zinc": lambda: sample("zinc"),
    "chembl_chiral": lambda: sample("chembl_chiral"),
    "nci": rdkit_nci,
    "wehi": rdkit_wehi,
}
#: the share each in-repository set must reach (the issue's targets are >= 98 % drug-like, >= 93 % diverse)
SHARE = {"pubchem_kekule": 0.85, "moses": 0.99, "zinc": 0.98, "chembl_chiral": 0.98, "nci": 0.80, "wehi": 0.80}


@pytest.mark.parametrize("name", sorted(SETS))
def test_fixture_sets_identical_through_both_routes(name):
    texts = SETS[name]()
    fp = check_graphs(texts)
    assert fp.accepted.mean() >= SHARE[name]
    for options in OPTIONS:
        got = both_routes(texts, **options)
        assert got.routes["fast"] == int(fp.accepted.sum())


def test_edge_cases_identical_and_never_accepted_when_rdkit_refuses():
    texts = [s for s in EDGE_SMILES if isinstance(s, str)]
    texts += ["c1ccnc1", "C1CC", "c1cccc1", "N(=O)=O", "C(C)(C)(C)(C)C", "[NH4+]", "[nH]1cccc1", "CC(", "C)C"]
    check_graphs(texts)
    both_routes(texts + [None, float("nan")])


def test_paper_sets_identical():
    texts = [s for name in ("lipophilicity", "ames") for s in paper_smiles(name)]
    fp = check_graphs(texts)
    assert fp.accepted.mean() >= 0.9
    both_routes(texts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lipophilicity", "aqsoldb", "mpro", "ames", "lit_pcba_esr_ant"])
def test_every_paper_set_identical(name):
    texts = paper_smiles(name)
    check_graphs(texts)
    for options in OPTIONS:
        both_routes(texts, **options)


def test_rows_keep_their_order_whatever_the_pieces_and_threads():
    texts = sample("zinc", 2000) + [None, "not a smiles"] + sample("chembl_chiral", 500)
    ref = sortslice.ecfp(texts, parser="rdkit")
    for kwargs in (dict(n_jobs=1), dict(n_jobs=2), dict(chunk_size=97), dict(chunk_size=1, n_jobs=1)):
        same(sortslice.ecfp(texts, **kwargs), ref)
    a = fastpath.parse_smiles(texts, threads=1)
    b = fastpath.parse_smiles(texts, threads=2)
    assert np.array_equal(a.status, b.status)
    assert np.array_equal(a.graph.bond_type, b.graph.bond_type)


def test_routes_are_counted_and_kept_by_take():
    texts = ["CCO", "c1ccccc1", "[2H]C", None, "C1CC"]
    fp = sortslice.ecfp(texts)
    assert fp.fast.tolist() == [True, True, False, False, False]
    assert fp.routes == {"fast": 2, "rdkit": 3}
    assert fp.take([4, 1]).routes == {"fast": 1, "rdkit": 1}
    assert sortslice.ecfp(texts, parser="rdkit").routes == {"fast": 0, "rdkit": 5}


@pytest.mark.parametrize("options", [dict(chirality=True), dict(invariants="fcfp")])
def test_parameters_the_fast_path_does_not_serve_take_rdkit(options):
    fp = sortslice.ecfp(sample("chembl_chiral", 200), **options)
    assert fp.routes["fast"] == 0
    same(fp, sortslice.ecfp(sample("chembl_chiral", 200), parser="rdkit", **options))


def test_unverified_rdkit_turns_the_fast_path_off_with_one_warning(monkeypatch):
    monkeypatch.setattr(fastpath, "rdkit_version", lambda: "2099.01.1")
    monkeypatch.setattr(fastpath, "_noted", False)
    texts = sample("moses", 300)
    with pytest.warns(fastpath.FastPathWarning, match="verified for RDKit"):
        fp = sortslice.ecfp(texts)
    assert fp.routes == {"fast": 0, "rdkit": 300}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        same(sortslice.ecfp(texts), fp)


def test_the_installed_rdkit_is_a_verified_one():
    # the suite verifies the installed release: a new one must be added to VERIFIED_RDKIT after this file passes
    assert fastpath.rdkit_version() in fastpath.VERIFIED_RDKIT


def test_wrong_parser_is_refused_early():
    with pytest.raises(ValueError, match="parser must be 'auto' or 'rdkit'"):
        sortslice.ecfp(["CCO"], parser="fast")
    with pytest.raises(ValueError, match="parser must be 'auto' or 'rdkit'"):
        sortslice.SortSlice(parser="RDKit").fit(["CCO"])


def test_featurisers_and_transform_one_identical_through_both_routes():
    train, test = sample("moses", 2000), sample("zinc", 1000) + ["[2H]C", "c1ccnc1"]
    for cls in (sortslice.SortSlice, sortslice.HashFold):
        auto = cls(length=256, counts=True).fit(train)
        ref = cls(length=256, counts=True, parser="rdkit").fit(train)
        assert np.array_equal(auto.transform(test), ref.transform(test))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = np.array([auto.transform_one(s) for s in test])
            one_ref = np.array([ref.transform_one(s) for s in test])
        assert np.array_equal(one, one_ref)
        assert np.array_equal(one, ref.transform(test))


def test_cli_parser_switch_gives_the_same_file(tmp_path):
    src = tmp_path / "in.smi"
    src.write_text("\n".join(sample("zinc", 300) + ["not a smiles"]) + "\n")
    outs = []
    for parser in ("auto", "rdkit"):
        out = tmp_path / f"{parser}.parquet"
        result = run_cli("--parser", parser, "ids", str(src), "-o", str(out))
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    import polars as pl

    a, b = (pl.read_parquet(tmp_path / f"{p}.parquet") for p in ("auto", "rdkit"))
    assert a.equals(b)
    assert run_cli("--parser", "fast", "ids", str(src), "-o", str(tmp_path / "x.parquet")).exit_code == 2


# ------------------------------------------------------------------------------ fuzz
_ALPHABET = list("CNOScnos()[]=#-+@H123456789%.:/\\*BrClF ") + ["[nH]", "[N+]", "[O-]", "c1ccccc1", "%10", "[C@@H]"]


def mutants(seeds: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            pos = rng.randrange(len(s) + 1)
            if op < 0.4 and s:
                del s[min(pos, len(s) - 1)]
            elif op < 0.8:
                s.insert(pos, rng.choice(_ALPHABET))
            elif s:
                j = rng.randrange(len(s))
                s[min(pos, len(s) - 1)], s[j] = s[j], s[min(pos, len(s) - 1)]
        out.append("".join(s))
    return out


HOSTILE = [
    "(" * 50,
    ")" * 50,
    "C1" * 300,
    "c" * 500,
    "[" * 20,
    "C" + "=C" * 200,
    "C%99CC%99",
    "C%(100)CC%(100)",
    "\x00C",
    "CC\nCC",
    "C\u00e9C",
    "\ud800",
    "c1ccccc1" * 60,
    "C(C(C(C(C(C(C(C(C(C))))))))))",
    "CCO.",
    ".CCO",
    "C..C",
    "C(C)1CC1",
    "[nH+]1cccc1",
    "C1CC2CC1C2",
    "c12ccccc1cccc2",
    "c1cc2ccc3cccc4ccc(c1)c2c34",
]


def test_fuzz_never_accepts_what_rdkit_refuses_and_never_differs():
    seeds = sample("zinc", 300) + sample("chembl_chiral", 200)
    texts = mutants(seeds, 3000, seed=27) + HOSTILE
    check_graphs([t for t in texts if "\ud800" not in t])
    both_routes(texts)


@pytest.mark.fuzz
def test_fuzz_long():
    seeds = sample("zinc") + sample("chembl_chiral") + rdkit_nci()
    for k in range(5):
        texts = mutants(seeds, 40_000, seed=1000 + k)
        check_graphs(texts)
        both_routes(texts)


# ------------------------------------------------------------------------------ every molecule we have (CI)
LARGE = ["moses_test.csv.gz", "moses_train.csv.gz", "zinc_50k.smi.gz", "chembl20_chiral_10k.smi.gz"]


def _large(name: str) -> list[str]:
    if name.startswith("moses"):
        return moses(name.split("_")[1].split(".")[0])
    return smi_gz(name)


@pytest.mark.data
@pytest.mark.parametrize("name", LARGE)
def test_large_sets_identical_through_both_routes(name):
    texts = _large(name)
    got = both_routes(texts)
    share = got.routes["fast"] / len(texts)
    print(f"{name}: {len(texts)} molecules, fast path {100 * share:.2f} %")
    assert share >= 0.98


@pytest.mark.data
@pytest.mark.parametrize("name", ["zinc_50k.smi.gz", "chembl20_chiral_10k.smi.gz"])
def test_large_sets_graphs_equal_rdkits_with_every_option(name):
    texts = _large(name)
    check_graphs(texts)
    for options in OPTIONS[1:]:
        both_routes(texts, **options)


@pytest.mark.data
@pytest.mark.parametrize("name", ["zinc_50k.smi.gz", "chembl20_chiral_10k.smi.gz", "moses_test.csv.gz"])
def test_the_lifted_gates_take_only_molecules_rdkit_agrees_on(name):
    """The study's fused-ring gates are off by default: every molecule they would defer is taken, and taken
    with RDKit's graph (the evidence that let them go; run again on each RDKit release)."""
    texts = _large(name)
    lifted = fastpath.parse_smiles(texts)
    gated = fastpath.parse_smiles(texts, gates=smiles.GATE_PERI | smiles.GATE_BRIDGED)
    assert not (gated.accepted & ~lifted.accepted).any()
    extra = [texts[i] for i in np.flatnonzero(lifted.accepted & ~gated.accepted)]
    if name != "chembl20_chiral_10k.smi.gz":
        assert extra  # the sets hold peri-fused systems: the gates would defer some
    check_graphs(extra)


def test_gates_defer_peri_fused_and_bridged_systems_when_asked():
    peri = "O=C1Nc2cccc3cccc1c23"  # naphthalimide-like: an atom in three candidate rings
    assert fastpath.parse_smiles([peri]).accepted.all()
    assert not fastpath.parse_smiles([peri], gates=smiles.GATE_PERI).accepted.any()
    check_graphs([peri])
