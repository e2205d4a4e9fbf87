"""Compile (or load from the disk cache) every kernel ahead of time, e.g. in a container build."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import fastpath, single  # noqa: F401  (single: registers its kernels)
from ._jit import KERNELS, cache_dir, compiled_signatures, helper_lock, kernel_name
from ._jit import compiling as compiling  # re-exported: the CLI shows compiling under its bar
from ._jit import notices_to as notices_to
from .featurisers import MIM, HashFold, SortSlice
from .featurisers.inputs import InvalidMoleculeWarning
from .fingerprint import ecfp
from .graph import graph_from_pickles, to_pickles
from .morgan import morgan_from_bonds
from .pooling import lookup_table, pool
from .prevalence import document_frequency
from .single import fingerprint_smiles_one
from .smiles import GATES_ALL

_MOLECULES = [
    "CCO",
    "c1ccccc1C[C@H](N)C(=O)O",
    "F/C=C/F",
    "[2H]C([13CH3])[O-].[Na+]",
    "C1CC1",
    "C1" + "C" * 70 + "C1",  # more than 64 bonds: the multi-word kernel
    "",
    "not a smiles",
    "N->[Pt](<-N)(Cl)Cl",
]


@dataclass(frozen=True)
class WarmupReport:
    """What :func:`warmup` did; ``str(report)`` is one line per kernel and a summary line.

    Attributes
    ----------
    seconds : float
        Wall time of the warm-up, in seconds.
    compiled : list of (str, int)
        ``(kernel, signatures added)`` for every kernel that gained a signature (compiled or loaded).
    cache : str
        The disk cache folder, or ``"beside the package sources"`` (the package's ``__pycache__``).
    new : int, default 0
        Signatures compiled (not loaded from the cache) by this call.
    """

    seconds: float
    compiled: list[tuple[str, int]]  # (kernel, signatures added)
    cache: str
    new: int = 0  # signatures compiled (not loaded from the cache) by this call

    def __str__(self) -> str:
        lines = [f"{name}: {n} signature(s)" for name, n in self.compiled]
        how = f"{self.new} compiled, the rest loaded" if self.new else "all loaded from the cache"
        lines.append(f"{len(self.compiled)} kernels ready in {self.seconds:.1f} s ({how}; cache: {self.cache})")
        return "\n".join(lines)


def _graph_kernels():
    """Pickle reading, neighbour lists, totals and layer-0 invariants (what parsing a batch runs)."""
    from rdkit import Chem

    mols = [m for m in (Chem.MolFromSmiles(s) for s in _MOLECULES[:6]) if m is not None]
    graph, _status = graph_from_pickles(*to_pickles(mols, 1))
    graph.atom_invariants("ecfp", True)
    graph.bond_invariants(True, True)


def _morgan_kernels():
    """Both Morgan kernels (a 71-bond ring takes the multi-word one), counts and provenance."""
    n = [3, 71]  # a chain of 3 atoms, a ring of 71
    atom_ptr = np.array([0, 3, 74], dtype=np.int64)
    bond_ptr = np.array([0, 2, 73], dtype=np.int64)
    begin = np.array([0, 1] + list(range(71)), dtype=np.int32)
    end = np.array([1, 2] + [(i + 1) % 71 for i in range(71)], dtype=np.int32)
    atom_inv = np.arange(sum(n), dtype=np.uint32) % 5
    chiral = np.zeros(sum(n), dtype=np.uint8)
    bond_inv = np.ones(73, dtype=np.int32)
    for provenance in (False, True):
        morgan_from_bonds(atom_ptr, atom_inv, chiral, bond_ptr, begin, end, bond_inv, 2, provenance=provenance)


def _pooling_kernels():
    """Prevalence (one class and several), lookup tables, dense and sparse pooling (any dtype)."""
    indptr = np.array([0, 3, 5, 9], dtype=np.int64)
    ids = np.array([1, 5, 9, 5, 7, 1, 2, 3, 400], dtype=np.uint32)
    counts = np.array([1, 2, 1, 1, 3, 1, 1, 2, 1], dtype=np.uint32)
    document_frequency(indptr, ids)
    document_frequency(indptr, ids, np.array([0, 1, 1]), 2)  # by class: its own kernel
    vocabulary = np.array([5, 1, 400], dtype=np.uint32)
    lookup_table(vocabulary)
    for voc in (vocabulary, None):
        for sparse in (False, True):
            pool(indptr, ids, counts, length=16, vocabulary=voc, use_counts=True, sparse=sparse)
    # a sparse matrix of more than 2**31 entries takes 64-bit indices
    pool(indptr, ids, counts, length=16, sparse=True, index_dtype=np.int64)


def _scoring_kernel():
    """The fused single-molecule kernel of ``transform_one``."""
    HashFold(length=16, chirality=True).fit().transform_one(_MOLECULES[1])


def _featurisers():
    """Every featuriser end to end (loads what the steps above compiled; compiles whatever they missed)."""
    smiles = _MOLECULES
    ecfp(smiles, chirality=True)
    fp = ecfp(smiles)
    ecfp(smiles[:3], provenance=True)
    ss = SortSlice(length=16, counts=True).fit(fp)
    ss.transform(fp)
    ss.set_params(sparse=True).transform(fp)
    ss.transform_one(smiles[1])
    HashFold(length=16).fit().transform(fp)
    MIM(length=8).fit(fp, np.arange(len(smiles)) % 2)


def _fast_parser():
    """The certified SMILES fast path's parser (a step of its own: it compiles independently of the rest)."""
    fastpath.parse_smiles(_MOLECULES, threads=1)


def _fast_single():
    """``transform_one``'s fused kernel over the fast path's parser (after the scoring kernel, whose callees
    it shares)."""
    c = HashFold(length=16).fit()._single()
    buf = np.frombuffer(_MOLECULES[1].encode(), dtype=np.uint8)
    fingerprint_smiles_one(buf, GATES_ALL, 100, 100, c.config, c.keys, c.cols, np.zeros(16, dtype=np.int64))


#: the warmup's steps, in the order a first call needs them (the fast path last: calls take RDKit until it
#: is ready, see :func:`.fastpath.ready`); helper processes take them in another order, the fast path early
#: so that it compiles while the caller compiles the rest
STEPS = (
    _graph_kernels,
    _morgan_kernels,
    _pooling_kernels,
    _scoring_kernel,
    _featurisers,
    _fast_parser,
    _fast_single,
)
_HELPER_ORDER = (
    _morgan_kernels,
    _fast_parser,
    _pooling_kernels,
    _scoring_kernel,
    _fast_single,
    _graph_kernels,
    _featurisers,
)


def warmup(*, _steps=STEPS) -> WarmupReport:
    """Compile (or load from the disk cache) every kernel any sortslice call can run.

    Every kernel has one signature (inputs are passed read-only and outputs of any dtype as bytes or
    int64), so one tiny call down each path covers every featuriser, option, output kind, ids file,
    Polars expression, CLI command and Dask task.  With a warm disk cache this only loads kernels; with
    an empty one it compiles them (on several processes, see :func:`._jit.compile_jobs`), so later
    processes start fast.  Returns what was done.
    """
    before = {id(k): len(k.signatures) for k in KERNELS}
    new_before = compiled_signatures()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # the warm-up molecules include invalid ones on purpose (their paths compile too): not the user's
        warnings.simplefilter("ignore", InvalidMoleculeWarning)
        for step in _steps:
            step()
    seconds = time.perf_counter() - t0
    compiled = [
        (kernel_name(k), len(k.signatures) - before.get(id(k), 0))
        for k in KERNELS
        if len(k.signatures) > before.get(id(k), 0)
    ]
    return WarmupReport(
        seconds, compiled, cache_dir() or "beside the package sources", compiled_signatures() - new_before
    )


def _helper(k: int) -> None:
    """Compile helper ``k`` (started by :func:`._jit.start_helpers`): the warmup from the other end (each
    helper rotated by one step), holding its lock in the cache folder so that one runs at a time."""
    with helper_lock(k) as held:
        if held:
            n = len(_HELPER_ORDER)
            warmup(_steps=tuple(_HELPER_ORDER[(i + k) % n] for i in range(n)))


if __name__ == "__main__":
    import sys

    _helper(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
