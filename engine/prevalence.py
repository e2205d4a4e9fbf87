"""Stage 4a, prevalence: how many training molecules contain each id, optionally per class (kernels).

Counting uses open-addressing hash tables of uint32 ids, one per thread over a block of rows, merged
afterwards (no atomics, no races).  The table's slot hash (:func:`slot`) is the lookup's too
(:mod:`.pooling`).  Sort & Slice ranks the counts here (:func:`rank_by_prevalence`).
"""

from __future__ import annotations

import numpy as np

from . import checks, parallel
from ._jit import kernel, ro
from .csr import balanced_blocks

#: an empty table slot (ids are stored as id + 1)
EMPTY = np.uint64(0)


@kernel
def slot(key, mask):
    # Fibonacci hashing of the id; keys are stored as id + 1 so that 0 means empty
    return (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(20)) & mask


@kernel
def _grow(keys, vals):
    new_keys = np.zeros(keys.shape[0] * 2, dtype=np.uint64)
    new_vals = np.zeros((keys.shape[0] * 2, vals.shape[1]), dtype=np.int64)
    mask = np.uint64(new_keys.shape[0] - 1)
    for i in range(keys.shape[0]):
        if keys[i] != EMPTY:
            s = slot(keys[i], mask)
            while new_keys[s] != EMPTY:
                s = (s + np.uint64(1)) & mask
            new_keys[s] = keys[i]
            for c in range(vals.shape[1]):
                new_vals[s, c] = vals[i, c]
    return new_keys, new_vals


