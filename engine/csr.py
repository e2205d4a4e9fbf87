"""CSR helpers: the row operations every stage shares (one selection, one concatenation, balanced blocks).

A batch of rows is ``ptr`` (int64, from 0, non-decreasing) over flat value arrays: molecules over atoms
and bonds, rows over ids. These functions work on the pointer alone and return what indexes the values,
so one implementation serves ids, counts, atoms, bonds and Arrow list columns alike.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np


def select_rows(ptr: np.ndarray, rows) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``rows`` (indices, in that order, or a boolean mask) of a CSR batch.

    Returns ``(new_ptr, take)``: the new pointer, and the positions of the kept values in the old
    value arrays (``values[take]`` for each of them).

    Examples
    --------
    >>> ptr = np.array([0, 2, 2, 5])
    >>> select_rows(ptr, [2, 0])
    (array([0, 3, 5]), array([2, 3, 4, 0, 1]))
    >>> select_rows(ptr, np.array([True, False, True]))[0]
    array([0, 2, 5])
    """
    ptr = np.asarray(ptr, dtype=np.int64)
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (ptr.shape[0] - 1,):
            raise ValueError(f"boolean mask must have {ptr.shape[0] - 1} entries")
        rows = np.flatnonzero(rows)
    rows = rows.astype(np.int64, copy=False)
    sizes = ptr[rows + 1] - ptr[rows]
    new_ptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_ptr[1:])
    take = np.repeat(ptr[rows] - new_ptr[:-1], sizes) + np.arange(new_ptr[-1], dtype=np.int64)
    return new_ptr, take


def concat_ptr(ptrs) -> np.ndarray:
    """The pointer of consecutive CSR blocks, one after another (values concatenated in the same order).

    Examples
    --------
    >>> concat_ptr([np.array([0, 2, 3]), np.array([0, 1])])
    array([0, 2, 3, 4])
    """
    out = [np.zeros(1, dtype=np.int64)]
    base = 0
    for p in ptrs:
        out.append(np.asarray(p[1:], dtype=np.int64) + base)
        base += int(p[-1])
    return np.concatenate(out)


def row_of(ptr: np.ndarray) -> np.ndarray:
    """The row of every value (``np.repeat(arange(rows), sizes)``)."""
    return np.repeat(np.arange(ptr.shape[0] - 1, dtype=np.int64), np.diff(ptr))


class _Work:
    """``ptr[i] + i`` as a read-only sequence (non-decreasing when ``ptr`` is)."""

    def __init__(self, ptr):
        self.ptr = ptr

    def __len__(self):
        return self.ptr.shape[0]

    def __getitem__(self, i):
        return int(self.ptr[i]) + i


def balanced_blocks(ptr: np.ndarray, n_blocks: int) -> np.ndarray:
    """Split rows into ``n_blocks`` contiguous blocks of about equal work (threads balanced by work).

    Work is values + 1 per row (so runs of empty rows are split too), found by binary search: a few
    dozen reads rather than an O(rows) array.

    Examples
    --------
    >>> balanced_blocks(np.array([0, 10, 10, 11, 12]), 2).tolist()
    [0, 1, 4]
    """
    n_rows = ptr.shape[0] - 1
    if n_rows <= 0:
        return np.zeros(1, dtype=np.int64)
    n_blocks = max(1, min(n_blocks, n_rows))
    work = _Work(ptr)
    targets = np.linspace(0, work[n_rows], n_blocks + 1)
    cuts = np.array([bisect_left(work, float(t), 0, n_rows + 1) for t in targets], dtype=np.int64)
    cuts[0], cuts[-1] = 0, n_rows
    return np.unique(cuts)


def thread_blocks(ptr: np.ndarray, threads: int) -> np.ndarray:
    """Blocks for a parallel kernel on ``threads`` threads: 8 a thread, so uneven rows balance out."""
    return balanced_blocks(ptr, threads * 8)
