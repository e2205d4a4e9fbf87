"""Stage 4, pooling: prevalence, Sort & Slice lookup, hash folding, supervised scores (kernels).

Counting uses open-addressing hash tables of uint32 ids, one per thread over a
block of rows, merged afterwards (no atomics, no races).  Transforms look ids up
in a small table built once per vocabulary (O(1) per id) and write only their own
output rows.
"""

from __future__ import annotations

import sys

import numpy as np

from . import checks, parallel
from ._jit import kernel, ro
from .csr import balanced_blocks
from .sorting import heap_sort

_EMPTY = np.uint64(0)


@kernel
def _slot(key, mask):
    # Fibonacci hashing of the id; keys are stored as id + 1 so that 0 means empty
    return (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15) >> np.uint64(20)) & mask


@kernel
def _grow(keys, vals):
    new_keys = np.zeros(keys.shape[0] * 2, dtype=np.uint64)
    new_vals = np.zeros((keys.shape[0] * 2, vals.shape[1]), dtype=np.int64)
    mask = np.uint64(new_keys.shape[0] - 1)
    for i in range(keys.shape[0]):
        if keys[i] != _EMPTY:
            s = _slot(keys[i], mask)
            while new_keys[s] != _EMPTY:
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
                p = _slot(key, mask)
                while True:
                    if keys[p] == key:
                        break
                    if keys[p] == _EMPTY:
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
        if keys[p] != _EMPTY:
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
                p = _slot(key + np.uint64(1), mask)
                while True:
                    v = table[p]
                    if v == _EMPTY:
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
        if v != _EMPTY:
            p = _slot((v >> np.uint64(32)) + np.uint64(1), mask)
            while new[p] != _EMPTY:
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
        if v != _EMPTY:
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


# --------------------------------------------------------------------------- lookup
def lookup_table(vocabulary: np.ndarray):
    """An open-addressing table id -> column (load <= 0.25, built once per vocabulary)."""
    vocabulary = checks.int_array(vocabulary, "vocabulary", np.uint32)
    if np.unique(vocabulary).shape[0] != vocabulary.shape[0]:
        raise ValueError("vocabulary must not repeat an id (each id has one column)")
    cap = 16
    while cap < 4 * max(1, vocabulary.shape[0]):
        cap *= 2
    keys = np.zeros(cap, dtype=np.uint64)
    cols = np.full(cap, -1, dtype=np.int64)
    _fill_lookup(vocabulary, keys, cols)
    return keys, cols


@kernel
def _fill_lookup(vocabulary, keys, cols):
    mask = np.uint64(keys.shape[0] - 1)
    for j in range(vocabulary.shape[0]):
        k = np.uint64(vocabulary[j]) + np.uint64(1)
        s = _slot(k, mask)
        while keys[s] != _EMPTY and keys[s] != k:
            s = (s + np.uint64(1)) & mask
        if keys[s] == _EMPTY:
            keys[s] = k
            cols[s] = j


@kernel
def _find(keys, cols, key):
    mask = np.uint64(keys.shape[0] - 1)
    k = np.uint64(key) + np.uint64(1)
    s = _slot(k, mask)
    while True:
        if keys[s] == k:
            return cols[s]
        if keys[s] == _EMPTY:
            return -1
        s = (s + np.uint64(1)) & mask


@kernel
def column_of(keys, cols, key, fold, length):
    """The output column of an id: ``id % length`` when folding, else its vocabulary column (or -1)."""
    if fold:
        return np.int64(np.uint64(key) % np.uint64(length))
    return _find(keys, cols, key)


_HASH = np.uint64(0x9E3779B97F4A7C15)


@kernel
def _presence_bits(keys):
    """A 65,536-bit filter of a lookup table's ids: a clear bit proves an id absent.

    Many ids of a molecule are outside a Sort & Slice vocabulary (in ``perf/bench_pooling.py``,
    52.3M of MOSES's 68.5M ECFP4 ids are inside it for L = 1024); one load of this 8 KiB
    filter rejects nearly all the others without a probe of the table.
    """
    bits = np.zeros(1 << 10, dtype=np.uint64)
    for s in range(keys.shape[0]):
        k = keys[s]
        if k != _EMPTY:
            h = ((k - np.uint64(1)) * _HASH) >> np.uint64(48)
            bits[h >> np.uint64(6)] |= np.uint64(1) << (h & np.uint64(63))
    return bits


