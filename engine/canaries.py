"""Canaries: molecules whose ids tell whether this RDKit (and sortslice) computes a file's ids as its writer did.

sortslice computes the Morgan iteration itself, but parsing, sanitising, aromaticity and stereo perception
are RDKit's, and they change between versions (rdkit#7986, rdkit#8487): a model fitted under one RDKit and
used under another that perceives some molecules differently silently produces other columns.  Every model
and ids file therefore stores a canary set — the fixed molecules below, chosen to exercise what perception
decides, plus (models) a few training molecules — with a digest of each one's ids and counts under the
file's ECFP parameters, beside the sortslice and RDKit versions that wrote it.

Read under the same versions, nothing is recomputed.  Under another version the canaries are recomputed
(milliseconds) and, when any gives other ids, one :class:`VersionChangeWarning` names both versions and
how many changed; ``strict_versions=True`` makes it an error.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

#: molecules whose ids depend on what RDKit perceives: aromaticity, stereo, charges, isotopes, ring systems,
#: hypervalent atoms, explicit hydrogens and organometallics (never change this list: files store its digests)
FIXED = (
    # aromaticity: heteroaromatics, Kekulé input, fused and non-benzenoid systems, aromatic charged rings
    "c1ccncc1",
    "c1cc[nH]c1",
    "c1ccoc1",
    "c1ccsc1",
    "C1=CC=CC=C1O",
    "c1ccc2[nH]ccc2c1",
    "c1ccc2ccccc2c1",
    "c1cc2cccccc-2c1",
    "[cH+]1cccccc1",
    "[O-][n+]1ccccc1",
    "O=c1cc[nH]cc1",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "c1ccc2c(c1)-c1ccccc1-2",
    "B1=CC=CN1",
    # stereo: tetrahedral, double bonds, rings, allenes, both kinds in one molecule
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "F/C=C/F",
    "F/C=C\\F",
    "C[C@H]1CC[C@@H](C)CC1",
    "CC=C=CC",
    "C/C=C/[C@@H](O)[C@H](C)/C=C\\Cl",
    "N[C@@H]1C[C@H]1C(=O)O",
    # charges and zwitterions
    "C[N+](C)(C)C",
    "CC(=O)[O-].[Na+]",
    "[NH3+]CC(=O)[O-]",
    "C[N+](=O)[O-]",
    "[O-][Cl+3]([O-])([O-])[O-]",
    # isotopes and explicit hydrogens
    "[2H]C([2H])([2H])O",
    "[13CH3]C(=O)O",
    "[H]N([H])C",
    # ring systems: spiro, bridged, cage, macrocycle
    "C1CCC2(CC1)CCCC2",
    "C1CC2CCC1C2",
    "C1C2CC3CC1CC(C2)C3",
    "C12C3C4C1C5C2C3C45",
    "C1CCCCCCCCCCC1",
    # hypervalent atoms (RDKit's clean-up rewrites some of them)
    "CS(C)=O",
    "CS(=O)(=O)C",
    "OP(=O)(O)O",
    "FS(F)(F)(F)(F)F",
    "ClP(Cl)(Cl)(Cl)Cl",
    "CN(=O)=O",
    "C[Se](=O)C",
    # organometallic and dative bonds
    "C[Sn](C)(C)C",
    "N->[Pt](<-N)(Cl)Cl",
)

#: training molecules a model adds to the fixed ones (its first columns' distinct example molecules)
N_TRAINING = 8


class VersionChangeWarning(UserWarning):
    """A file written under another sortslice or RDKit version whose canaries now give other ids."""


def current_versions() -> dict:
    """The versions of this environment that decide ids: ``{"sortslice": ..., "rdkit": ...}``."""
    from rdkit import __version__ as rdkit_version

    from .version import VERSION

    return {"sortslice": VERSION, "rdkit": rdkit_version}


def _compute(smiles, params) -> list:
    from .fingerprint import ecfp

    return ecfp(list(smiles), **params.to_dict(), n_jobs=1)


def digests(smiles, params) -> list[str]:
    """One short digest per molecule of its ids and counts under ``params`` (invalid: a digest of that)."""
    fp = _compute(smiles, params)
    out = []
    for r in range(len(fp)):
        h = hashlib.sha256()
        if fp.valid[r]:
            s, e = int(fp.indptr[r]), int(fp.indptr[r + 1])
            h.update(np.ascontiguousarray(fp.ids[s:e], dtype="<u4").tobytes())
            h.update(np.ascontiguousarray(fp.counts[s:e], dtype="<u4").tobytes())
        else:
            h.update(b"invalid")
        out.append(h.hexdigest()[:16])
    return out


def record(params, training=()) -> dict:
    """The canary record a file stores: ``{"smiles": [...], "digests": [...]}`` (the fixed set, then
    up to ``N_TRAINING`` distinct ``training`` molecules), computed here and now."""
    extra: list[str] = []
    for s in training:
        if isinstance(s, str) and s not in extra and s not in FIXED:
            extra.append(s)
        if len(extra) == N_TRAINING:
            break
    smiles = list(FIXED) + extra
    return {"smiles": smiles, "digests": digests(smiles, params)}


def check(source: str, versions: dict, canaries: dict | None, params, *, strict: bool, error=ValueError) -> int:
    """Recompute ``canaries`` when ``versions`` (what wrote the file) are not this environment's.

    Returns how many changed (0 without recomputing when the versions are the same, or there is no record).
    When some changed: one :class:`VersionChangeWarning`, or ``error`` (one line) when ``strict``.
    """
    now = current_versions()
    then = {k: versions.get(k) for k in now}
    if canaries is None or then == now:
        return 0
    got = digests(canaries["smiles"], params)
    changed = sum(a != b for a, b in zip(got, canaries["digests"]))
    if changed:
        message = (
            f"{source}: written under sortslice {then['sortslice']} with RDKit {then['rdkit']}, read under "
            f"sortslice {now['sortslice']} with RDKit {now['rdkit']}: {changed} of {len(got)} canary molecules "
            "now give other ids, so ids computed here may not match the file's (refit or recompute under one "
            "version; strict_versions=True / --strict-versions makes this an error)"
        )
        if strict:
            raise error(message)
        warnings.warn(message, VersionChangeWarning, stacklevel=4)
    return changed
