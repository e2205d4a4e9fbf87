"""The fast flattening route (RDKit pickle reader) == RDKit's per-atom Python API."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from sortslice.engine import molpickle
from sortslice.engine.graph import graph_from_mols_exact, graph_from_pickles, to_pickles

from datasets import PAPER, paper_smiles, sample
from helpers import EDGE

FIELDS = [
    "atom_ptr",
    "bond_ptr",
    "atomic_num",
    "total_degree",
    "total_hs",
    "charge",
    "delta_mass",
    "in_ring",
    "chiral_tag",
    "bond_begin",
    "bond_end",
    "bond_type",
    "bond_stereo",
    "nbr_ptr",
    "nbr_atom",
    "nbr_bond",
]


def _mols():
    smiles = []
    for name in PAPER:
        smiles += paper_smiles(name)[:300]
    smiles += sample("chembl_chiral", 500) + sample("zinc", 500)
    mols = [m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    return mols + [m for k, m in EDGE.items() if "PDB" not in k]


def test_pickle_route_equals_rdkit_api():
    mols = _mols()
    buf, offsets = to_pickles(mols, threads=2)
    fast, status = graph_from_pickles(buf, offsets)
    assert (status == molpickle.OK).all(), np.flatnonzero(status != molpickle.OK)
    exact = graph_from_mols_exact(mols)
    for f in FIELDS:
        a, b = getattr(fast, f), getattr(exact, f)
        assert np.array_equal(a, b.astype(a.dtype)), f


def test_ecfp_atom_invariants_equal_rdkit_connectivity_invariants():
    mols = _mols()
    buf, offsets = to_pickles(mols, threads=1)
    g, _ = graph_from_pickles(buf, offsets)
    ours = g.atom_invariants("ecfp", True)
    expected = np.concatenate(
        [np.asarray(rdMolDescriptors.GetConnectivityInvariants(m), dtype=np.uint32) for m in mols]
    )
    assert np.array_equal(ours, expected)


def test_unsupported_pickles_are_reported_not_misread():
    pdb = Chem.MolFromSequence("ACD")  # monomer info
    unsanitised = Chem.MolFromSmiles("C1CC1", sanitize=False)  # no ring info
    good = Chem.MolFromSmiles("CCO")
    buf, offsets = to_pickles([good, pdb, unsanitised], threads=1)
    _g, status = graph_from_pickles(buf, offsets)
    assert status.tolist() == [molpickle.OK, molpickle.UNSUPPORTED, molpickle.NO_RINGS]


@pytest.mark.parametrize("cut", [0, 3, 10, 28, 40, -1])
def test_truncated_or_garbage_pickles_never_crash(cut):
    b = Chem.MolFromSmiles("c1ccccc1CC(=O)O").ToBinary()
    data = b[:cut] if cut >= 0 else bytes(reversed(b))
    buf = np.frombuffer(data, dtype=np.uint8)
    _g, status = graph_from_pickles(buf, np.array([0, len(data)], dtype=np.int64))
    assert status[0] != molpickle.OK


def test_random_byte_flips_never_crash():
    rng = np.random.default_rng(5)
    base = np.frombuffer(Chem.MolFromSmiles("C[C@H](N)C(=O)O.[Na+]").ToBinary(), dtype=np.uint8)
    blobs = []
    for _ in range(2000):
        b = base.copy()
        idx = rng.integers(0, b.size, size=rng.integers(1, 4))
        b[idx] = rng.integers(0, 256, size=idx.size)
        blobs.append(b)
    offsets = np.concatenate([[0], np.cumsum([b.size for b in blobs])]).astype(np.int64)
    g, status = graph_from_pickles(np.concatenate(blobs), offsets)
    # whatever was accepted is a well-formed graph
    ok = status == molpickle.OK
    sizes = np.diff(g.atom_ptr)
    assert (sizes[~ok] == 0).all()
    rows = np.repeat(np.arange(len(blobs)), np.diff(g.bond_ptr))
    assert (g.bond_begin < sizes[rows]).all() and (g.bond_end < sizes[rows]).all()
