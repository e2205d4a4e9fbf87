"""Stage 1, parse: text to RDKit molecules, and the sorting of inputs into molecules, text and errors.

Molecule parsing that runs in worker processes (imports RDKit only, never Numba).

A worker turns a chunk of SMILES / MDL mol blocks into what the main process needs
to flatten them without the ``Mol`` objects: the RDKit binary pickles, the CIP
terms of chiral-tagged atoms, FCFP invariants, and a reason for every failure.
The same function runs in-process for small batches, so results never depend on
``n_jobs``.
"""

from __future__ import annotations

import re
import threading

import numpy as np

CIP_TERM = {"R": 3, "S": 2}

_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_block = None


class quiet_rdkit:
    """Silence RDKit's log while any thread is parsing.

    ``rdBase.BlockLogs`` objects are not safe to create and drop from several
    threads at once (Polars runs expressions concurrently): one process-wide,
    reference-counted block is held instead.
    """

    def __enter__(self):
        global _quiet_depth, _quiet_block
        with _quiet_lock:
            if _quiet_depth == 0:
                from rdkit import rdBase

                _quiet_block = rdBase.BlockLogs()
            _quiet_depth += 1
        return self

    def __exit__(self, *exc):
        global _quiet_depth, _quiet_block
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                _quiet_block = None


#: Molecules with more atoms (as written, explicit hydrogens included) are invalid rows.  RDKit's
#: parsing grows faster than linearly with size (~10-20 s for 20,000 atoms of a branched or conjugated
#: chain) and its SMILES writer overflows the C stack on chains of ~16,000 atoms; the limit keeps
#: every step bounded and gives such rows a reason instead of a hang or a crash.
MAX_ATOMS = 20_000
#: Molecules with more rings (bonds - atoms + fragments; for a SMILES, ring-closure bonds) are invalid
#: rows: RDKit's SMILES parser closes rings in time atoms x closures, and its ring perception,
#: kekulisation and aromaticity grow about cubically with the number of rings (~10 s for 1,000).
MAX_RINGS = 1_000
#: strings at most this long cannot exceed either limit (every atom takes a character, every ring two
#: ring-closure digits in a SMILES, a line of at least 10 characters in a mol block)
_SIZE_CHECK_CHARS = {"smiles": min(MAX_ATOMS, 2 * MAX_RINGS), "molblock": 10 * min(MAX_ATOMS, MAX_RINGS)}
#: the SMILES tokens that are atoms (bracket atoms, the organic subset, ``*``) or ring-closure numbers;
#: a bracket atom cannot hold ``[``, so an unclosed one costs one scan to the next ``[`` (linear time)
_SMILES_TOKENS = re.compile(r"(\[[^\[\]]*\]|Br|Cl|[BCNOPSFIbcnops*])|%\(\d+\)|%\d\d|\d")
#: ASCII whitespace: where RDKit ends a SMILES (what follows is a name); Unicode spaces are not it
ASCII_SPACE = " \t\n\r\x0b\x0c"
#: what RDKit reads as the SMILES: up to the first ASCII whitespace
_FIRST_WORD = re.compile(f"[{re.escape(ASCII_SPACE)}]*([^{re.escape(ASCII_SPACE)}]*)")


def size_problem(mol) -> str | None:
    """Why ``mol`` is above the size limits (``MAX_ATOMS``, ``MAX_RINGS``), or ``None``."""
    n_atoms, n_bonds = mol.GetNumAtoms(), mol.GetNumBonds()
    if n_atoms > MAX_ATOMS:
        return f"molecule too large: {n_atoms} atoms (limit {MAX_ATOMS})"
    if n_bonds > MAX_RINGS:  # fewer bonds cannot close more rings
        from rdkit import Chem

        rings = n_bonds - n_atoms + len(Chem.GetMolFrags(mol))
        if rings > MAX_RINGS:
            return f"molecule too large: {rings} rings (limit {MAX_RINGS})"
    return None