@kernel
def _column_in(bits, keys, cols, key, fold, length):
    """:func:`column_of` with the presence filter of :func:`_presence_bits` in front of the table."""
    if not fold:
        h = (np.uint64(key) * _HASH) >> np.uint64(48)
        if (bits[h >> np.uint64(6)] >> (h & np.uint64(63))) & np.uint64(1) == np.uint64(0):
            return np.int64(-1)
    return column_of(keys, cols, key, fold, length)


#: how :func:`_dense_rows` writes a value: little-endian integer (bool included), float32, float64
_INT, _F32, _F64 = 0, 1, 2


@kernel
def _dense_rows(blocks, lo, hi, indptr, ids, counts, bits, keys, cols, fold, length, use_counts, vmax, kind, out):
    """Rows of blocks ``lo..hi-1`` into ``out``, the zeroed output's bytes (``n_rows x length * itemsize``
    uint8): 1 per present column, or count sums saturating at ``vmax``. Writing bytes makes every output
    dtype one compiled signature."""
    isz = out.shape[1] // length
    if not use_counts and kind == _INT:
        # the common case (binary, integer dtype): a 1 in each present column's low byte, nothing to sum
        for b in range(lo, hi):
            for r in range(blocks[b], blocks[b + 1]):
                for j in range(indptr[r], indptr[r + 1]):
                    c = _column_in(bits, keys, cols, ids[j], fold, length)
                    if c >= 0:
                        out[r, c * isz] = 1
        return
    f32 = np.empty(1, dtype=np.float32)
    f64 = np.empty(1, dtype=np.float64)
    b32 = f32.view(np.uint8)
    b64 = f64.view(np.uint8)
    totals = np.zeros(length, dtype=np.int64)
    for b in range(lo, hi):
        n_max = np.int64(0)
        for r in range(blocks[b], blocks[b + 1]):
            n_max = max(n_max, indptr[r + 1] - indptr[r])
        touched = np.empty(n_max, dtype=np.int64)
        for r in range(blocks[b], blocks[b + 1]):
            m = 0
            for j in range(indptr[r], indptr[r + 1]):
                c = _column_in(bits, keys, cols, ids[j], fold, length)
                if c >= 0:
                    if totals[c] == 0:
                        touched[m] = c
                        m += 1
                    if use_counts:
                        totals[c] += np.int64(counts[j])
                    else:
                        totals[c] = 1
            for x in range(m):
                c = touched[x]
                v = totals[c]
                totals[c] = 0
                if v > vmax:
                    v = vmax
                p = c * isz
                if kind == _INT:
                    if isz == 1:
                        out[r, p] = np.uint8(v)
                    else:
                        for k in range(isz):
                            out[r, p + k] = np.uint8((v >> (8 * k)) & 0xFF)
                elif kind == _F32:
                    f32[0] = np.float32(v)
                    for k in range(4):
                        out[r, p + k] = b32[k]
                else:
                    f64[0] = np.float64(v)
                    for k in range(8):
                        out[r, p + k] = b64[k]


@kernel
def _sorted_row(bits, keys, cols, ids, counts, s, e, fold, length, packed):
    """One row's (column, count) pairs packed as ``column << 32 | count`` and sorted; returns how many."""
    m = 0
    for j in range(s, e):
        c = _column_in(bits, keys, cols, ids[j], fold, length)
        if c >= 0:
            packed[m] = (c << 32) | np.int64(counts[j])
            m += 1
    heap_sort(packed[:m])
    return m


# de Bruijn sequence and table: the index of a 64-bit word's lowest set bit without a loop
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = np.array(
    [
        0,
        1,
        48,
        2,
        57,
        49,
        28,
        3,
        61,
        58,
        50,
        42,
        38,
        29,
        17,
        4,
        62,
        55,
        59,
        36,
        53,
        51,
        43,
        22,
        45,
        39,
        33,
        30,
        24,
        18,
        12,
        5,
        63,
        47,
        56,
        27,
        60,
        41,
        37,
        16,
        54,
        35,
        52,
        21,
        44,
        32,
        23,
        11,
        46,
        26,
        40,
        15,
        34,
        20,
        31,
        10,
        25,
        14,
        19,
        9,
        13,
        8,
        7,
        6,
    ],
    dtype=np.int64,
)
#: lengths up to this use a per-thread bitmap of columns (O(length / 64 + ids) a row); longer ones sort
_BITMAP_MAX_LENGTH = 1 << 14


