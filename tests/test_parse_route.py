"""The fast SMILES route (``parse._mol_from_smiles``) gives RDKit's molecule, byte for byte.

``Chem.MolFromSmiles`` perceives stereo (``flagPossibleStereoCenters``) even in a SMILES without a
stereo mark; the fast route skips that for such SMILES.  Oracle: ``Chem.MolFromSmiles`` itself.  For every
input both must agree on the outcome (no molecule, the same exception type, or a molecule), and the
two molecules' RDKit pickles (atoms, charges, H counts, isotopes, chiral tags, bond types, bond stereo,
ring information: everything ECFP reads) must be identical bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from rdkit import Chem, rdBase

from sortslice.engine import parse as parse_mod

from datasets import moses, paper_smiles, rdkit_nci, rdkit_wehi, sample, smi_gz
from hostile import BAD_VALENCES, HOSTILE_TOKENS, ODD_CHARACTERS, texts

PAPER = ("ames", "aqsoldb", "lipophilicity", "lit_pcba_esr_ant", "mpro")


def _outcome(fn, text):
    try:
        mol = fn(text)
    except Exception as exc:  # noqa: BLE001 - the exception type is part of the outcome
        return ("raises", type(exc).__name__)
    return ("none",) if mol is None else ("mol", mol.ToBinary())


def _check(texts_):
    """Counts of each route taken; fails on the first input where the routes disagree."""
    fast = 0
    with parse_mod.quiet_rdkit():
        for text in texts_:
            ours = _outcome(parse_mod._mol_from_smiles, text)
            ref = _outcome(Chem.MolFromSmiles, text)
            assert ours == ref, f"{text!r}: fast route {ours[:1]} vs MolFromSmiles {ref[:1]}"
            fast += ours[0] == "mol" and parse_mod._FULL_ROUTE_CHARS.isdisjoint(text)
    return fast


HAND = [
    "",
    "C",
    "CCO",
    "c1ccccc1",
    "[2H]C",
    "[H]C([H])([H])[H]",
    "[H][H]",
    "[H+]",
    "C[H-]C",
    "[13CH4]",
    "[123I]c1ccccc1",
    "C[N+](C)(C)C.[Cl-]",
    "[NH3]->[Pt+2]<-[NH3]",
    "C1=CC=CC=C1",
    "c1ccnc1",
    "c1cc[nH]c1",
    "C*",
    "*",
    "[*:1]CC",
    "CC(=O)O name",
    "CCO\tname",
    "CCO |$_AV:;;foo$|",
    "C/C=C/C",
    "C[C@H](N)O",
    "F/C=C\\F",
    "C1CC1.C1CC1",
    "c1ccc2c(c1)[nH]c1ccccc12",
    "O=[N+]([O-])c1ccccc1",
    "[Na+].[O-]C(=O)C",
    "C1CCCCCCCCCCCCCCCCCCCCCCCCCCCCC1",
    "c1cccc1",
    "C(C)(C)(C)(C)C",
    "[CH5]",
    "N1CC",
    "C%(123)CC%(123)",
    "[C:1][C:2]",
    "CC(C)(C)(C)(C)(C)",
    "[Fe](<-N)(<-N)(<-N)(<-N)(<-N)<-N",
    "[Si]([H])([H])",
    "B1=CC=CC=C1",
    *HOSTILE_TOKENS,
    *BAD_VALENCES,
    *(c for c in ODD_CHARACTERS if not 0xD800 <= ord(c) <= 0xDFFF),
]


def test_hand_made_cases_match_rdkit():
    _check(HAND)


@pytest.mark.parametrize("every", [8, pytest.param(1, marks=pytest.mark.slow)], ids=["sample", "all"])
def test_data_sets_match_rdkit_byte_for_byte(every):
    real = [s for name in PAPER for s in paper_smiles(name)] + rdkit_nci() + rdkit_wehi()
    real += sample("zinc") + sample("moses") + sample("chembl_chiral")
    real = real[::every]
    fast = _check(real)
    # most of these molecules have no stereo marks: the fast route is really being compared
    assert fast > 0.6 * len(real)


@pytest.mark.data
def test_large_set_heads_match_rdkit_byte_for_byte():
    real = smi_gz("zinc_50k.smi.gz", 5000) + moses("test", 5000)
    assert _check(real) > 0.6 * len(real)


@pytest.mark.full
@pytest.mark.data
def test_whole_data_sets_match_rdkit_byte_for_byte():
    real = smi_gz("zinc_50k.smi.gz") + smi_gz("chembl20_chiral_10k.smi.gz") + moses("test")
    assert _check(real) > 0.6 * len(real)


_REAL = paper_smiles("ames")[:500]


def _hostile(text):
    if text is None or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # parse() refuses those before RDKit sees them
    if len(text) > 2000:
        return  # the size limits apply before RDKit
    with rdBase.BlockLogs():
        _check([text])


_HOSTILE = dict(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@settings(max_examples=500, **_HOSTILE)
@given(texts(_REAL))
def test_hostile_text_matches_rdkit(text):
    _hostile(text)


@pytest.mark.slow
@settings(max_examples=5000, **_HOSTILE)
@given(texts(_REAL))
def test_more_hostile_text_matches_rdkit(text):
    _hostile(text)
