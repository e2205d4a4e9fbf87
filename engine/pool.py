"""A persistent pool of parsing processes (RDKit holds the GIL, so parsing needs processes).

Workers are started with ``spawn`` (safe beside Numba's and RDKit's threads) and
import only :mod:`._worker` and RDKit; the pool is reused across calls and shut
down at exit.  Chunks come back in submission order, so row order is preserved.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from . import _worker

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_jobs(n_jobs: int | None, n_items: int, min_per_job: int = 2000) -> int:
    """Processes to use: ``None`` = all cores when the batch is big enough to pay for them."""
    cores = cpu_count()
    if n_jobs is None:
        return max(1, min(cores, n_items // min_per_job))
    n_jobs = int(n_jobs)
    if n_jobs < 0:
        n_jobs = max(1, cores + 1 + n_jobs)
    return max(1, n_jobs)


def get_pool(size: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(max_workers=size, mp_context=mp.get_context("spawn"))
            _pool_size = size
        return _pool


def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


atexit.register(shutdown)


def parse_parallel(kind: str, items: list, chirality: bool, fcfp: bool, n_jobs: int, chunk_size: int | None = None):
    """``_worker.parse_chunk`` over chunks of ``items`` on ``n_jobs`` processes, in order."""
    if n_jobs <= 1:
        return [_worker.parse_chunk(kind, items, chirality, fcfp)]
    if chunk_size is None:
        # enough chunks to balance the workers, big enough to amortise the IPC
        chunk_size = max(500, min(20000, -(-len(items) // (n_jobs * 4))))
    pool = get_pool(n_jobs)
    futures = [pool.submit(_worker.parse_chunk, kind, items[i:i + chunk_size], chirality, fcfp)
               for i in range(0, len(items), chunk_size)]
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
