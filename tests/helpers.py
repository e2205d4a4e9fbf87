"""What the test modules share: ``dense``, the in-process command line ``run_cli``, and the hand-made
edge-case molecules (``EDGE``, ``EDGE_MOLS``) with the Morgan option sets they are checked in.

Importable as ``helpers``: ``tests/conftest.py`` puts ``tests/`` on ``sys.path``.  Nothing here imports
sortslice at import time (``run_cli`` imports the command line when called), so a module that only needs
the molecules or ``dense`` is collected even when the engine is broken.
"""

from __future__ import annotations

import sys

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def dense(x):
    """``x`` as a dense ndarray: a SciPy sparse matrix or array through ``toarray()``, anything else through
    ``np.asarray``."""
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


#: the ``sortslice`` command as a process of this interpreter (not whichever ``sortslice`` is first on PATH)
CLI = [sys.executable, "-c", "from sortslice.cli import main; main(prog_name='sortslice')"]


def run_cli(*args, input=None, catch_exceptions=True, **kwargs):
    """``sortslice ARGS...`` in this process, through click's ``CliRunner``: its ``Result``.

    Each argument goes through ``str`` (paths may be passed as they are); ``input`` is stdin's text.  With
    ``catch_exceptions=False`` an exception the command does not handle reaches the test (a traceback,
    not exit code 1); ``kwargs`` go to ``CliRunner.invoke`` (``env``, ...).
    """
    from click.testing import CliRunner

    from sortslice.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=catch_exceptions, **kwargs)


# ------------------------------------------------------------------------------- edge-case molecules
def _edge_molecules():
    """Hand-made edge cases for the ECFP parity tests, by label (isotopes, charges, dative bonds, stereo,
    macrocycles, C60, zero-order and hydrogen bonds, 3D conformers, unpickled molecules)."""
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


#: label -> molecule (``tests/test_ecfp_parity.py``, ``test_flatten.py``, ``test_scoring_path.py``)
EDGE = _edge_molecules()


#: the option sets the pure-Python Morgan reference is checked in against RDKit, by name
#: (keywords of ``test_reference.rdkit_ids`` and ``reference.morgan_reference_from_mol``)
REFERENCE_CONFIGS = {
    "ecfp": dict(),
    "ecfp-chiral": dict(chirality=True),
    "fcfp": dict(fcfp=True),
    "fcfp-chiral": dict(fcfp=True, chirality=True),
    "no-bond-types": dict(bond_types=False),
    "no-bond-types-chiral": dict(bond_types=False, chirality=True),
    "no-ring-membership": dict(ring_membership=False),
    "redundant": dict(redundant_environments=True),
    "redundant-chiral-fcfp": dict(redundant_environments=True, chirality=True, fcfp=True),
}


