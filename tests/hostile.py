"""Hostile molecule inputs (Hypothesis strategies) for the fuzz, determinism and concurrency tests.

What real pipelines hand a fingerprinting step: mutated real SMILES (the output of generative models
and of years of hand editing), random text, unbalanced ring closures and brackets, huge numbers,
invalid valences, Unicode and control characters (NUL, lone surrogates, bidi marks), metal complexes
with dative bonds, empty and whitespace strings, ``None`` and objects that are not molecules at all.

``real`` is always a list of valid SMILES from the in-repository data sets (``datasets.py``); every strategy
shrinks towards short, plain inputs.

Examples
--------
>>> from hypothesis import strategies as st
>>> isinstance(text_batches(["CCO"], max_size=3), st.SearchStrategy)
True
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

#: characters SMILES are made of, plus the separators and stereo marks that trip parsers
SMILES_CHARS = "CNOSPFIBrclnops()[]=#-+\\/@.%0123456789:*H$~ "

#: fragments inserted by the mutations: out-of-range numbers, dangling syntax, control and odd Unicode
HOSTILE_TOKENS = (
    "%99",
    "%10",
    "%(123)",
    "%(99999)",
    "%",
    "%%",
    "[999999999C]",
    "[C+9999]",
    "[C-99]",
    "[65535C]",
    "[C:99999999999]",
    "[CH99]",
    "->",
    "<-",
    "[Fe]",
    "[Pt+2]",
    "(",
    ")",
    "((",
    "))",
    "()",
    "[",
    "]",
    "[[",
    "]]",
    "1",
    "11",
    "9",
    "0",
    "@",
    "@@",
    "@@@",
    "@TB30",
    "/",
    "\\",
    "=",
    "#",
    "$",
    ":",
    ".",
    "..",
    "*",
    "[*]",
    "[H]",
    "[2H]",
    "[nH]",
    "[N+](=O)[O-]",
    "c",
    "n1",
    "\x00",
    "\t",
    "\n",
    "\r",
    " ",
    "\x0b",
    "\x7f",
    "\u00a0",
    "\u200b",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\u00e9",
    "\u20ac",
    "\U0001f600",
    "\ud800",
    "\udfff",
    "\x1b[31m",
)

METALS = (
    "[Fe]",
    "[Fe+2]",
    "[Fe+3]",
    "[Pt]",
    "[Pt+2]",
    "[Cu]",
    "[Cu+]",
    "[Zn+2]",
    "[Co+3]",
    "[Ru]",
    "[Pd]",
    "[Ni]",
    "[Mg]",
    "[Na+]",
    "[U]",
    "[Og]",
    "[Hg]",
    "[Gd+3]",
    "[Ti+4]",
)
LIGANDS = (
    "N",
    "O",
    "[NH3]",
    "[OH2]",
    "P(C)(C)C",
    "c1ccncc1",
    "n1ccccc1",
    "[C-]#[O+]",
    "C#[O+]",
    "Cl",
    "[Cl-]",
    "O=C",
    "[O-]C(=O)C",
    "C#N",
    "N#C",
    "S(C)C",
    "[NH2-]",
    "C1=CC=CC1",
)
BONDS_TO_METAL = ("<-", "->", "", "=", "-", "~")

#: integers at the edges of every integer type a parser might use
BIG_NUMBERS = (
    0,
    1,
    9,
    10,
    99,
    100,
    127,
    128,
    255,
    256,
    999,
    32767,
    32768,
    65535,
    65536,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
)
NUMBER_TEMPLATES = (
    "[{n}C]",
    "[C+{n}]",
    "[C-{n}]",
    "[CH{n}]",
    "[C:{n}]",
    "C%({n})CC%({n})",
    "C{n}CC{n}",
    "[{n}C@H](F)(Cl)Br",
    "[N+{n}]",
    "C%{n}",
    "[{n}*]",
    "[#{n}]",
    "[C@{n}]",
)

#: valence and aromaticity errors RDKit's sanitisation rejects, and atoms it cannot describe at all
BAD_VALENCES = (
    "C(C)(C)(C)(C)C",
    "[CH5]",
    "F(F)F",
    "O(C)(C)C",
    "N(C)(C)(C)C",
    "[N+5]",
    "B(B)(B)(B)B",
    "c1cccc1",
    "c1ccccc",
    "c",
    "n1cccc1",
    "C=C=C=C=C(=C)=C",
    "[O-2](=O)",
    "Cl(Cl)Cl",
    "[H](C)C",
    "C#C#C",
    "S(=O)(=O)(=O)(=O)=O",
    "[Na](C)(C)(C)(C)(C)(C)(C)(C)(C)",
    # RDKit raises (a 'Pre-condition Violation') on these instead of returning None
    "[CH128]",
    "[#999]",
    "[C@@H255]",
    "[NH200+]C",
)

WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2028\u3000\x1c"


class NotAMolecule:
    """An arbitrary object (picklable, so worker processes could receive it)."""

    def __repr__(self) -> str:
        return "NotAMolecule()"


NON_STRINGS = (
    None,
    float("nan"),
    np.float64("nan"),
    np.float32("nan"),
    0,
    1,
    -7,
    3.5,
    True,
    np.int64(12),
    [],
    ["CCO"],
    ("CCO",),
    {"smiles": "CCO"},
    NotAMolecule(),
    b"CCO",
    b"c1ccccc1O",
    b"\xff\xfeC",
    b"C\x00C",
    b"",
    bytearray(b"CCO"),
    np.str_("CCO"),
    np.bytes_(b"CN"),
    1j,
)


@st.composite
def mutated(draw, real: list[str]) -> str:
    """A real SMILES with a few edits: tokens inserted, characters deleted or replaced, slices doubled."""
    s = draw(st.sampled_from(real))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.integers(0, 6))
        i = draw(st.integers(0, len(s)))
        j = draw(st.integers(i, len(s)))
        if op == 0:
            s = s[:i] + draw(st.sampled_from(HOSTILE_TOKENS)) + s[i:]
        elif op == 1:
            s = s[:i] + draw(st.sampled_from(SMILES_CHARS)) + s[i:]
        elif op == 2:
            s = s[:i] + s[i + 1 :]
        elif op == 3 and i < len(s):
            s = s[:i] + draw(st.sampled_from(SMILES_CHARS)) + s[i + 1 :]
        elif op == 4:
            s = s[:j] + s[i:j] + s[j:]  # a slice doubled
        elif op == 5:
            s = s[:i] + s[i:j][::-1] + s[j:]  # a slice reversed
        else:
            s = s + draw(st.sampled_from((".", "", "C", "1", "(", ")"))) + draw(st.sampled_from(real))
    return s


@st.composite
def unbalanced(draw, real: list[str]) -> str:
    """A real SMILES with a ring closure, branch or bracket left open (or closed twice)."""
    s = draw(st.sampled_from(real))
    marks = [k for k, c in enumerate(s) if c in "()[]0123456789%"]
    if marks and draw(st.booleans()):
        k = draw(st.sampled_from(marks))
        return s[:k] + s[k + 1 :]
    extra = draw(st.sampled_from(("(", ")", "[", "]", "1", "%12", "%(7)", "((", "]]")))
    return extra + s if draw(st.booleans()) else s + extra


@st.composite
def huge_numbers(draw) -> str:
    n = draw(st.one_of(st.sampled_from(BIG_NUMBERS), st.integers(0, 10**40)))
    return draw(st.sampled_from(NUMBER_TEMPLATES)).format(n=n)


@st.composite
def metal_complexes(draw) -> str:
    """A metal centre with ligands bound by dative (``->``/``<-``) or ordinary bonds, maybe as a salt."""
    metal = draw(st.sampled_from(METALS))
    ligands = draw(st.lists(st.tuples(st.sampled_from(BONDS_TO_METAL), st.sampled_from(LIGANDS)), max_size=6))
    s = metal + "".join(f"({b}{lig})" for b, lig in ligands)
    if draw(st.booleans()):
        s = draw(st.sampled_from(LIGANDS)) + draw(st.sampled_from(("->", "<-", ""))) + s
    if draw(st.booleans()):
        s += draw(st.sampled_from((".[Cl-]", ".[Cl-].[Cl-]", ".[Na+]", ".O", ".[O-]S(=O)(=O)[O-]")))
    return s


#: single characters that break text handling: NUL and other controls, lone surrogates, BOM, bidi marks
ODD_CHARACTERS = "\x00\x01\x08\x1b\x7f\x85\ud800\udbff\udc00\udfff\ufeff\ufffd\ufffe\u202e\u2028\u200b\U0010ffff"


@st.composite
def mol_blocks(draw, real: list[str]) -> str:
    """A real molecule's V2000 or V3000 mol block with lines dropped, doubled or edited."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(draw(st.sampled_from(real)))
    text = Chem.MolToV3KMolBlock(mol) if draw(st.booleans()) else Chem.MolToMolBlock(mol)
    lines = text.split("\n")
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.integers(0, 3))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])
        elif op == 2 and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.sampled_from("0123456789 -+.xX*" + "\x00\u00e9")) + lines[i][j + 1 :]
        else:
            lines[i] = lines[i].replace("  1", draw(st.sampled_from(("999", "  0", " -1", "  2"))), 1)
    return "\n".join(lines)