def _merge_counts(ids, vals):
    """Sum the rows of ``vals`` that share an id; returns ids ascending (``uint32``, ``int64`` 2-d)."""
    ids = np.asarray(ids, dtype=np.uint32)
    vals = np.asarray(vals, dtype=np.int64)
    if ids.shape[0] == 0:
        return ids.copy(), vals.copy()
    order = np.argsort(ids)  # equal ids are summed: no stable sort needed (NumPy's stable one is ~6x slower)
    ids, vals = ids[order], vals[order]
    new = np.empty(ids.shape[0], dtype=bool)
    new[0] = True
    np.not_equal(ids[1:], ids[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return ids[starts], np.add.reduceat(vals, starts, axis=0)


@kernel
def _count_rows_run(keys, vals, indptr, ids, row_class, r, j, r1, used):
    """Count ids of rows r..r1 (resuming at id j) into a fixed table until it is half full.

    Returns ``(r, j, used)`` where it stopped.  Kept separate from the growth so the
    hot loop sees arrays that never change (Numba then keeps them in registers).
    """
    mask = np.uint64(keys.shape[0] - 1)
    limit = keys.shape[0] // 2
    while r < r1:
        c = row_class[r]
        if c >= 0:
            e = indptr[r + 1]
            while j < e:
                key = np.uint64(ids[j]) + np.uint64(1)
                p = slot(key, mask)
                while True:
                    if keys[p] == key:
                        break
                    if keys[p] == EMPTY:
                        if used >= limit:
                            return r, j, used
                        keys[p] = key
                        used += 1
                        break
                    p = (p + np.uint64(1)) & mask
                vals[p, c] += 1
                j += 1
        r += 1
        if r < r1:
            j = indptr[r]
    return r, j, used


@kernel
def _count_block(r0, r1, indptr, ids, row_class, n_classes):
    """Prevalence (per class) of rows r0..r1 in a private hash table -> compact (ids, counts)."""
    keys = np.zeros(1 << 12, dtype=np.uint64)
    vals = np.zeros((1 << 12, n_classes), dtype=np.int64)
    used = np.int64(0)
    r = r0
    j = indptr[r0] if r0 < r1 else 0
    while r < r1:
        r, j, used = _count_rows_run(keys, vals, indptr, ids, row_class, r, j, r1, used)
        if r < r1:
            keys, vals = _grow(keys, vals)
    out_ids = np.empty(used, dtype=np.uint32)
    out_vals = np.empty((used, n_classes), dtype=np.int64)
    m = 0
    for p in range(keys.shape[0]):
        if keys[p] != EMPTY:
            out_ids[m] = np.uint32(keys[p] - np.uint64(1))
            for c in range(n_classes):
                out_vals[m, c] = vals[p, c]
            m += 1
    return out_ids, out_vals


@kernel
def _count_rows_packed(table, indptr, ids, row_class, r, j, r1, used):
    """:func:`_count_rows_run` for one class: a slot is ``id << 32 | count`` (0 = empty).

    Key and count share one word, so a probe touches one cache line (half the table of
    separate key and count arrays).  A count cannot reach 2**32: the caller only uses
    this for blocks of fewer rows.
    """
    mask = np.uint64(table.shape[0] - 1)
    limit = table.shape[0] // 2
    while r < r1:
        if row_class[r] >= 0:
            e = indptr[r + 1]
            while j < e:
                key = np.uint64(ids[j])
                p = slot(key + np.uint64(1), mask)
                while True:
                    v = table[p]
                    if v == EMPTY:
                        if used >= limit:
                            return r, j, used
                        table[p] = (key << np.uint64(32)) | np.uint64(1)
                        used += 1
                        break
                    if (v >> np.uint64(32)) == key:
                        table[p] = v + np.uint64(1)
                        break
                    p = (p + np.uint64(1)) & mask
                j += 1
        r += 1
        if r < r1:
            j = indptr[r]
    return r, j, used


@kernel
def _grow_packed(table):
    new = np.zeros(table.shape[0] * 2, dtype=np.uint64)
    mask = np.uint64(new.shape[0] - 1)
    for i in range(table.shape[0]):
        v = table[i]
        if v != EMPTY:
            p = slot((v >> np.uint64(32)) + np.uint64(1), mask)
            while new[p] != EMPTY:
                p = (p + np.uint64(1)) & mask
            new[p] = v
    return new


@kernel
def _count_block_packed(r0, r1, indptr, ids, row_class):
    """:func:`_count_block` for one class, in a packed table."""
    table = np.zeros(1 << 12, dtype=np.uint64)
    used = np.int64(0)
    r = r0
    j = indptr[r0] if r0 < r1 else 0
    while r < r1:
        r, j, used = _count_rows_packed(table, indptr, ids, row_class, r, j, r1, used)
        if r < r1:
            table = _grow_packed(table)
    out_ids = np.empty(used, dtype=np.uint32)
    out_vals = np.empty((used, 1), dtype=np.int64)
    m = 0
    low = np.uint64(0xFFFFFFFF)
    for p in range(table.shape[0]):
        v = table[p]
        if v != EMPTY:
            out_ids[m] = np.uint32(v >> np.uint64(32))
            out_vals[m, 0] = np.int64(v & low)
            m += 1
    return out_ids, out_vals


@kernel
def _count_one_class(r0, r1, indptr, ids, row_class, n_classes):
    """Prevalence of rows r0..r1 (fewer than 2**32) in a private packed table (see :func:`_count_block_packed`)."""
    return _count_block_packed(r0, r1, indptr, ids, row_class)


@kernel
def _count_classes(r0, r1, indptr, ids, row_class, n_classes):
    """Prevalence by class of rows r0..r1 in a private table (compiled only when classes are counted)."""
    return _count_block(r0, r1, indptr, ids, row_class, n_classes)


def document_frequency(
    indptr, ids, row_class=None, n_classes: int = 1, *, threads: int | None = None, rows_checked: bool = False
):
    """Prevalence of every id (number of rows containing it), optionally split by class.

    Ids are unique within a row (as ``ecfp`` returns them).  ``row_class`` (one
    int per row; -1 skips the row) selects the column of the count matrix.
    Returns ``(ids ascending uint32, counts int64 (n, n_classes))``.

    Each thread counts a block of rows (balanced by ids) in a private
    open-addressing table that starts small and grows outside the hot loop (no
    shared state, no atomics); the per-thread tables, which hold only distinct
    ids, are merged at the end.
    """
    # rows_checked: the caller already knows rows are ascending and unique (an EcfpResult it checked)
    indptr, ids = checks.csr(indptr, ids, sorted_rows=not rows_checked)
    n_classes = checks.non_negative_int(n_classes, "n_classes")
    n_rows = indptr.shape[0] - 1
    if row_class is None:
        if n_classes < 1:
            raise ValueError("n_classes must be >= 1 when every row is counted (row_class=None)")
        row_class = np.zeros(n_rows, dtype=np.int64)  # valid by construction
    else:
        row_class = checks.int_array(row_class, "row_class", np.int64, low=-1)
        if row_class.shape != (n_rows,):
            raise ValueError("row_class must have one entry per row")
        if n_rows and row_class.max(initial=-1) >= n_classes:
            raise ValueError(f"row_class has a class >= n_classes ({n_classes})")
    if n_rows == 0 or ids.shape[0] == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros((0, n_classes), dtype=np.int64)
    t = parallel.threads(threads)
    # one private table per block (a block per thread), concatenated; duplicates merged after
    blocks = balanced_blocks(indptr, t)
    packed = n_classes == 1 and int(np.diff(blocks).max()) < 0xFFFFFFFF
    count = _count_one_class if packed else _count_classes  # each compiled on first use
    parts = parallel.map_blocks(count, blocks, t, ro(indptr), ro(ids), ro(row_class), int(n_classes))
    if len(parts) == 1:
        return _merge_counts(*parts[0])
    return _merge_counts(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def merge_prevalence(a_ids, a_counts, b_ids, b_counts):
    """Sum two prevalence tables (ids ascending) -> one (ids ascending)."""
    a_ids, a_counts = _prevalence_table(a_ids, a_counts, "a")
    b_ids, b_counts = _prevalence_table(b_ids, b_counts, "b")
    if len(a_ids) and len(b_ids):
        a_cols, b_cols = a_counts.reshape(len(a_ids), -1).shape[1], b_counts.reshape(len(b_ids), -1).shape[1]
        if a_cols != b_cols:
            raise ValueError(
                f"a_counts and b_counts must have the same number of columns (classes), got {a_cols} and {b_cols}"
            )
    # 1-d counts are one column; an empty table (a batch of invalid molecules) takes the other's width
    # (``reshape(0, -1)`` cannot infer it)
    ref = a_counts if len(a_ids) else b_counts
    n_cols = ref.shape[1] if ref.ndim == 2 else 1
    ids = np.concatenate([a_ids, b_ids]).astype(np.uint32)
    counts = np.concatenate([a_counts.reshape(len(a_ids), n_cols), b_counts.reshape(len(b_ids), n_cols)])
    return _merge_counts(ids, counts)


def _prevalence_table(ids, counts, name: str):
    """``(ids, counts)`` of a prevalence table: 32-bit ids, counts >= 0 with one row per id (1-d or 2-d)."""
    ids = checks.int_array(ids, f"{name}_ids", np.uint32)
    ndim = np.ndim(counts)
    if ndim not in (1, 2):
        raise ValueError(f"{name}_counts must be 1- or 2-dimensional, got shape {np.shape(counts)}")
    counts = checks.int_array(counts, f"{name}_counts", np.int64, ndim=ndim, low=0)
    if counts.shape[0] != ids.shape[0] and not (ids.shape[0] == 0 and counts.size == 0):
        raise ValueError(f"{name}_counts must have one row per id ({ids.shape[0]}), got {counts.shape[0]}")
    return ids, counts


def rank_by_prevalence(ids, prevalence, length: int, tie_break: str = "larger_id_first"):
    """Sort & Slice: ids by prevalence descending, ties by id; the first ``length``."""
    ids = checks.int_array(ids, "ids", np.uint32)
    prevalence = checks.int_array(prevalence, "prevalence", np.int64, low=0)
    if prevalence.shape != ids.shape:
        raise ValueError(f"prevalence must have one entry per id ({ids.shape[0]}), got {prevalence.shape[0]}")
    length = checks.non_negative_int(length, "length")
    if tie_break == "larger_id_first":
        order = np.lexsort((-ids.astype(np.int64), -prevalence))
    elif tie_break == "smaller_id_first":
        order = np.lexsort((ids.astype(np.int64), -prevalence))
    else:
        raise ValueError(f"tie_break must be 'larger_id_first' or 'smaller_id_first', got {tie_break!r}")
    return order[:length]
