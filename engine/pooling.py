"""Stage 4b, pooling: rows of ids -> fixed-length vectors, by Sort & Slice lookup or hash folding (kernels).

Transforms look ids up in a small table built once per vocabulary (O(1) per id) and write only their own
output rows.
"""

from __future__ import annotations

import sys

import numpy as np

from . import checks, parallel
from ._jit import kernel, ro
from .csr import balanced_blocks
from .prevalence import EMPTY, slot
from .sorting import heap_sort


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
        s = slot(k, mask)
        while keys[s] != EMPTY and keys[s] != k:
            s = (s + np.uint64(1)) & mask
        if keys[s] == EMPTY:
            keys[s] = k
            cols[s] = j


@kernel
def _find(keys, cols, key):
    mask = np.uint64(keys.shape[0] - 1)
    k = np.uint64(key) + np.uint64(1)
    s = slot(k, mask)
    while True:
        if keys[s] == k:
            return cols[s]
        if keys[s] == EMPTY:
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
        if k != EMPTY:
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