def random_text(max_size: int = 30):
    """Any Unicode text, lone surrogates and control characters included."""
    return st.text(
        st.one_of(
            st.characters(codec=None, exclude_categories=()),
            st.sampled_from(ODD_CHARACTERS),
            st.sampled_from(SMILES_CHARS),
        ),
        max_size=max_size,
    )


def smiles_text(max_size: int = 40):
    return st.text(alphabet=SMILES_CHARS, max_size=max_size)


def whitespace():
    return st.text(alphabet=WHITESPACE, max_size=4)


def texts(real: list[str]):
    """One hostile string (``None`` now and then: a missing value in a text column)."""
    return st.one_of(
        mutated(real),
        mutated(real),
        mutated(real),
        unbalanced(real),
        st.sampled_from(real),
        random_text(),
        smiles_text(),
        huge_numbers(),
        metal_complexes(),
        st.sampled_from(BAD_VALENCES),
        whitespace(),
        st.none(),
    )


def polars_safe(s):
    """Whether ``s`` fits a Polars String column (UTF-8: no lone surrogates)."""
    return s is None or not any(0xD800 <= ord(c) <= 0xDFFF for c in s)


def items(real: list[str]):
    """One hostile input of any kind: text, RDKit Mols (valid, empty) and objects that are not molecules."""

    @st.composite
    def mol(draw):
        from rdkit import Chem

        s = draw(st.sampled_from(real))
        return Chem.MolFromSmiles(s) if draw(st.integers(0, 4)) else Chem.Mol()

    return st.one_of(texts(real), texts(real), texts(real), st.sampled_from(NON_STRINGS), mol())