def _smiles_size_problem(text: str) -> str | None:
    """The size limits read off the SMILES text itself, before RDKit spends any time on it.

    Counts atom tokens and ring-closure numbers of the first word (RDKit reads what follows
    whitespace as a name): upper bounds of the molecule's atoms and rings, exact for most SMILES.
    """
    word = _FIRST_WORD.match(text).group(1)
    if len(word) <= _SIZE_CHECK_CHARS["smiles"]:
        return None
    atoms = closures = 0
    for m in _SMILES_TOKENS.finditer(word):
        if m.group(1) is None:
            closures += 1
        else:
            atoms += 1
    if atoms > MAX_ATOMS:
        return f"molecule too large: {atoms} atoms (limit {MAX_ATOMS})"
    if closures // 2 > MAX_RINGS:
        return f"molecule too large: {closures // 2} ring closures (limit {MAX_RINGS} rings)"
    return None


def _what(kind: str) -> str:
    return "SMILES" if kind == "smiles" else "mol block"


def parse(text: str, kind: str = "smiles"):
    """One string -> ``(Mol, None)``, or ``(None, reason)`` when it is not a usable molecule.

    Call inside :class:`quiet_rdkit`.  Molecules above the size limits are refused before RDKit's
    expensive steps run on them: SMILES by counting tokens, mol blocks by a parse without
    sanitisation (fast).
    """
    from rdkit import Chem

    if not text.strip():
        return None, failure_reason(text, kind)
    if not text.isascii() and not _is_utf8(text):
        return None, f"invalid {_what(kind)}: not valid Unicode text (lone surrogate)"
    try:
        if kind == "smiles":
            problem = _smiles_size_problem(text)
            if problem is not None:
                return None, problem
            mol = _mol_from_smiles(text)
        else:
            if len(text) > _SIZE_CHECK_CHARS["molblock"]:
                raw = Chem.MolFromMolBlock(text, sanitize=False)
                if raw is None:
                    return None, "invalid mol block: syntax error"
                problem = size_problem(raw)
                if problem is not None:
                    return None, problem
            mol = Chem.MolFromMolBlock(text)
    except Exception as exc:  # RDKit raises instead of returning None on a few inputs
        return None, rdkit_error(exc)
    if mol is None:
        return None, failure_reason(text, kind)
    return mol, None


#: ``SmilesParserParams`` for the fast route of :func:`_mol_from_smiles` (built on first use)
_RAW_PARAMS = None
#: characters that send a SMILES down RDKit's own route: stereo marks, and whitespace (a name or CXSMILES part)
_FULL_ROUTE_CHARS = frozenset("@/\\ \t")


def _mol_from_smiles(text: str):
    """``Chem.MolFromSmiles(text)`` for ECFP purposes, without the stereo perception it does not need.

    ``MolFromSmiles`` = parse, remove H atoms, sanitise, then ``assignStereochemistry(cleanIt, force,
    flagPossibleStereoCenters=True)``.  The last step ranks every atom (CIP) to flag *possible*
    stereocentres, about a fifth of the parse, even in a SMILES without a single stereo mark.  For such a
    SMILES (no ``@``, ``/`` or ``\\``; no name or CXSMILES part) with no H atoms to remove, this parses
    without sanitising, then sanitises: the same atoms, bonds, H counts, aromaticity and rings; its RDKit
    pickle is byte-identical (``tests/test_parse_route.py`` checks that on the data sets and hostile text).
    Only the stereo-perception properties (``_StereochemDone``, ``_ChiralityPossible``, ``_CIPRank``) are
    missing.  Everything else, and every failure, takes RDKit's own route, so validity and error
    behaviour are RDKit's.
    """
    from rdkit import Chem

    global _RAW_PARAMS
    if not _FULL_ROUTE_CHARS.isdisjoint(text):
        return Chem.MolFromSmiles(text)
    if _RAW_PARAMS is None:
        params = Chem.SmilesParserParams()
        params.sanitize = False
        params.removeHs = False
        _RAW_PARAMS = params
    mol = Chem.MolFromSmiles(text, _RAW_PARAMS)
    if mol is None:  # a syntax error: RDKit's route runs the same parser and fails the same way
        return None
    # H atoms (RDKit would remove them) or dummy atoms: RDKit's route
    if mol.GetNumHeavyAtoms() != mol.GetNumAtoms():
        return Chem.MolFromSmiles(text)
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit's route decides between None and raising
        return Chem.MolFromSmiles(text)
    return mol


