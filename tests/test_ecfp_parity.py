"""Our ids and counts == RDKit's GetSparseCountFingerprint, on real data and edge cases.

The default run checks a fixed random sample (40 molecules) of every in-repository data set (the paper's
five sets and the ZINC and ChEMBL-chiral samples) for every option combination, ``-m slow`` (CI) a larger
one (200); ``-m data`` draws the samples from the whole ZINC 50k and ChEMBL 10k files; ``-m full`` checks
every molecule.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rdkit import Chem

import sortslice

from datasets import PAPER, paper_smiles, sample, smi_gz
from helpers import EDGE

SAMPLE = 40  # per data set and option combination; `-m slow` 200 of each, `-m full` every molecule
LARGER_SAMPLE = 200
#: the ring-membership and provenance tests' sample of one data set
FEATURE_SAMPLE = 80

LARGE = [
    pytest.param(f"large:{name}", marks=pytest.mark.data) for name in ("chembl20_chiral_10k.smi.gz", "zinc_50k.smi.gz")
]
SOURCES = [f"paper:{k}" for k in PAPER] + ["sample:chembl_chiral", "sample:zinc"] + LARGE

CONFIGS = [
    dict(radius=r, invariants=inv, chirality=c, bond_types=bt)
    for r, inv, c, bt in itertools.product([0, 1, 2, 3, 4], ["ecfp", "fcfp"], [False, True], [True, False])
]


def _config_id(c):
    chirality = "chir" if c["chirality"] else "achir"
    return f"r{c['radius']}-{c['invariants']}-{chirality}-{'bt' if c['bond_types'] else 'nobt'}"


def _load(source: str) -> list[str]:
    kind, name = source.split(":")
    return {"paper": paper_smiles, "sample": sample, "large": smi_gz}[kind](name)


_cache: dict = {}


def _molecules(source: str, full: bool, size: int = SAMPLE):
    key = (source, full, size)
    if key not in _cache:
        smiles = _load(source)
        if not full:
            rng = np.random.default_rng(20240317)
            smiles = [smiles[i] for i in sorted(rng.choice(len(smiles), size, replace=False))]
        _cache[key] = (smiles, [Chem.MolFromSmiles(s) for s in smiles])
    return _cache[key]


def assert_matches_rdkit(fp, mols, labels=None):
    gen = fp.params.rdkit_generator()
    bad = []
    for i, m in enumerate(mols):
        if m is None:
            assert not fp.valid[i]
            continue
        assert fp.valid[i], fp.errors[i]
        expected = gen.GetSparseCountFingerprint(m).GetNonzeroElements()
        if fp.to_dict(i) != expected:
            bad.append(labels[i] if labels else i)
    assert not bad, f"{len(bad)} molecules differ from RDKit, e.g. {bad[:3]}"


def _check(source, config, full, size=SAMPLE):
    smiles, mols = _molecules(source, full, size)
    fp = sortslice.ecfp(smiles, **config)
    assert len(fp) == len(smiles)
    assert_matches_rdkit(fp, mols, smiles)


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("source", SOURCES)
def test_sample_matches_rdkit(source, config):
    _check(source, config, full=False)


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("source", SOURCES)
def test_larger_sample_matches_rdkit(source, config):
    _check(source, config, full=False, size=LARGER_SAMPLE)


@pytest.mark.full
@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize("source", SOURCES)
def test_full_matches_rdkit(source, config):
    _check(source, config, full=True)


@pytest.mark.parametrize(
    "config", [c for c in CONFIGS if not (c["invariants"] == "fcfp" and c["radius"] == 0)], ids=_config_id
)
def test_edge_cases_match_rdkit(config):
    labels = list(EDGE)
    mols = [EDGE[k] for k in labels]
    fp = sortslice.ecfp(mols, **config)
    assert_matches_rdkit(fp, mols, labels)


@pytest.mark.parametrize("ring_membership", [True, False])
@pytest.mark.parametrize("redundant", [True, False])
def test_ring_membership_and_redundant_environments(ring_membership, redundant):
    smiles, mols = _molecules("paper:ames", False, FEATURE_SAMPLE)
    labels = list(EDGE)
    mols = mols + [EDGE[k] for k in labels]
    fp = sortslice.ecfp(
        mols, radius=3, ring_membership=ring_membership, redundant_environments=redundant, chirality=True
    )
    assert_matches_rdkit(fp, mols, smiles + labels)


def test_empty_molecule_object_has_no_ids_but_is_valid():
    fp = sortslice.ecfp([Chem.Mol()])
    assert fp.valid.tolist() == [True]
    assert fp.to_dict(0) == {}


def test_single_atom_has_one_id_at_any_radius():
    for r in range(6):
        fp = sortslice.ecfp(["[Na+]"], radius=r)
        assert list(fp.to_dict(0).values()) == [1]


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_provenance_matches_rdkit_bit_info(radius):
    from rdkit.Chem import rdFingerprintGenerator as rfg

    smiles, mols = _molecules("paper:lipophilicity", False, FEATURE_SAMPLE)
    mols = mols[:60] + [EDGE["macrocycle >64 bonds"], EDGE["explicit H (AddHs)"], EDGE["salt"]]
    fp = sortslice.ecfp(mols, radius=radius, provenance=True)
    plain = sortslice.ecfp(mols, radius=radius)
    assert np.array_equal(fp.ids, plain.ids) and np.array_equal(fp.counts, plain.counts)
    gen = rfg.GetMorganGenerator(radius=radius)
    env = fp.environments
    for i, m in enumerate(mols):
        ao = rfg.AdditionalOutput()
        ao.AllocateBitInfoMap()
        gen.GetSparseCountFingerprint(m, additionalOutput=ao)
        expected = sorted((int(b), int(a), int(r)) for b, envs in ao.GetBitInfoMap().items() for a, r in envs)
        s, e = env.indptr[i], env.indptr[i + 1]
        ours = sorted(zip(env.ids[s:e].tolist(), env.atom[s:e].tolist(), env.radius[s:e].tolist()))
        assert ours == expected, i