@kernel
def _bitmap_row(
    bits, keys, cols, ids, counts, s, e, fold, length, use_counts, words, totals, out_idx, out_val, p, vmax, table
):
    """A row's distinct columns in ascending order (and count sums) via a bitmap; returns how many.

    With ``out_idx`` empty only counts.  ``words`` and ``totals`` are zero on entry and on exit.
    """
    for j in range(s, e):
        c = _column_in(bits, keys, cols, ids[j], fold, length)
        if c >= 0:
            words[c >> 6] |= np.uint64(1) << np.uint64(c & 63)
            if use_counts:
                totals[c] += np.int64(counts[j])
    u = 0
    for w in range(words.shape[0]):
        x = words[w]
        if x == 0:
            continue
        words[w] = 0
        while x != 0:
            low = x & (~x + np.uint64(1))
            c = (w << 6) + table[np.int64((low * _DEBRUIJN) >> np.uint64(58))]
            x ^= low
            if out_idx.shape[0]:
                out_idx[p + u] = c
                if use_counts:
                    v = totals[c]
                    totals[c] = 0
                    out_val[p + u] = v if v < vmax else vmax
                elif out_val.shape[0]:
                    out_val[p + u] = 1
            elif use_counts:
                totals[c] = 0
            u += 1
    return u