def kitchen_sink(real: list[str]) -> list:
    """One of everything, between real molecules: the explicit example every fuzz test starts with."""
    from rdkit import Chem

    odd = [
        *HOSTILE_TOKENS,
        *BAD_VALENCES,
        *NON_STRINGS,
        *ODD_CHARACTERS,
        "",
        " ",
        "\t\n",
        WHITESPACE,
        "C\x00C",
        "CCO\x00",
        "\x00CCO",
        "C\ud800C",
        "[Fe](<-N)(<-N)(<-N)(<-N)(<-N)<-N",
        "N->[Pt+2]<-N.[Cl-].[Cl-]",
        "[999999999C]",
        "C%99CC%99",
        "C%(99999)CC%(99999)",
        "[C+99999999999999999999]",
        Chem.Mol(),
        Chem.MolFromSmiles("C[C@H](N)C(=O)O"),
    ]
    out = []
    for k, x in enumerate(odd):
        out += [real[k % len(real)], x]
    return out + [real[0]]


def batches(real: list[str], min_size: int = 0, max_size: int = 30):
    """A batch of hostile inputs of any kind."""
    return st.lists(items(real), min_size=min_size, max_size=max_size)


def text_batches(real: list[str], min_size: int = 0, max_size: int = 30, polars: bool = False):
    """A batch of strings and ``None`` only: the worker-process and Polars routes."""
    t = texts(real)
    if polars:
        t = t.filter(polars_safe)
    return st.lists(t, min_size=min_size, max_size=max_size)
