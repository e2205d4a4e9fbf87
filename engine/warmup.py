"""Compile (or load from the disk cache) every kernel ahead of time, e.g. in a container build."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._jit import KERNELS, cache_dir

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
    seconds: float
    compiled: list[tuple[str, int]]  # (kernel, signatures added)
    cache: str
    new: int = 0  # signatures compiled (not loaded from the cache) by this call

    def __str__(self) -> str:
        lines = [f"{name}: {n} signature(s)" for name, n in self.compiled]
        how = f"{self.new} compiled, the rest loaded" if self.new else "all loaded from the cache"
        lines.append(f"{len(self.compiled)} kernels ready in {self.seconds:.1f} s ({how}; cache: {self.cache})")
        return "\n".join(lines)


def warmup() -> WarmupReport:
    """Compile (or load from the disk cache) every kernel any sortslice call can run.

    Every kernel has one signature (inputs are passed read-only and outputs of any dtype as bytes or
    int64), so one tiny call down each path covers every featuriser, option, output kind, ids file,
    Polars expression, CLI command and Dask task.  With a warm disk cache this only loads kernels; with
    an empty one it compiles them, so later processes start fast.  Returns what was done.
    """
    from . import single  # noqa: F401  (registers its kernel)
    from ._jit import compiled_signatures
    from .featurisers import MIM, HashFold, SortSlice
    from .fingerprint import ecfp
    from .pooling import pool

    before = {id(k): len(k.signatures) for k in KERNELS}
    new_before = compiled_signatures()
    t0 = time.perf_counter()
    smiles = _MOLECULES
    y = np.arange(len(smiles)) % 2
    ecfp(smiles, chirality=True)  # graph, Morgan (both kernels), compaction
    fp = ecfp(smiles)
    ecfp(smiles[:3], provenance=True)
    ss = SortSlice(length=16, counts=True).fit(fp)  # prevalence, lookup, dense pooling
    ss.transform(fp)
    ss.set_params(sparse=True).transform(fp)  # sparse pooling
    ss.transform_one(smiles[1])  # the fused scoring kernel
    HashFold(length=16).fit().transform(fp)
    MIM(length=8).fit(fp, y)  # prevalence by class
    # a sparse matrix of more than 2**31 entries takes 64-bit indices: compile that variant too
    pool(fp.indptr, fp.ids, fp.counts, length=16, sparse=True, index_dtype=np.int64)
    seconds = time.perf_counter() - t0
    compiled = [
        (k.py_func.__module__.rsplit(".", 1)[-1] + "." + k.__name__, len(k.signatures) - before.get(id(k), 0))
        for k in KERNELS
        if len(k.signatures) > before.get(id(k), 0)
    ]
    return WarmupReport(
        seconds, compiled, cache_dir() or "beside the package sources", compiled_signatures() - new_before
    )