@kernel
def _sparse_sizes(blocks, lo, hi, indptr, ids, counts, bits, keys, cols, fold, length, sizes):
    for b in range(lo, hi):
        n_max = 0
        for r in range(blocks[b], blocks[b + 1]):
            n_max = max(n_max, indptr[r + 1] - indptr[r])
        packed = np.empty(n_max, dtype=np.int64)
        bitmap = length <= _BITMAP_MAX_LENGTH
        words = np.zeros((length + 63) // 64 if bitmap else 0, dtype=np.uint64)
        none = np.empty(0, dtype=np.int64)
        for r in range(blocks[b], blocks[b + 1]):
            if not fold:
                # vocabulary columns of a row's (unique) ids are unique: count, no sort
                u = 0
                for j in range(indptr[r], indptr[r + 1]):
                    if _column_in(bits, keys, cols, ids[j], fold, length) >= 0:
                        u += 1
                sizes[r] = u
            elif bitmap:
                sizes[r] = _bitmap_row(
                    bits,
                    keys,
                    cols,
                    ids,
                    counts,
                    indptr[r],
                    indptr[r + 1],
                    fold,
                    length,
                    np.bool_(False),
                    words,
                    none,
                    none,
                    none,
                    np.int64(0),
                    np.int64(0),
                    _DEBRUIJN_INDEX,
                )
            else:
                m = _sorted_row(bits, keys, cols, ids, counts, indptr[r], indptr[r + 1], fold, length, packed)
                u = 0
                for i in range(m):
                    if i == 0 or (packed[i] >> 32) != (packed[i - 1] >> 32):
                        u += 1
                sizes[r] = u


@kernel
def _sparse_fill(
    blocks, lo, hi, indptr, ids, counts, bits, keys, cols, fold, length, use_counts, vmax, out_ptr, out_idx, out_val
):
    """CSR indices (sorted) and values (int64) of the rows of blocks ``lo..hi-1``; count sums saturate at
    ``vmax``."""
    for b in range(lo, hi):
        n_max = 0
        for r in range(blocks[b], blocks[b + 1]):
            n_max = max(n_max, indptr[r + 1] - indptr[r])
        bitmap = length <= _BITMAP_MAX_LENGTH
        packed = np.empty(0 if bitmap else n_max, dtype=np.int64)
        words = np.zeros((length + 63) // 64 if bitmap else 0, dtype=np.uint64)
        totals = np.zeros(length if bitmap and use_counts else 0, dtype=np.int64)
        for r in range(blocks[b], blocks[b + 1]):
            if bitmap:
                _bitmap_row(
                    bits,
                    keys,
                    cols,
                    ids,
                    counts,
                    indptr[r],
                    indptr[r + 1],
                    fold,
                    length,
                    use_counts,
                    words,
                    totals,
                    out_idx,
                    out_val,
                    out_ptr[r],
                    vmax,
                    _DEBRUIJN_INDEX,
                )
                continue
            m = _sorted_row(bits, keys, cols, ids, counts, indptr[r], indptr[r + 1], fold, length, packed)
            p = out_ptr[r] - 1
            last = np.int64(-1)
            total = np.int64(0)
            for i in range(m):
                c = packed[i] >> 32
                v = (packed[i] & 0xFFFFFFFF) if use_counts else np.int64(1)
                if c != last:
                    p += 1
                    out_idx[p] = c
                    total = v
                    last = c
                elif use_counts:
                    total += v
                if out_val.shape[0]:
                    out_val[p] = total if total < vmax else vmax


def _check_table(table):
    """A ``(keys, cols)`` pair as :func:`lookup_table` builds it (a lookup in anything else could read out
    of bounds, or probe forever in a table without an empty slot)."""
    try:
        keys, cols = table
    except (TypeError, ValueError):
        raise TypeError("table must be the (keys, cols) pair lookup_table() returns") from None
    keys = checks.int_array(keys, "table keys", np.uint64)
    cols = checks.int_array(cols, "table columns", np.int64, low=-1)
    n = keys.shape[0]
    if n == 0 or n & (n - 1) or cols.shape != keys.shape:
        raise ValueError(
            "table must be the (keys, cols) pair lookup_table() returns: keys and columns of the "
            "same power-of-two length"
        )
    if (keys != 0).all():
        raise ValueError("table must have an empty slot (key 0), as lookup_table() leaves")
    return keys, cols


def _max_value(dtype: np.dtype) -> int:
    """Where count sums saturate: the integer dtype's maximum, 1 for booleans (floats: effectively never)."""
    if dtype.kind == "b":
        return 1
    return min(int(np.iinfo(dtype).max), 2**62) if np.issubdtype(dtype, np.integer) else 2**62


def pool(
    indptr,
    ids,
    counts,
    *,
    length: int,
    vocabulary=None,
    table=None,
    use_counts: bool = False,
    dtype=np.uint8,
    sparse: bool = False,
    index_dtype=None,
    threads: int | None = None,
):
    """Rows of ids -> fixed-length vectors: Sort & Slice lookup (``vocabulary``) or folding (``None``).

    Dense output is ``(n_rows, length)`` of ``dtype``; sparse output is a SciPy CSR
    matrix with sorted column indices.  Count sums saturate at the dtype's maximum.
    The kernels write the output dtype directly: no wider intermediate matrix.  ``index_dtype`` is the
    sparse matrix's index dtype (``None``: int32 when the indices fit, else int64).
    """
    indptr, ids, counts = checks.csr(indptr, ids, counts)
    length = checks.non_negative_int(length, "length", minimum=1)
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype must be a boolean, integer or floating-point type, got {dtype}")
    n_rows = indptr.shape[0] - 1
    fold = vocabulary is None and table is None
    if fold:
        keys, cols = np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.int64)
    else:
        if table is None:
            vocabulary = checks.int_array(vocabulary, "vocabulary", np.uint32)
            if vocabulary.shape[0] > length:
                raise ValueError(f"the vocabulary has {vocabulary.shape[0]} ids, more than length={length}")
        keys, cols = _check_table(table) if table is not None else lookup_table(vocabulary)
        # a column past ``length`` would be written out of bounds by the kernels
        if cols.size and int(cols.max()) >= length:
            raise ValueError(f"the vocabulary has {int(cols.max()) + 1} ids, more than length={length}")
    bits = ro(_presence_bits(keys))
    keys, cols = ro(keys), ro(cols)
    indptr, ids, counts = ro(indptr), ro(ids), ro(counts)
    t = parallel.threads(threads)
    blocks = balanced_blocks(indptr, t * 8)
    vmax = _max_value(dtype)
    if not sparse:
        kind = _dense_kind(dtype)
        if kind is None:  # a dtype the byte writer does not know (float16, big-endian): via int64
            return pool(
                indptr,
                ids,
                counts,
                length=length,
                vocabulary=vocabulary,
                table=table,
                use_counts=use_counts,
                dtype=np.int64,
                threads=threads,
            ).astype(dtype)
        out = np.zeros((n_rows, length), dtype=dtype)
        if n_rows:
            flat = out.view(np.uint8).reshape(n_rows, length * dtype.itemsize)
            parallel.run_blocks(
                _dense_rows,
                blocks,
                t,
                indptr,
                ids,
                counts,
                bits,
                keys,
                cols,
                fold,
                length,
                bool(use_counts),
                vmax,
                kind,
                flat,
            )
        return out
    import scipy.sparse as sp

    sizes = np.zeros(n_rows, dtype=np.int64)
    if n_rows:
        parallel.run_blocks(_sparse_sizes, blocks, t, indptr, ids, counts, bits, keys, cols, fold, length, sizes)
    nnz = int(sizes.sum())
    if index_dtype is None:
        idx_dtype = np.int32 if max(length, nnz) < 2**31 else np.int64
    else:
        idx_dtype = np.dtype(index_dtype)
        if idx_dtype not in (np.int32, np.int64) or (idx_dtype == np.int32 and max(length, nnz) >= 2**31):
            raise ValueError(f"index_dtype must be int32 (when the indices fit) or int64, got {index_dtype}")
    out_ptr = np.zeros(n_rows + 1, dtype=idx_dtype)
    np.cumsum(sizes, out=out_ptr[1:])
    out_idx = np.empty(nnz, dtype=idx_dtype)
    # count values are written as int64 (one compiled signature) and saturated at the dtype's maximum there;
    # binary values are all 1 and not written at all
    out_val = np.empty(nnz if use_counts else 0, dtype=np.int64)
    if n_rows:
        parallel.run_blocks(
            _sparse_fill,
            blocks,
            t,
            indptr,
            ids,
            counts,
            bits,
            keys,
            cols,
            fold,
            length,
            bool(use_counts),
            vmax,
            ro(out_ptr),
            out_idx,
            out_val,
        )
    # the arrays are well formed by construction: skip SciPy's O(nnz) format checks
    out = sp.csr_matrix((n_rows, length), dtype=dtype)
    data = out_val.astype(dtype, copy=False) if use_counts else np.ones(nnz, dtype=dtype)
    out.data, out.indices, out.indptr = data, out_idx, out_ptr
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def _dense_kind(dtype: np.dtype):
    """How :func:`_dense_rows` writes ``dtype`` (``None``: it cannot, byte for byte)."""
    if not dtype.isnative or sys.byteorder != "little":
        return None
    if dtype.kind in "biu":
        return _INT
    if dtype == np.float32:
        return _F32
    if dtype == np.float64:
        return _F64
    return None


# ---------------------------------------------------------------- supervised scores
def mutual_information(contingency: np.ndarray, n_per_class: np.ndarray) -> np.ndarray:
    """Plug-in MI (bits) between presence of each id and the class.

    ``contingency[i, c]`` = molecules of class ``c`` that contain id ``i``.
    """
    contingency, n_per_class = _check_contingency(contingency, n_per_class)
    present = contingency.astype(np.float64)
    n_c = n_per_class.astype(np.float64)[None, :]
    n = float(n_per_class.sum())
    absent = n_c - present
    mi = np.zeros(present.shape[0])
    px1 = present.sum(1) / n
    px0 = 1.0 - px1
    py = n_c / n
    for cell, px in ((present, px1), (absent, px0)):
        pxy = cell / n
        with np.errstate(divide="ignore", invalid="ignore"):
            term = pxy * np.log2(pxy / (px[:, None] * py))
        mi += np.where(pxy > 0, term, 0.0).sum(1)
    return np.maximum(mi, 0.0)


def chi2_yates_pvalues(contingency: np.ndarray, n_per_class: np.ndarray) -> np.ndarray:
    """P-values of the chi-squared test of presence vs class (Yates-corrected for 2x2).

    Same statistic as ``scipy.stats.chi2_contingency(table, correction=True)``; ids
    whose table has an empty margin (present in every or no molecule, or a single
    class) get p = 1.
    """
    # chi2.sf(x, dof) is scipy.special.chdtrc(dof, x); scipy.stats costs about 1 s to import, scipy.special 0.2 s
    from scipy.special import chdtrc

    contingency, n_per_class = _check_contingency(contingency, n_per_class)
    present = contingency.astype(np.float64)
    absent = n_per_class.astype(np.float64)[None, :] - present
    table = np.stack([present, absent], axis=1)  # (ids, 2, classes)
    n = table.sum(axis=(1, 2))
    row = table.sum(axis=2, keepdims=True)
    col = table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = row * col / n[:, None, None]
    dof = table.shape[2] - 1
    obs = table
    if dof == 1:
        diff = expected - obs
        obs = obs + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = ((obs - expected) ** 2 / expected).sum(axis=(1, 2))
    degenerate = (expected == 0).any(axis=(1, 2))
    # one class: no degrees of freedom, scipy's chi2_contingency reports p = 1 (chi2.sf(0, 0) is NaN)
    p = chdtrc(dof, stat) if dof > 0 else np.ones(stat.shape[0])
    p[degenerate] = 1.0
    return p


def _check_contingency(contingency, n_per_class):
    """Counts of molecules per (id, class), each at most the class's size."""
    contingency = checks.int_array(contingency, "contingency", np.int64, ndim=2, low=0)
    n_per_class = checks.int_array(n_per_class, "n_per_class", np.int64, low=0)
    if contingency.shape[1] != n_per_class.shape[0]:
        raise ValueError(
            f"contingency has {contingency.shape[1]} class columns but n_per_class has {n_per_class.shape[0]} classes"
        )
    if contingency.shape[0] and n_per_class.sum() == 0:
        raise ValueError("n_per_class must count at least one molecule")
    if (contingency > n_per_class[None, :]).any():
        raise ValueError("contingency counts cannot exceed the molecules of their class (n_per_class)")
    return contingency, n_per_class
