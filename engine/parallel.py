"""Threads and processes: the one policy every kernel launch and the parsing workers follow.

* ``n_jobs=None`` means *what the caller allows*: ``NUMBA_NUM_THREADS`` (every core by default), or
  ``numba.get_num_threads()`` on the calling thread once the caller has used Numba's threads, so
  ``numba.set_num_threads(1)`` is respected by every sortslice call;
* a positive ``n_jobs`` is taken as given (threads are capped at Numba's pool size); a negative one
  counts back from the machine's cores (``-1`` = all of them), as scikit-learn does;
* a featuriser's ``n_jobs`` reaches every kernel it runs (parsing, Morgan, prevalence, pooling).

Kernels are serial and release the GIL: :func:`run_blocks` runs one over blocks of rows on a thread
pool kept for the process (the calling thread works too, so a call from a pool thread or from many
threads at once always progresses). No Numba threading layer is started by sortslice.

Results never depend on any of this (``tests/test_determinism.py``).
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from numba.np.ufunc import parallel as _numba_parallel

from .config import MIN_ITEMS_PER_PROCESS


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _requested(n_jobs: int | None) -> int:
    if n_jobs is None:
        # numba.get_num_threads() starts Numba's threading layer (TBB's threads): ask it only once
        # the caller has started it, e.g. by numba.set_num_threads
        return numba.get_num_threads() if _numba_parallel._is_initialized else _pool_size()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise TypeError(f"n_jobs must be an integer or None, got {type(n_jobs).__name__}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0 (None: the caller's Numba thread count; -1: every core)")
    return max(1, cpu_count() + 1 + n_jobs) if n_jobs < 0 else n_jobs


def _pool_size() -> int:
    """Numba's thread pool size (``NUMBA_NUM_THREADS``, fixed when the process starts)."""
    return int(getattr(numba.config, "NUMBA_NUM_THREADS"))  # noqa: B009  (not in Numba's type stubs)


def threads(n_jobs: int | None = None) -> int:
    """Threads for a parallel kernel launch (1 .. Numba's pool size)."""
    return max(1, min(_requested(n_jobs), _pool_size()))


def processes(n_jobs: int | None, n_items: int) -> int:
    """Parsing processes for ``n_items`` text inputs (1 = parse in this process).

    ``None``: as many as :func:`threads` allows, when the batch is big enough to pay for them
    (``MIN_ITEMS_PER_PROCESS`` each).
    """
    if n_jobs is None:
        return max(1, min(_requested(None), n_items // MIN_ITEMS_PER_PROCESS))
    return _requested(n_jobs)


_pool_lock = threading.Lock()
_thread_pool: ThreadPoolExecutor | None = None


def _threads_pool() -> ThreadPoolExecutor:
    global _thread_pool
    with _pool_lock:
        if _thread_pool is None:
            _thread_pool = ThreadPoolExecutor(max_workers=max(1, _pool_size() - 1), thread_name_prefix="sortslice")
        return _thread_pool


def run_blocks(kernel, blocks: np.ndarray, threads: int, *args) -> None:
    """``kernel(blocks, lo, hi, *args)`` over every block ``[blocks[b], blocks[b + 1])``, on ``threads`` threads.

    The kernel loops over blocks ``lo..hi-1`` and writes only its own rows, so blocks run in any order and
    on any thread. With one thread (or one block) it is a single call on the calling thread; otherwise the
    calling thread and ``threads - 1`` pool threads take blocks one at a time until none are left.
    """
    n = blocks.shape[0] - 1
    if n <= 0:
        return
    t = max(1, min(int(threads), n))
    if t == 1:
        kernel(blocks, 0, n, *args)
        return
    nxt = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> None:
        while True:
            b = next(nxt)
            if b >= n:
                return
            kernel(blocks, b, b + 1, *args)

    futures = [_threads_pool().submit(work) for _ in range(t - 1)]
    try:
        work()
    finally:
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e


def map_blocks(kernel, blocks: np.ndarray, threads: int, *args) -> list:
    """``[kernel(blocks[b], blocks[b + 1], *args) for every block]``, in block order, on ``threads`` threads."""
    n = blocks.shape[0] - 1
    if n <= 0:
        return []
    if min(int(threads), n) <= 1:
        return [kernel(blocks[b], blocks[b + 1], *args) for b in range(n)]
    rest = [_threads_pool().submit(kernel, blocks[b], blocks[b + 1], *args) for b in range(1, n)]
    first = kernel(blocks[0], blocks[1], *args)
    return [first] + [f.result() for f in rest]


_libc: Any = None  # glibc, once looked up; False where there is none


def trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim``; nothing elsewhere).

    Batches computed on many threads (Polars calls the expressions from its pool) leave freed blocks of
    a few MB in each thread's malloc arena, which glibc keeps; a trim after each batch costs far less than
    the batch.  Figures: perf/README, "One file four ways" (``perf/bench_polars_file.py``)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                lib = ctypes.CDLL("libc.so.6")
                lib.malloc_trim  # noqa: B018 - glibc only (musl has none)
                _libc = lib
            except (OSError, AttributeError):
                pass
    if _libc:
        _libc.malloc_trim(0)
