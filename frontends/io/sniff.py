"""What a molecule file is, told from its name and first bytes: its format, whether its first line is a
header, which column holds the SMILES (the readers in :mod:`.readers` ask; every guess that is not certain
comes with a note for the user).
"""

from __future__ import annotations

import os
import re

from .errors import fail

INPUT_FORMATS = ("csv", "tsv", "smi", "sdf", "parquet")
INPUT_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".smi": "smi",
    ".smiles": "smi",
    ".ism": "smi",
    ".can": "smi",
    ".sdf": "sdf",
    ".sd": "sdf",
    ".parquet": "parquet",
    ".pq": "parquet",
}
PARQUET_MAGIC = b"PAR1"


def shorten(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def guess_input_format(path: str, head: bytes, requested: str | None) -> str:
    if requested:
        return requested
    if path != "-":
        base = path[:-3] if path.lower().endswith(".gz") else path
        ext = os.path.splitext(base)[1].lower()
        if ext in INPUT_EXTENSIONS:
            return INPUT_EXTENSIONS[ext]
        fail(f"cannot tell the format of {path} from its extension; use --input-format ({'|'.join(INPUT_FORMATS)})")
    # stdin has no extension: look at the content
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    lines = head.decode("utf-8", errors="replace").splitlines()
    if any(line.startswith("M  END") or "V2000" in line or "V3000" in line for line in lines[:64]):
        return "sdf"
    first = lines[0] if lines else ""
    token = re.split(r"[\s,]", first.strip(), maxsplit=1)[0]
    if token and _is_smiles(token):
        return "smi"  # no header: molecules from the first line on
    if "\t" in first:
        return "tsv"
    if "," in first:
        return "csv"
    return "smi"


def _is_smiles(text: str) -> bool:
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(text, sanitize=False) is not None


def pick_smiles_column(names: list[str], requested: str | None, where: str) -> str:
    """The requested column, or the one obvious SMILES column."""
    if requested is not None:
        if requested not in names:
            fail(f"{where}: no column {requested!r} (columns: {shorten(names)})")
        return requested
    exact = [n for n in names if n.strip().lower() == "smiles"]
    if len(exact) == 1:
        return exact[0]
    loose = [n for n in names if "smiles" in n.lower()]
    if len(loose) == 1:
        return loose[0]
    if len(names) == 1:
        return names[0]
    fail(f"{where}: cannot tell which column holds the SMILES (columns: {shorten(names)}); use --smiles-column")


def check_columns(names: list[str], wanted: list[str], where: str) -> None:
    for c in wanted:
        if c not in names:
            fail(f"{where}: no column {c!r} (columns: {shorten(names)})")


#: what a column name looks like: a word or words (letters, digits, ``_ . - /``, spaces), starting with a letter
_NAME_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .\-/]*$")


def is_molecule(text: str) -> bool:
    """RDKit reads ``text`` as a SMILES of at least one atom (the size limits measured first, as the engine does)."""
    from ..engine.parse import parse, quiet_rdkit

    text = text.strip()
    if not text:
        return False
    with quiet_rdkit():
        mol, _ = parse(text)
    return mol is not None and mol.GetNumAtoms() > 0


def first_line_is_header(cells: list[str], smiles_column: str | None, wanted: list[str]) -> tuple[bool, str | None]:
    """Whether a CSV/TSV's first line is a header, decided from its cells, and a note when that is a guess.

    A header for certain: it names the SMILES column given (or one called ``smiles``) or the columns asked
    for.  Otherwise RDKit decides: a line with a cell that parses as a molecule is data (no column is
    named like that); a line of words that are not molecules is a header; anything else is read as data
    (an unparsable first molecule stays an invalid row, never silently dropped).  Every decision that is
    not for certain comes with a note to show the user.
    """
    if smiles_column is not None and smiles_column in cells:
        return True, None
    if any(c.strip().lower() == "smiles" or "smiles" in c.lower() for c in cells):
        return True, None
    if wanted and all(c in cells for c in wanted):
        return True, None
    molecules = [c for c in cells if is_molecule(c)]
    if molecules:
        return False, f"no header: reading the first line as data ({_short_cell(molecules[0])} is a molecule)"
    if all(_NAME_LIKE.match(c.strip()) for c in cells if c.strip()):
        return True, None
    return False, (
        f"no header: reading the first line as data ({_short_cell(cells[0])} is neither a column name "
        "nor a valid molecule: its row says why)"
    )


def _short_cell(text: str, limit: int = 40) -> str:
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 4] + "...'"
