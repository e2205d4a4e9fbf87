"""Prove the pure-Python references against the real oracles: RDKit and scikit-learn.

The Morgan reference must give RDKit's ids and counts exactly, on real molecules from the
paper's data sets (a fixed, seeded sample) and on hand-made edge cases. The data tests fail,
never skip, when the data are missing.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator, rdMolDescriptors

from datasets import PAPER_DIR
from helpers import EDGE_MOLS, REFERENCE_CONFIGS
from reference import (
    ecfp_atom_invariant,
    fold_reference,
    hash_combine,
    hash_vector,
    molecule_inputs_from_mol,
    morgan_reference,
    morgan_reference_from_mol,
    mutual_information_reference,
    prevalence_reference,
    sort_slice_transform_reference,
    sort_slice_vocabulary_reference,
)

DATA_DIR = PAPER_DIR  # the in-repository copies of the paper's five sets
DATA_FILES = ("ames.csv", "aqsoldb.csv", "lipophilicity.csv", "lit_pcba_esr_ant.csv", "mpro.csv")
PER_FILE = 60  # 300 molecules in all
SEED = 20240326
RADII = (0, 1, 2, 3, 4)


# --------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------
def rdkit_ids(
    mol,
    radius,
    chirality=False,
    bond_types=True,
    ring_membership=True,
    fcfp=False,
    redundant_environments=False,
    bond_types_via_generator=False,
):
    kwargs = dict(
        radius=radius,
        includeChirality=chirality,
        includeRedundantEnvironments=redundant_environments,
    )
    if fcfp:
        kwargs["atomInvariantsGenerator"] = rdFingerprintGenerator.GetMorganFeatureAtomInvGen()
    elif not ring_membership:
        # GetMorganGenerator(includeRingMembership=False) is silently ignored by RDKit.
        kwargs["atomInvariantsGenerator"] = rdFingerprintGenerator.GetMorganAtomInvGen(False)
    if bond_types_via_generator:
        kwargs["bondInvariantsGenerator"] = rdFingerprintGenerator.GetMorganBondInvGen(
            useBondTypes=bond_types, useChirality=chirality
        )
    else:
        kwargs["useBondTypes"] = bond_types
    generator = rdFingerprintGenerator.GetMorganGenerator(**kwargs)
    return dict(generator.GetSparseCountFingerprint(mol).GetNonzeroElements())


def assert_matches_rdkit(mol, radius, label="", bond_types_via_generator=False, **cfg):
    expected = rdkit_ids(mol, radius, bond_types_via_generator=bond_types_via_generator, **cfg)
    got = morgan_reference_from_mol(mol, radius, **cfg)
    if got != expected:
        missing = {k: v for k, v in expected.items() if got.get(k) != v}
        extra = {k: v for k, v in got.items() if expected.get(k) != v}
        pytest.fail(
            f"{label or Chem.MolToSmiles(mol)} radius={radius} {cfg}: "
            f"RDKit-only/differing {missing}, reference-only/differing {extra}"
        )


# --------------------------------------------------------------------------------------------
# Real molecules: a fixed seeded sample of the paper's data sets
# --------------------------------------------------------------------------------------------
def _smiles_column(header, rows):
    """The first column whose name says SMILES and whose first values parse."""
    for k, name in enumerate(header):
        if "smiles" in name.lower():
            return k
    for k in range(len(header)):
        if all(Chem.MolFromSmiles(r[k]) is not None for r in rows[:5]):
            return k
    raise AssertionError(f"no SMILES column in header {header}")


@pytest.fixture(scope="module")
def sample_mols():
    assert DATA_DIR.is_dir(), f"data directory {DATA_DIR} is missing: these tests need it"
    rng = np.random.default_rng(SEED)
    RDLogger.DisableLog("rdApp.*")  # a few data-set SMILES are invalid and are skipped
    mols = []
    for name in DATA_FILES:
        path = DATA_DIR / name
        assert path.is_file(), f"data file {path} is missing"
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = [r for r in reader if r]
        col = _smiles_column(header, rows)
        picked = []
        for k in rng.permutation(len(rows)):
            smiles = rows[k][col]
            mol = Chem.MolFromSmiles(smiles)
            if mol is not None:
                picked.append((f"{name}:{k}:{smiles}", mol))
            if len(picked) == PER_FILE:
                break
        assert len(picked) == PER_FILE, f"too few parsable SMILES in {path}"
        mols.extend(picked)
    return mols


@pytest.mark.parametrize("radius", [r if r <= 2 else pytest.param(r, marks=pytest.mark.slow) for r in RADII])
@pytest.mark.parametrize("config", sorted(REFERENCE_CONFIGS))
def test_reference_matches_rdkit_on_paper_data(sample_mols, config, radius):
    cfg = REFERENCE_CONFIGS[config]
    mismatches = []
    for label, mol in sample_mols:
        if morgan_reference_from_mol(mol, radius, **cfg) != rdkit_ids(mol, radius, **cfg):
            mismatches.append(label)
    assert not mismatches, f"{len(mismatches)}/{len(sample_mols)} differ, e.g. {mismatches[:5]}"


def test_sample_exercises_chirality_and_rings(sample_mols):
    # Guard against a sample that would make the chirality tests vacuous.
    chiral_differs = sum(rdkit_ids(mol, 2, chirality=True) != rdkit_ids(mol, 2) for _, mol in sample_mols)
    ring_differs = sum(rdkit_ids(mol, 1, ring_membership=False) != rdkit_ids(mol, 1) for _, mol in sample_mols)
    assert chiral_differs >= 20
    assert ring_differs >= 200


def test_bond_types_off_via_bond_invariant_generator(sample_mols):
    # Both RDKit routes to "bond types off" agree with the reference.
    for label, mol in sample_mols[::5]:
        for chirality in (False, True):
            assert_matches_rdkit(mol, 3, label, bond_types=False, chirality=chirality, bond_types_via_generator=True)


def test_connectivity_invariants_match(sample_mols):
    for label, mol in sample_mols:
        _, atom_inv, _, _ = molecule_inputs_from_mol(mol)
        assert atom_inv == list(rdMolDescriptors.GetConnectivityInvariants(mol)), label


# FCFP patterns quoted from ecfp-spec §1, bit i = pattern i.
FEATURE_SMARTS = (
    "[$([N;!H0;v3,v4&+1]),$([O,S;H1;+0]),n&H1&+0]",
    "[$([O,S;H1;v2;!$(*-*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),$([N;v3;!$(N-*=[O,N,P,S])]),"
    "n&H0&+0,$([o,s;+0;!$([o,s]:n);!$([o,s]:c:n)])]",
    "[a]",
    "[F,Cl,Br,I]",
    "[#7;+,$([N;H2&+0][$([C,a]);!$([C,a](=O))]),$([N;H1&+0]([$([C,a]);!$([C,a](=O))])"
    "[$([C,a]);!$([C,a](=O))]),$([N;H0&+0]([C;!$(C(=O))])([C;!$(C(=O))])[C;!$(C(=O))])]",
    "[$([C,S](=[O,S,P])-[O;H1,-1])]",
)


def test_feature_invariants_are_the_spec_smarts_mask(sample_mols):
    patterns = [Chem.MolFromSmarts(s) for s in FEATURE_SMARTS]
    for label, mol in sample_mols:
        mask = [0] * mol.GetNumAtoms()
        for bit, pattern in enumerate(patterns):
            for (atom,) in mol.GetSubstructMatches(pattern, uniquify=False, maxMatches=100000):
                mask[atom] |= 1 << bit
        assert mask == list(rdMolDescriptors.GetFeatureInvariants(mol)), label


# --------------------------------------------------------------------------------------------
# Hand-made edge cases (``helpers.EDGE_MOLS``, shared with test_kernel_properties.py)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", sorted(REFERENCE_CONFIGS))
@pytest.mark.parametrize("label,mol", EDGE_MOLS, ids=[label for label, _ in EDGE_MOLS])
def test_reference_matches_rdkit_on_edge_cases(label, mol, config):
    for radius in RADII:
        assert_matches_rdkit(mol, radius, label, **REFERENCE_CONFIGS[config])


def test_spec_test_vector_cco():
    mol = Chem.MolFromSmiles("CCO")
    _, atom_inv, _, _ = molecule_inputs_from_mol(mol)
    assert atom_inv == [2246728737, 2245384272, 864662311]
    assert morgan_reference_from_mol(mol, 1) == {
        864662311: 1,
        1535166686: 1,
        2245384272: 1,
        2246728737: 1,
        3542456614: 1,
        4018048386: 1,
    }


def test_hash_primitives_wrap_at_32_bits():
    assert hash_combine(0xFFFFFFFF, 0xFFFFFFFF) < 2**32
    assert hash_combine(5, -1) == hash_combine(5, 0xFFFFFFFF)
    assert hash_vector([-1]) == hash_combine(0, 0xFFFFFFFF)
    # ring membership appends a 1; off, the ring atom's invariant equals the chain atom's
    assert ecfp_atom_invariant(6, 4, 2, 0, 0, True) == hash_vector([6, 4, 2, 0, 0, 1])
    assert ecfp_atom_invariant(6, 4, 2, 0, 0, True, ring_membership=False) == hash_vector([6, 4, 2, 0, 0])


def test_delta_mass_truncates_toward_zero():
    table = Chem.GetPeriodicTable()
    expected = {
        "[2H]": 1,
        "[3H]": 2,
        "[13C]": 0,
        "[14C]": 1,
        "[15N]": 0,
        "[18O]": 2,
        "[35Cl]": 0,
        "[37Cl]": 1,
        "[123I]": -3,
        "*": 0,
    }
    for smiles, delta in expected.items():
        atom = Chem.MolFromSmiles(smiles).GetAtomWithIdx(0)
        assert int(atom.GetMass() - table.GetAtomicWeight(atom.GetAtomicNum())) == delta, smiles


def test_single_atom_and_empty_molecule():
    for radius in RADII:
        fp = morgan_reference_from_mol(Chem.MolFromSmiles("[Na+]"), radius)
        assert list(fp.values()) == [1]
        assert morgan_reference_from_mol(Chem.MolFromSmiles(""), radius) == {}


def test_failed_parse_is_an_error():
    with pytest.raises(ValueError):
        morgan_reference_from_mol(None, 2)


def test_morgan_reference_rejects_self_loops():
    with pytest.raises(ValueError):
        morgan_reference(1, [1], [0], [(0, 0, 1)], 1)


# --------------------------------------------------------------------------------------------
# Pooling references on tiny hand-computed examples
# --------------------------------------------------------------------------------------------
def test_prevalence_is_document_frequency():
    docs = [[10, 10, 10, 20], [20, 30], [], [30, 30]]
    assert prevalence_reference(docs) == {10: 1, 20: 2, 30: 2}
    assert prevalence_reference([]) == {}


def test_vocabulary_ties_larger_id_first_by_default():
    prevalence = {10: 1, 20: 2, 30: 2, 40: 3, 5: 2}
    assert sort_slice_vocabulary_reference(prevalence, 3) == [40, 30, 20]
    assert sort_slice_vocabulary_reference(prevalence, 3, tie="larger_id_first") == [40, 30, 20]
    assert sort_slice_vocabulary_reference(prevalence, 3, tie="smaller_id_first") == [40, 5, 20]
    assert sort_slice_vocabulary_reference(prevalence, 5) == [40, 30, 20, 5, 10]
    assert sort_slice_vocabulary_reference(prevalence, 5, tie="smaller_id_first") == [40, 5, 20, 30, 10]


def test_vocabulary_with_fewer_ids_than_length_and_length_one():
    prevalence = {7: 1, 3: 1}
    assert sort_slice_vocabulary_reference(prevalence, 10) == [7, 3]
    assert sort_slice_vocabulary_reference(prevalence, 1) == [7]
    assert sort_slice_vocabulary_reference(prevalence, 1, tie="smaller_id_first") == [3]
    assert sort_slice_vocabulary_reference({}, 4) == []
    with pytest.raises(ValueError):
        sort_slice_vocabulary_reference(prevalence, 0)
    with pytest.raises(ValueError):
        sort_slice_vocabulary_reference(prevalence, 2, tie="random")


def test_sort_slice_transform():
    train = [([1, 2, 3], [1, 4, 1]), ([2, 3], [2, 2]), ([3], [5])]
    vocabulary = sort_slice_vocabulary_reference(prevalence_reference([i for i, _ in train]), 2)
    assert vocabulary == [3, 2]
    molecules = train + [([], []), ([99, 1], [3, 3])]
    assert sort_slice_transform_reference(molecules, vocabulary, 2) == [
        [1, 1],
        [1, 1],
        [1, 0],
        [0, 0],
        [0, 0],
    ]
    assert sort_slice_transform_reference(molecules, vocabulary, 2, counts=True) == [
        [1, 4],
        [2, 2],
        [5, 0],
        [0, 0],
        [0, 0],
    ]
    # fewer vocabulary ids than L: the output still has L columns, the rest zero
    assert sort_slice_transform_reference(molecules[:1], vocabulary, 4) == [[1, 1, 0, 0]]
    # L = 1
    assert sort_slice_transform_reference(molecules, [3], 1, counts=True) == [[1], [2], [5], [0], [0]]


def test_fold():
    ids, counts = [0, 5, 10, 3, 2**32 - 1], [1, 2, 3, 4, 5]
    assert fold_reference(ids, counts, 5) == [1, 0, 0, 1, 0]  # 2**32-1 = 0 mod 5
    assert fold_reference(ids, counts, 5, counts=True) == [11, 0, 0, 4, 0]
    assert fold_reference(ids, counts, 1) == [1]
    assert fold_reference(ids, counts, 1, counts=True) == [sum(counts)]
    assert fold_reference([], [], 3) == [0, 0, 0]


def test_fold_matches_rdkit_folded_fingerprints(sample_mols):
    for label, mol in sample_mols[::10]:
        for length in (1, 64, 2048):
            fp = morgan_reference_from_mol(mol, 2)
            ids, counts = list(fp), list(fp.values())
            generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=length)
            assert fold_reference(ids, counts, length, counts=True) == list(
                generator.GetCountFingerprintAsNumPy(mol)
            ), label
            assert fold_reference(ids, counts, length) == list(generator.GetFingerprintAsNumPy(mol)), label


def test_mutual_information_hand_computed():
    assert mutual_information_reference([1, 1, 0, 0], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert mutual_information_reference([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.0, abs=1e-15)
    assert mutual_information_reference([1, 1, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-15)
    # X = [1,1,0,0], Y = [0,1,1,1]: H(X)=1, H(Y)=H(1/4), H(X,Y)=1.5
    h_quarter = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert mutual_information_reference([1, 1, 0, 0], [0, 1, 1, 1]) == pytest.approx(1 + h_quarter - 1.5)
    assert mutual_information_reference([], []) == 0.0


def test_mutual_information_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(SEED)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        presence = rng.random(n) < rng.random()
        y = rng.integers(0, int(rng.integers(1, 4)), size=n)
        expected_bits = mutual_info_score(presence, y) / math.log(2)
        assert mutual_information_reference(presence.tolist(), y.tolist()) == pytest.approx(expected_bits, abs=1e-12)
