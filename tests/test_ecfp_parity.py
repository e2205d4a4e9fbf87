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
from rdkit.Chem import AllChem

import sortslice

from datasets import PAPER, paper_smiles, sample, smi_gz

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


def _edge_molecules():
    out = {}
    for label, smi in [
        ("isotopes", "[2H]C([3H])[13CH2][14CH2]C([18OH])[123I]"),
        ("heavy isotopes", "[37Cl]c1ccc([35Cl])cc1[15NH2]"),
        ("isotope missing from table", "[300C]C"),
        ("charges", "C[N+](C)(C)CC(=O)[O-]"),
        ("aromatic cation", "c1cc[n+](C)cc1"),
        ("dative", "N->[Pt](<-N)(Cl)Cl"),
        ("dative ring", "C1CC[NH]2->[Cu]<-[NH]1CC2"),
        ("salt", "CC(=O)[O-].[Na+]"),
        ("water and ions", "O.[Na+].[Cl-]"),
        ("single atom", "C"),
        ("single ion", "[Na+]"),
        ("radical", "[CH3]C[CH2]"),
        ("E", "F/C=C/F"),
        ("Z", "F/C=C\\F"),
        ("R", "C[C@H](N)C(=O)O"),
        ("S", "C[C@@H](N)C(=O)O"),
        ("ring stereo", "C[C@H]1CC[C@@H](C)CC1"),
        ("unassigned stereo", "CC(N)C(=O)O"),
        ("both stereo", "C/C=C/[C@H](Cl)[C@@H](F)C/C=C\\C"),
        ("atom maps", "[CH3:1][CH2:2][OH:200]"),
        ("dummy atoms", "*CC[*:1]"),
        ("metal", "[U].[Og]"),
        ("macrocycle >64 bonds", "C1" + "C" * 80 + "C1"),
        ("fused macrocycle", "C1CCC2(CC1)" + "C" * 70 + "C2"),
        ("500+ atoms", "CC(C)" + "C(=O)NC(C)" * 130 + "C(=O)O"),
        ("cubane-like cage", "C12C3C4C1C5C2C3C45"),
        (
            "fullerene C60",
            "C12=C3C4=C5C6=C1C7=C8C9=C1C%10=C%11C(=C29)C3=C2C3=C4C4=C5C5=C9C6=C7C6=C7C8=C1C1=C8"
            "C%10=C%10C%11=C2C2=C3C3=C4C4=C5C5=C%11C%12=C(C6=C95)C7=C1C1=C%12C5=C%11C4=C3C3=C5"
            "C(=C81)C%10=C23",
        ),
    ]:
        m = Chem.MolFromSmiles(smi)
        assert m is not None, label
        out[label] = m
    out["explicit H (AddHs)"] = Chem.AddHs(Chem.MolFromSmiles("C[C@H](O)c1ccccc1"))
    out["empty molecule"] = Chem.Mol()
    rw = Chem.RWMol(Chem.MolFromSmiles("CC.[Fe]"))
    rw.AddBond(1, 2, Chem.BondType.ZERO)
    zero = rw.GetMol()
    Chem.SanitizeMol(zero)
    out["zero-order bond"] = zero
    rw = Chem.RWMol(Chem.MolFromSmiles("CO.[H+]"))
    rw.AddBond(1, 2, Chem.BondType.HYDROGEN)
    hb = rw.GetMol()
    Chem.SanitizeMol(hb)
    out["hydrogen bond"] = hb
    out["peptide with PDB residue info"] = Chem.MolFromSequence("ACDEFGHIK")
    emb = Chem.AddHs(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))
    AllChem.EmbedMolecule(emb, randomSeed=7)
    out["3D conformer"] = emb
    mb = Chem.MolFromMolBlock(Chem.MolToMolBlock(Chem.MolFromSmiles("C[C@@H](O)CC")))
    out["from mol block"] = mb
    stripped = Chem.Mol(Chem.MolFromSmiles("C[C@@H](O)C/C=C/C").ToBinary())  # no _StereochemDone property
    out["unpickled (no stereo perception flag)"] = stripped
    return out


EDGE = _edge_molecules()


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
