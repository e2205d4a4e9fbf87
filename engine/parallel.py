"""Threads and processes: the one policy every kernel launch and the parsing workers follow.

* ``n_jobs=None`` means *what the caller allows*: ``numba.get_num_threads()`` on the calling thread, so
  ``numba.set_num_threads(1)`` (or ``NUMBA_NUM_THREADS``) is respected by every sortslice call;
* a positive ``n_jobs`` is taken as given (threads are capped at Numba's pool size); a negative one
  counts back from the machine's cores (``-1`` = all of them), as scikit-learn does;
* a featuriser's ``n_jobs`` reaches every kernel it runs (parsing, Morgan, prevalence, pooling).

Results never depend on any of this (``tests/test_determinism.py``).
"""

from __future__ import annotations

import os

import numba
import numpy as np

from .config import MIN_ITEMS_PER_PROCESS


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _requested(n_jobs: int | None) -> int:
    if n_jobs is None:
        return numba.get_num_threads()
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
