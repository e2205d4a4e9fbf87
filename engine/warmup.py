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
    "",
    "not a smiles",
    "N->[Pt](<-N)(Cl)Cl",
]


@dataclass(frozen=True)
class WarmupReport:
    seconds: float
    compiled: list[tuple[str, int]]  # (kernel, signatures added)
    cache: str

    def __str__(self) -> str:
        lines = [f"{name}: {n} signature(s)" for name, n in self.compiled]
        lines.append(f"{len(self.compiled)} kernels ready in {self.seconds:.1f} s (cache: {self.cache})")
        return "\n".join(lines)


def _readonly(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.flags.writeable = False
    return b


def warmup() -> WarmupReport:
    """Run every kernel once on tiny inputs (every dtype variant the library uses).

    With a warm disk cache this only loads kernels; with an empty one it compiles
    them (tens of seconds), so later processes start fast.  Returns what was done.
    """
    from . import single  # noqa: F401  (registers its kernel)
    from .featurisers import MIM, Filtering, HashFold, SortSlice
    from .fingerprint import ecfp
    from .pooling import document_frequency, pool

    before = {id(k): len(k.signatures) for k in KERNELS}
    t0 = time.perf_counter()
    smiles = _MOLECULES * 2
    y = np.arange(len(smiles)) % 2
    for kw in ({}, {"chirality": True}, {"invariants": "fcfp"}):
        fp = ecfp(smiles, **kw)
        ecfp(smiles, provenance=True, **kw)
        for counts in (False, True):
            for f in (SortSlice(length=16, counts=counts, **kw), HashFold(length=16, counts=counts, **kw)):
                f.fit(fp)
                f.transform(fp)
                f.set_params(sparse=True).transform(fp)
                f.transform_one(smiles[1])
        ecfp(smiles, n_jobs=2, chunk_size=4, **kw)
    MIM(length=8).fit(smiles, y).transform(smiles)
    Filtering(length=8).fit(smiles, y).transform(smiles)
    # zero-copy Arrow/Polars buffers arrive read-only: compile those variants too
    fp = ecfp(smiles)
    ro = (_readonly(fp.indptr), _readonly(fp.ids), _readonly(fp.counts))
    document_frequency(ro[0], ro[1])
    for dtype in (np.uint8, np.uint16, np.uint32, np.float32):
        pool(*ro, length=16, use_counts=True, dtype=dtype)
        pool(*ro, length=16, vocabulary=fp.ids[:4], dtype=dtype)
    seconds = time.perf_counter() - t0
    compiled = [
        (k.py_func.__module__.rsplit(".", 1)[-1] + "." + k.__name__, len(k.signatures) - before.get(id(k), 0))
        for k in KERNELS
        if len(k.signatures) > before.get(id(k), 0)
    ]
    return WarmupReport(seconds, compiled, cache_dir() or "beside the package sources")
