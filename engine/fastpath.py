"""The certified SMILES fast path: SMILES text to :class:`~.graph.MolGraph` without RDKit, for the
molecules the compiled parser (:mod:`.smiles`) can certify, RDKit for the rest.

* It serves achiral ECFP (``invariants="ecfp"``, ``chirality=False``, any radius, bond types and ring
  membership settings): chiral ids need CIP labels and FCFP needs RDKit's feature patterns, so those
  parameters always take the RDKit route.
* Versions are part of the certificate: the fast path is on only for the RDKit releases in
  :data:`VERIFIED_RDKIT` (each one verified by the parity suite, ``tests/test_fastpath.py``, on every data
  set we have).  On any other release it turns itself off with one warning and every molecule takes the
  RDKit route: results stay identical, only slower.
* ``SORTSLICE_PARSER=rdkit`` in the environment turns it off too (the ``parser`` argument does per call).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from . import _jit, parallel, single, smiles  # noqa: F401  (single: registers transform_one's kernel)
from ._jit import ro
from .csr import balanced_blocks
from .graph import MolGraph, build_neighbours
from .parse import MAX_ATOMS, MAX_RINGS

#: RDKit releases the fast path was verified against (ids, counts and validity identical to the RDKit route
#: on every molecule of the parity suite's data sets): extend it by running that suite on a new release
VERIFIED_RDKIT = ("2026.09.1",)

PARSERS = ("auto", "rdkit")

_noted = False
#: the command line's ``--parser`` (set for each command; ``"rdkit"`` turns the fast path off for it)
_session_parser = "auto"


def set_session_parser(parser: str) -> None:
    """Set the parser for everything this process runs until set again (the CLI's ``--parser``)."""
    global _session_parser
    _session_parser = check_parser(parser)


class FastPathWarning(UserWarning):
    """The fast path is off for this RDKit version (results are unchanged: every molecule takes RDKit)."""


def rdkit_version() -> str:
    import rdkit

    return str(rdkit.__version__)


def check_parser(parser) -> str:
    """``parser`` checked: ``"auto"`` or ``"rdkit"`` (``ValueError`` otherwise)."""
    if parser not in PARSERS:
        raise ValueError(f"parser must be 'auto' or 'rdkit', got {parser!r}")
    return str(parser)


def available() -> bool:
    """Whether the fast path may run in this process: a verified RDKit and not turned off by the environment.

    On an unverified RDKit the first call says so once (:class:`FastPathWarning`).
    """
    global _noted
    if _session_parser == "rdkit" or os.environ.get("SORTSLICE_PARSER", "auto") == "rdkit":
        return False
    version = rdkit_version()
    if version in VERIFIED_RDKIT:
        return True
    if not _noted:
        _noted = True
        warnings.warn(
            f"sortslice: the SMILES fast path is off: it is verified for RDKit {', '.join(VERIFIED_RDKIT)}, "
            f"not {version}; every molecule is parsed by RDKit (same results, slower)",
            FastPathWarning,
            stacklevel=3,
        )
    return False


def serves(*, parser: str, chirality: bool, fcfp: bool, kind: str) -> bool:
    """Whether a call with these settings takes the fast path for its SMILES."""
    return parser == "auto" and not chirality and not fcfp and kind == "smiles" and available()


#: the parser's kernels (``module.function``), for :func:`._jit.ready`
KERNELS = ("smiles.parse_smiles_block", "graph._build_neighbours")
#: a call with at least this many SMILES compiles the parser when it is not compiled yet (it pays back);
#: a smaller one takes RDKit meanwhile while the compile helpers build it in the background
COMPILE_INLINE_FROM = 400_000
SINGLE_KERNELS = ("single.fingerprint_smiles_one",)
_compiled: set = set()  # the kernel sets found compiled (in this process or the disk cache)


def _compiled_now(kernels: tuple) -> bool:
    """Whether ``kernels`` are compiled; if not, the compile helpers are started so that a later call finds
    them ready.  Remembered once true."""
    if kernels in _compiled:
        return True
    if _jit.ready(kernels):
        _compiled.add(kernels)
        return True
    _jit.ensure_helpers()
    return False


def ready(n_smiles: int) -> bool:
    """Whether a call with ``n_smiles`` SMILES should take the fast path now: its kernels are compiled, or the
    call is large enough to pay for compiling them (about 12 s once per install)."""
    return n_smiles >= COMPILE_INLINE_FROM or _compiled_now(KERNELS)


def ready_single() -> bool:
    """Whether ``transform_one`` should take the fast path: verified RDKit and its fused kernel compiled."""
    return available() and _compiled_now(SINGLE_KERNELS)


def encode(texts: list) -> tuple[np.ndarray, np.ndarray]:
    """SMILES strings -> ``(buf, offsets)``: their UTF-8 bytes back to back (a string that cannot be encoded
    becomes empty: the parser defers it)."""
    n = len(texts)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.uint8), offsets
    try:
        joined = "\n".join(texts).encode("utf-8")
        buf = np.frombuffer(joined, dtype=np.uint8)
        cuts = np.flatnonzero(buf == 10)
        if cuts.shape[0] == n - 1:
            offsets[1:-1] = cuts
            offsets[-1] = buf.shape[0]
            starts = offsets[:-1].copy()
            starts[1:] += 1  # skip the separators
            lengths = offsets[1:] - starts
            keep = np.ones(buf.shape[0], dtype=bool)
            keep[cuts] = False
            offsets[1:] = np.cumsum(lengths)
            offsets[0] = 0
            return buf[keep], offsets
    except (UnicodeEncodeError, TypeError):
        pass
    parts = []
    for t in texts:  # a string holding a newline or a lone surrogate: one at a time
        try:
            b = t.encode("utf-8") if isinstance(t, str) and "\n" not in t else b""
        except UnicodeEncodeError:
            b = b""
        parts.append(b)
    lengths = np.fromiter((len(b) for b in parts), dtype=np.int64, count=n)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets


@dataclass
class FastParse:
    """The fast path's answer for a batch: ``graph`` has a row per input (deferred rows are empty) and
    ``accepted`` says which rows it certified."""

    graph: MolGraph
    #: per row: 0 accepted, else the stage that deferred it (see :data:`.smiles.STAGES`)
    status: np.ndarray

    @property
    def accepted(self) -> np.ndarray:
        return self.status == smiles.ACCEPTED


def parse_smiles(
    texts: list, *, threads: int | None = None, gates: int | None = None, neighbours: bool = True
) -> FastParse:
    """Parse SMILES with the compiled parser (its blocks on ``threads`` threads; the kernel releases the GIL).

    ``gates`` (bits of ``smiles.GATE_*``; default :data:`.smiles.GATES_ALL`) puts the fused-ring gates back, for
    the parity suite.  ``neighbours=False`` leaves the graph's neighbour lists empty, for a caller that
    rebuilds them anyway (after splicing in RDKit's rows).
    """
    buf, offsets = encode(texts)
    n = offsets.shape[0] - 1
    t = parallel.threads(threads)
    size = int(buf.shape[0])
    status = np.ones(n, dtype=np.int8)
    n_atoms = np.zeros(n, dtype=np.int64)
    n_bonds = np.zeros(n, dtype=np.int64)
    atomic_num = np.empty(size, dtype=np.int32)
    total_degree = np.empty(size, dtype=np.int32)
    total_hs = np.empty(size, dtype=np.int32)
    charge = np.empty(size, dtype=np.int32)
    in_ring = np.empty(size, dtype=np.bool_)
    bond_begin = np.empty(size, dtype=np.int32)
    bond_end = np.empty(size, dtype=np.int32)
    bond_type = np.empty(size, dtype=np.int32)
    blocks = balanced_blocks(offsets, max(1, 8 * t) if n > 4096 else 1)
    if n:
        gate_bits = smiles.GATES_ALL if gates is None else int(gates)
        # offsets writable, as transform_one's fused kernel passes them: one compiled signature
        parallel.run_blocks(
            smiles.parse_smiles_block, blocks, t, ro(buf), offsets, gate_bits, MAX_ATOMS, MAX_RINGS, status,
            n_atoms, n_bonds, atomic_num, total_degree, total_hs, charge, in_ring, bond_begin, bond_end, bond_type,
        )  # fmt: skip
    atom_ptr = np.zeros(n + 1, dtype=np.int64)
    bond_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_atoms, out=atom_ptr[1:])
    np.cumsum(n_bonds, out=bond_ptr[1:])
    # block k wrote its molecules one after another from byte offsets[blocks[k]]: join the blocks' runs

    def gather(arr, ptr):
        if blocks.shape[0] <= 2:
            return arr[: int(ptr[-1])]
        runs = []
        for k in range(blocks.shape[0] - 1):
            first = int(offsets[blocks[k]])
            runs.append(arr[first : first + int(ptr[blocks[k + 1]] - ptr[blocks[k]])])
        return np.concatenate(runs)

    bond_begin, bond_end = gather(bond_begin, bond_ptr), gather(bond_end, bond_ptr)
    if neighbours:
        nbr_ptr, nbr_atom, nbr_bond = build_neighbours(atom_ptr, bond_ptr, bond_begin, bond_end, threads=t)
    else:
        nbr_ptr = np.zeros(int(atom_ptr[-1]) + 1, dtype=np.int64)
        nbr_atom = nbr_bond = np.zeros(0, dtype=np.int32)
    na = int(atom_ptr[-1])
    graph = MolGraph(
        atom_ptr,
        bond_ptr,
        gather(atomic_num, atom_ptr),
        gather(total_degree, atom_ptr),
        gather(total_hs, atom_ptr),
        gather(charge, atom_ptr),
        np.zeros(na, dtype=np.int32),
        gather(in_ring, atom_ptr),
        np.zeros(na, dtype=np.uint8),
        bond_begin,
        bond_end,
        gather(bond_type, bond_ptr),
        np.zeros(int(bond_ptr[-1]), dtype=np.int32),
        nbr_ptr,
        nbr_atom,
        nbr_bond,
    )
    return FastParse(graph, status)