def rdkit_error(exc: BaseException) -> str:
    """One line for an exception RDKit raised (its messages span lines: 'Pre-condition Violation', then why)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"RDKit error: {': '.join(lines[:2]) if lines else type(exc).__name__}"


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def failure_reason(text: str | None, kind: str = "smiles") -> str:
    """One line saying why RDKit rejected ``text``."""
    from rdkit import Chem

    if text is None:
        return "missing molecule"
    if not text.strip():
        return "empty SMILES" if kind == "smiles" else "empty mol block"
    if not text.isascii() and not _is_utf8(text):
        return f"invalid {_what(kind)}: not valid Unicode text (lone surrogate)"
    with quiet_rdkit():
        if kind == "smiles":
            raw = Chem.MolFromSmiles(text, sanitize=False)
            what = "SMILES"
        else:
            raw = Chem.MolFromMolBlock(text, sanitize=False)
            what = "mol block"
        if raw is None:
            return f"invalid {what}: syntax error"
        try:
            problems = Chem.DetectChemistryProblems(raw)
        except Exception as exc:  # RDKit asserts on some impossible atoms, e.g. [CH128] or [#999]
            return rdkit_error(exc)
    if problems:
        return f"{problems[0].GetType()}: {problems[0].Message()}"
    return f"invalid {what}: RDKit could not sanitise it"


def chiral_cip_terms(mol) -> list[tuple[int, int]]:
    """``(atom index, CIP term)`` for every chiral-tagged atom, as RDKit's generator sees them."""
    from rdkit import Chem

    src = mol
    if not mol.HasProp("_StereochemDone"):
        src = Chem.Mol(mol)
        Chem.AssignStereochemistry(src, cleanIt=False, force=False)
    out = []
    for a in src.GetAtoms():
        if a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED:
            code = a.GetProp("_CIPCode") if a.HasProp("_CIPCode") else ""
            out.append((a.GetIdx(), CIP_TERM.get(code, 1)))
    return out


def mol_extras(mol, chirality: bool, fcfp: bool, stereo_hint: bool = True):
    """CIP terms (when asked and the molecule can have any) and FCFP invariants."""
    from rdkit.Chem import rdMolDescriptors

    cip = chiral_cip_terms(mol) if (chirality and stereo_hint) else []
    feat = rdMolDescriptors.GetFeatureInvariants(mol) if fcfp else None
    return cip, feat


