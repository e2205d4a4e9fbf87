"""Validation of the arrays handed to the engine's public functions, before any compiled code sees them.

Kernels index without bounds checks (Numba), so a malformed CSR array — a pointer past the end, a
negative or out-of-range index, lengths that disagree — would read or write out of bounds: a
segfault, or silently wrong numbers.  Every public entry point runs these checks first and raises
``TypeError`` (not an array of integers) or ``ValueError`` (wrong shape or values), naming the
argument.  They are vectorised and O(n), and copy nothing that already has the kernel's dtype and
layout (read-only arrays, e.g. zero-copy from Arrow, are fine).

Examples
--------
>>> import numpy as np
>>> from sortslice.engine.checks import ptr_array
>>> ptr_array([0, 2, 1], "indptr")
Traceback (most recent call last):
...
ValueError: indptr must be non-decreasing (entry 2 is 1 after 2)
"""

from __future__ import annotations

import numpy as np

from . import parallel
from .config import ROWS_CHECK_PER_THREAD


def int_array(a, name: str, dtype, *, ndim: int = 1, low: int | None = None, high: int | None = None) -> np.ndarray:
    """``a`` as a C-contiguous ``dtype`` array, after checking it holds integers that fit.

    Any integer dtype is accepted when its values fit ``dtype`` (and ``[low, high]`` when
    given); floats, booleans, strings and objects are refused (an empty sequence of any
    numeric dtype is fine: ``np.asarray([])`` is float).
    """
    dtype = np.dtype(dtype)
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        if not (arr.size == 0 and arr.dtype.kind in "biuf"):
            raise TypeError(f"{name} must be an array of integers, got {_kind(a, arr)}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    info = np.iinfo(dtype)
    lo = info.min if low is None else max(low, info.min)
    hi = info.max if high is None else min(high, info.max)
    if arr.size and arr.dtype.kind in "iu":
        src = np.iinfo(arr.dtype)
        if src.min < lo or src.max > hi:  # the values themselves must fit
            a_min, a_max = int(arr.min()), int(arr.max())
            if a_min < lo or a_max > hi:
                bad = a_min if a_min < lo else a_max
                raise ValueError(f"{name} must hold integers in [{lo}, {hi}], got {bad}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _kind(a, arr: np.ndarray) -> str:
    if not isinstance(a, np.ndarray):
        return f"{type(a).__name__} of {arr.dtype}"
    return f"an array of {arr.dtype}"


def ptr_array(ptr, name: str, n_values: int | None = None, values: str = "values") -> np.ndarray:
    """A CSR pointer: 1-d int64, ``ptr[0] == 0``, non-decreasing, ``ptr[-1] == n_values`` when given."""
    ptr = int_array(ptr, name, np.int64)
    if ptr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one entry (n_rows + 1 pointers)")
    if ptr[0] != 0:
        raise ValueError(f"{name} must start at 0, got {int(ptr[0])}")
    down = np.less(ptr[1:], ptr[:-1])   # a byte per row, not an int64 difference
    if down.any():
        k = int(np.argmax(down)) + 1
        raise ValueError(f"{name} must be non-decreasing (entry {k} is {int(ptr[k])} after {int(ptr[k - 1])})")
    if n_values is not None and int(ptr[-1]) != n_values:
        raise ValueError(f"{name}[-1] must equal the number of {values} ({n_values}), got {int(ptr[-1])}")
    return ptr


#: ids compared at a time by :func:`ascending_rows` (a cache-sized scratch instead of an O(ids) temporary)
_ROWS_CHECK_BLOCK = 1 << 18


def _first_descent(indptr: np.ndarray, ids: np.ndarray, a: int, b: int) -> int:
    """Index of the first id in ``ids[a + 1:b + 1]`` not above its predecessor in the same row, or -1."""
    starts = indptr[1:-1]   # non-decreasing (checked): a step onto a row's first id may go down
    scratch = np.empty(min(b - a, _ROWS_CHECK_BLOCK), dtype=np.bool_)
    for lo_step in range(a, b, _ROWS_CHECK_BLOCK):
        hi_step = min(b, lo_step + _ROWS_CHECK_BLOCK)
        step_ok = np.greater(ids[lo_step + 1:hi_step + 1], ids[lo_step:hi_step], out=scratch[:hi_step - lo_step])
        # steps lo..hi-1 land on ids lo+1..hi; those landing on a row start are allowed
        lo, hi = np.searchsorted(starts, [lo_step + 1, hi_step + 1])
        step_ok[starts[lo:hi] - 1 - lo_step] = True
        if not step_ok.all():
            return lo_step + int(np.argmin(step_ok)) + 1
    return -1


def ascending_rows(indptr: np.ndarray, ids: np.ndarray, name: str = "ids") -> None:
    """Ids strictly ascending within every row (unique, as ``ecfp`` returns them).

    Compared a cache-sized block at a time (no O(ids) temporaries); large inputs are
    split between threads (NumPy releases the GIL in the comparisons).
    """
    n = ids.shape[0]
    if n < 2:
        return
    parts = min(parallel.threads(), max(1, (n - 1) // ROWS_CHECK_PER_THREAD))
    bounds = [(n - 1) * k // parts for k in range(parts + 1)]
    if parts == 1:
        found = [_first_descent(indptr, ids, 0, n - 1)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(parts) as ex:
            found = list(ex.map(lambda k: _first_descent(indptr, ids, bounds[k], bounds[k + 1]), range(parts)))
    bad = [k for k in found if k >= 0]
    if bad:
        k = bad[0]
        row = int(np.searchsorted(indptr, k, side="right")) - 1
        raise ValueError(f"{name} must be strictly ascending within each row (unique, as ecfp returns them); "
                         f"row {row} is not")


def csr(indptr, ids, counts=None, *, ids_name: str = "ids", sorted_rows: bool = False):
    """A CSR batch of rows of 32-bit ids (and counts): ``(indptr, ids[, counts])`` as the kernels take them."""
    ids = int_array(ids, ids_name, np.uint32)
    indptr = ptr_array(indptr, "indptr", ids.shape[0], ids_name)
    if sorted_rows:
        ascending_rows(indptr, ids, ids_name)
    if counts is None:
        return indptr, ids
    counts = int_array(counts, "counts", np.uint32)
    if counts.shape != ids.shape:
        raise ValueError(f"counts must have one entry per id ({ids.shape[0]}), got {counts.shape[0]}")
    return indptr, ids, counts


def non_negative_int(value, name: str, minimum: int = 0) -> int:
    """A Python int >= ``minimum`` (NumPy integers accepted, bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