#: SMILES of the reference's hand-made edge cases (``EDGE_MOLS`` adds molecules SMILES cannot write)
EDGE_SMILES = [
    "",  # empty molecule
    "C",
    "[Na+]",
    "*",
    "c1ccccc1*",
    "[CH3:1]C[OH:7]",  # atom maps are not in the invariant
    "C[CH2]",  # radical
    "[2H]C([2H])([2H])O",
    "[2H]",
    "[3H]C",
    "[13CH4]",
    "[14C]C",
    "[15NH3]",
    "[18OH2]",
    "[35Cl]C",
    "[37Cl]C",
    "[123I]c1ccccc1",
    "[200C]C",  # isotope not in RDKit's table: mass = isotope number
    "C[N+](C)(C)C",
    "CC(=O)[O-]",
    "[O-][N+](=O)c1ccccc1",
    "C[NH2]->[Cu]",
    "[Cu]<-N(C)C.[Cu]<-N(C)C",
    "CC(=O)[O-].[Na+]",
    "[Na+].[Cl-]",
    "O.O.O",
    "CCO.CCO",
    "C/C=C/C",
    "C/C=C\\C",
    "F/C=C/F",
    "C/C=C/C=C\\C",
    "CC(/C=C/Cl)=C(\\F)Br",
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "F[C@](Cl)(Br)I",
    "F[C@@](Cl)(Br)I",
    "C[C@H]1CC[C@@H](C)CC1",  # cis/trans ring: chiral tags without CIP labels
    "C[C@H]1CC[C@H](C)CC1",
    "O[C@H]1[C@H](O)[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O",  # inositol: symmetric neighbours
    "C[C@H](/C=C/C)[C@@H](C)/C=C\\C",
    "N[C@@H](C)C(=O)N[C@@H](C)C(=O)N[C@@H](C)C(=O)O",
    "C[S@@](=O)c1ccccc1",  # chiral S with a double bond: never "looks chiral"
    "C[P@](=O)(O)CC",
    "c1ccccc1",
    "C1CC2CCC1CC2",
    "C1" + "C" * 80 + "C1",  # 82-ring: bond sets need more than 64 bits
    "C1" + "C(C)" * 40 + "C" * 30 + "C1",  # 72-ring, heavily substituted: > 110 bonds
    "c12c3c4c5c1c1c6c7c2c2c8c3c3c9c4c4c%10c5c5c1c1c6c6c%11c7c2c2c7c8c3c3c8c9c4c4c9c%10c5c5c1c1"
    "c6c6c%11c2c2c7c3c3c8c4c4c9c5c1c1c6c2c3c41",  # C60
    "CC(C)(C)C(C)(C)C(C)(C)C",  # many symmetric atoms: de-duplication and dead atoms
    "C12C3C4C1C5C2C3C45",  # cubane
]


def _edge_mols():
    mols = [(s, Chem.MolFromSmiles(s)) for s in EDGE_SMILES]
    for s in ("CCO", "C[C@H](N)O", "F/C=C/C[C@@H](Cl)Br", "c1ccncc1O"):
        mols.append((f"AddHs({s})", Chem.AddHs(Chem.MolFromSmiles(s))))
    # Pickle round trip: no _StereochemDone, no _CIPCode -> RDKit perceives stereo on a copy.
    for s in ("C[C@H](N)C(=O)O", "F[C@@](Cl)(Br)I", "C/C=C/[C@H](F)Cl", "C[C@H]1CC[C@@H](C)CC1"):
        mols.append((f"pickled({s})", Chem.Mol(Chem.MolFromSmiles(s).ToBinary())))
    # Chiral tag on a symmetric atom, never through stereo perception (tag not cleaned up).
    rw = Chem.RWMol(Chem.MolFromSmiles("CC(C)C"))
    rw.GetAtomWithIdx(1).SetChiralTag(Chem.ChiralType.CHI_TETRAHEDRAL_CW)
    mols.append(("unperceived CW on C(C)(C)C", Chem.Mol(rw.GetMol().ToBinary())))
    # Bond stereo that SMILES cannot write: ANY, CIS, TRANS.
    for stereo in (Chem.BondStereo.STEREOANY, Chem.BondStereo.STEREOCIS, Chem.BondStereo.STEREOTRANS):
        rw = Chem.RWMol(Chem.MolFromSmiles("CC=CCC"))
        bond = rw.GetBondWithIdx(1)
        bond.SetStereoAtoms(0, 3)
        bond.SetStereo(stereo)
        mols.append((f"CC=CCC {stereo}", rw.GetMol()))
    # Zero-order, ionic and hydrogen bonds stay in the graph.
    for btype in (Chem.BondType.ZERO, Chem.BondType.IONIC, Chem.BondType.HYDROGEN, Chem.BondType.DATIVE):
        rw = Chem.RWMol(Chem.MolFromSmiles("CO.[Na]"))
        rw.AddBond(1, 2, btype)
        mol = rw.GetMol()
        Chem.SanitizeMol(mol)
        mols.append((f"CO~[Na] {btype}", mol))
    for label, mol in mols:
        assert mol is not None, label
    return mols


#: (label, molecule) pairs (``tests/test_reference.py``, ``test_kernel_properties.py``)
EDGE_MOLS = _edge_mols()