def parse_chunk(kind: str, items: list, chirality: bool, fcfp: bool) -> dict:
    """Parse a chunk; every output is aligned with ``items``.

    Returns ``lengths`` (pickle length per item, 0 when it failed), ``buf`` (the
    pickles concatenated), ``errors`` ({item index: reason}), ``cip`` (rows, atoms,
    terms arrays), ``fcfp`` (concatenated invariants of the parsed items) and
    ``fcfp_lengths`` (invariants per item).
    """
    n = len(items)
    lengths = np.zeros(n, dtype=np.int64)
    blobs: list[bytes] = []
    errors: dict[int, str] = {}
    cip_rows: list[int] = []
    cip_atoms: list[int] = []
    cip_terms: list[int] = []
    feats: list = []
    feat_lengths = np.zeros(n, dtype=np.int64)
    with quiet_rdkit():
        for i, text in enumerate(items):
            if text is None or not isinstance(text, str):
                errors[i] = "missing molecule" if text is None else f"unsupported input of type {type(text).__name__}"
                continue
            mol, reason = parse(text, kind)
            if mol is None:
                errors[i] = reason
                continue
            try:
                # a SMILES without '@' has no chiral tags: skip the per-atom scan
                hint = kind != "smiles" or "@" in text
                cip, feat = mol_extras(mol, chirality, fcfp, hint) if (chirality or fcfp) else ((), None)
                blob = mol.ToBinary()
            except Exception as exc:  # RDKit raises on a few pathological molecules
                errors[i] = rdkit_error(exc)
                continue
            blobs.append(blob)
            lengths[i] = len(blob)
            for a, t in cip:
                cip_rows.append(i)
                cip_atoms.append(a)
                cip_terms.append(t)
            if feat is not None:
                feats.append(np.asarray(feat, dtype=np.uint32))
                feat_lengths[i] = len(feat)
    return {
        "lengths": lengths,
        "buf": b"".join(blobs),
        "errors": errors,
        "cip": (
            np.asarray(cip_rows, dtype=np.int64),
            np.asarray(cip_atoms, dtype=np.int64),
            np.asarray(cip_terms, dtype=np.uint8),
        ),
        "fcfp": np.concatenate(feats) if feats else np.zeros(0, dtype=np.uint32),
        "fcfp_lengths": feat_lengths,
    }


# ------------------------------------------------------------------ input classification
def is_mol(x) -> bool:
    from rdkit import Chem

    return isinstance(x, Chem.Mol)


def as_items(molecules) -> list:
    if isinstance(molecules, (str, bytes)) or is_mol(molecules):
        return [molecules]
    try:  # polars / pandas / numpy / arrow columns
        if hasattr(molecules, "to_list"):
            return list(molecules.to_list())
        if hasattr(molecules, "tolist"):
            return list(molecules.tolist())
        return list(molecules)
    except TypeError:
        raise TypeError(
            f"molecules must be SMILES strings, RDKit Mols or an iterable of them, got {type(molecules).__name__}"
        ) from None


def is_missing(x) -> bool:
    """None, a NaN of any float type, or pandas' ``NA``/``NaT`` (a missing cell of a pandas column)."""
    return x is None or (isinstance(x, (float, np.floating)) and x != x) or type(x).__name__ in ("NAType", "NaTType")


def parse_in_process(kind: str, items: list, rows: list[int]):
    """Parse strings to Mols here (small batches); returns mols and errors by row."""
    mols, errors = {}, {}
    with quiet_rdkit():
        for i in rows:
            mol, reason = parse(items[i], kind)
            if mol is None:
                errors[i] = reason
            else:
                mols[i] = mol
    return mols, errors


def classify(molecules):
    """Sort the inputs into Mols, text rows and errors.

    Mols are checked against the size limits later, from their pickles' headers
    (``flatten``): no per-molecule RDKit call here.
    """
    from rdkit import Chem

    mol_type = Chem.Mol
    items = as_items(molecules)
    errors: dict[int, str] = {}
    mols: dict[int, object] = {}
    text_rows: list[int] = []
    for i, x in enumerate(items):
        kind = type(x)
        if kind is mol_type:  # the common cases first, by exact type
            mols[i] = x
        elif kind is str:
            text_rows.append(i)
        elif is_missing(x):
            errors[i] = "missing molecule"
        elif isinstance(x, str):
            text_rows.append(i)
        elif isinstance(x, bytes):
            items[i] = x.decode("utf-8", errors="replace")
            text_rows.append(i)
        elif isinstance(x, mol_type):
            mols[i] = x
        else:
            errors[i] = f"unsupported input of type {type(x).__name__}"
    return items, errors, mols, text_rows
