"""The pooling stage (``engine/prevalence.py``, ``pooling.py``, ``scores.py``) against slow, independent references.

* prevalence (document frequency, also per class) and merging -> ``reference.prevalence_reference``;
* the Sort & Slice ranking, both tie rules -> ``reference.sort_slice_vocabulary_reference``;
* the transform, binary and counts, dense and sparse CSR -> ``reference.sort_slice_transform_reference``;
* hash folding -> ``reference.fold_reference``;
* mutual information -> ``reference.mutual_information_reference`` (from raw presence/label vectors);
* chi-squared p-values -> ``scipy.stats.chi2_contingency(correction=True)``, table by table.

Inputs are random CSR batches shaped like ``sortslice.ecfp`` output (ids unique within a row) drawn
from tiny id alphabets so that prevalence ties, repeated ids across rows and empty rows are the
norm; the edge cases of the issue (fewer distinct ids than L, all-empty batches, a single row,
L = 1) have their own tests.  The engine is imported inside helpers, not at collection.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from helpers import dense
from reference import (
    fold_reference,
    mutual_information_reference,
    prevalence_reference,
    sort_slice_transform_reference,
    sort_slice_vocabulary_reference,
)

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ids at both ends of the uint32 range and at radix-bucket edges (the counting kernel buckets by top byte)
EDGE_IDS = (0, 1, 2**24 - 1, 2**24, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1)


def P():
    """The pooling stage's three modules as one namespace: counting, pooling, scores."""
    from types import SimpleNamespace

    from sortslice.engine import pooling, prevalence, scores

    return SimpleNamespace(**{k: v for m in (prevalence, pooling, scores) for k, v in vars(m).items() if k[0] != "_"})


# ------------------------------------------------------------------------------------- data
def random_rows(rng, n_rows, alphabet_size=30, max_len=12, p_empty=0.15, edge_ids=True):
    """Rows of unique ids (as ``ecfp`` returns them) with per-id counts 1..5."""
    alphabet = rng.choice(2**32, size=alphabet_size, replace=False).astype(np.int64)
    if edge_ids:
        alphabet[: len(EDGE_IDS)] = EDGE_IDS
    alphabet = np.unique(alphabet)
    rows = []
    for _ in range(n_rows):
        if rng.random() < p_empty:
            rows.append(([], []))
            continue
        k = int(rng.integers(1, min(max_len, len(alphabet)) + 1))
        ids = sorted(int(i) for i in rng.choice(alphabet, size=k, replace=False))
        rows.append((ids, [int(c) for c in rng.integers(1, 6, size=k)]))
    return rows


def to_csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i, _ in rows])
    ids = np.array([i for r, _ in rows for i in r], dtype=np.uint32)
    counts = np.array([c for _, r in rows for c in r], dtype=np.uint32)
    return indptr, ids, counts


def as_dict(ids, counts):
    counts = np.asarray(counts)
    return dict(zip(np.asarray(ids).tolist(), (counts[:, 0] if counts.ndim == 2 else counts).tolist()))


@st.composite
def csr_batches(draw):
    """Hypothesis: a few rows over a tiny id alphabet (ties everywhere), sometimes empty rows."""
    alphabet = draw(
        st.lists(st.one_of(st.sampled_from(EDGE_IDS), st.integers(0, 2**32 - 1)), min_size=1, max_size=10, unique=True)
    )
    n_rows = draw(st.integers(0, 12))
    rows = []
    for _ in range(n_rows):
        ids = sorted(draw(st.lists(st.sampled_from(alphabet), unique=True, max_size=len(alphabet))))
        rows.append((ids, [draw(st.integers(1, 300)) for _ in ids]))
    return rows


# ------------------------------------------------------------------------------ prevalence
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threads", [1, 2])
def test_prevalence_matches_reference(seed, threads):
    rng = np.random.default_rng(seed)
    rows = random_rows(rng, int(rng.integers(1, 400)), alphabet_size=int(rng.integers(8, 300)))
    indptr, ids, counts = to_csr(rows)
    got_ids, got = P().document_frequency(indptr, ids, threads=threads)
    assert got_ids.dtype == np.uint32 and got.dtype == np.int64 and got.shape == (len(got_ids), 1)
    assert np.all(np.diff(got_ids.astype(np.int64)) > 0), "ids ascending and unique"
    assert as_dict(got_ids, got) == prevalence_reference([r for r, _ in rows])


def test_prevalence_many_distinct_ids_grow_the_tables():
    # ~60,000 distinct ids: each thread's table (4,096 slots to start) grows several times
    rng = np.random.default_rng(7)
    rows = random_rows(rng, 3000, alphabet_size=60000, max_len=40, edge_ids=False)
    indptr, ids, _ = to_csr(rows)
    got_ids, got = P().document_frequency(indptr, ids, threads=2)
    assert as_dict(got_ids, got) == prevalence_reference([r for r, _ in rows])


@pytest.mark.parametrize("n_classes", [1, 2, 3, 130])  # 130: the int64 class-buffer variant
def test_prevalence_per_class_matches_reference(n_classes):
    rng = np.random.default_rng(n_classes)
    rows = random_rows(rng, 500, alphabet_size=80)
    indptr, ids, _ = to_csr(rows)
    row_class = rng.integers(-1, n_classes, size=len(rows))  # -1: the row is skipped (invalid)
    got_ids, got = P().document_frequency(indptr, ids, row_class, n_classes, threads=2)
    assert got.shape == (len(got_ids), n_classes)
    expect_ids = sorted(prevalence_reference([r for (r, _), c in zip(rows, row_class) if c >= 0]))
    assert got_ids.tolist() == expect_ids
    for c in range(n_classes):
        ref = prevalence_reference([r for (r, _), k in zip(rows, row_class) if k == c])
        assert {i: int(v) for i, v in zip(got_ids.tolist(), got[:, c]) if v} == ref


@settings(**SETTINGS)
@given(csr_batches())
def test_prevalence_property(rows):
    indptr, ids, _ = to_csr(rows)
    got_ids, got = P().document_frequency(indptr, ids)
    assert as_dict(got_ids, got) == prevalence_reference([r for r, _ in rows])


def test_prevalence_empty_inputs():
    pooling = P()
    for rows in ([], [([], [])], [([], [])] * 5):
        indptr, ids, _ = to_csr(rows)
        got_ids, got = (
            pooling.document_frequency(indptr, ids, None, 3)
            if rows
            else pooling.document_frequency(indptr, ids, n_classes=3)
        )
        assert got_ids.shape == (0,) and got.shape == (0, 3)


def test_prevalence_rejects_bad_row_classes():
    indptr, ids, _ = to_csr([([1, 2], [1, 1]), ([2], [1])])
    with pytest.raises(ValueError, match="one entry per row"):
        P().document_frequency(indptr, ids, np.zeros(3, dtype=np.int64), 2)
    with pytest.raises(ValueError, match="n_classes"):  # would index past the count matrix
        P().document_frequency(indptr, ids, np.array([0, 2]), 2)


def test_prevalence_accepts_read_only_arrays():
    rows = random_rows(np.random.default_rng(3), 50)
    arrays = to_csr(rows)
    for a in arrays:
        a.setflags(write=False)
    got_ids, got = P().document_frequency(arrays[0], arrays[1])
    assert as_dict(got_ids, got) == prevalence_reference([r for r, _ in rows])


@pytest.mark.parametrize("seed", range(4))
def test_merge_prevalence_equals_counting_the_union(seed):
    rng = np.random.default_rng(seed)
    rows = random_rows(rng, 300, alphabet_size=120)
    cut = int(rng.integers(0, len(rows) + 1))
    pooling = P()
    a = pooling.document_frequency(*to_csr(rows[:cut])[:2])
    b = pooling.document_frequency(*to_csr(rows[cut:])[:2])
    ids, prev = pooling.merge_prevalence(a[0], a[1], b[0], b[1])
    assert as_dict(ids, prev) == prevalence_reference([r for r, _ in rows])
    # 1-d prevalence vectors (as SortSlice stores them) merge the same way
    ids1, prev1 = pooling.merge_prevalence(a[0], a[1].reshape(-1), b[0], b[1].reshape(-1))
    assert np.array_equal(ids1, ids) and np.array_equal(prev1.reshape(-1), prev.reshape(-1))


def test_merge_prevalence_with_an_empty_table():
    # regression: an empty table (a batch of invalid molecules) could not be reshaped and raised
    pooling = P()
    ids = np.array([3, 9], dtype=np.uint32)
    empty = np.zeros(0, dtype=np.uint32)
    for counts, empty_counts in (
        (np.array([2, 1]), np.zeros(0, dtype=np.int64)),
        (np.array([[2, 0], [1, 4]]), np.zeros((0, 2), dtype=np.int64)),
        (np.array([[2, 0], [1, 4]]), np.zeros(0, dtype=np.int64)),
    ):
        for a, b in (((ids, counts), (empty, empty_counts)), ((empty, empty_counts), (ids, counts))):
            got_ids, got = pooling.merge_prevalence(a[0], a[1], b[0], b[1])
            assert got_ids.tolist() == [3, 9]
            assert got.reshape(2, -1).tolist() == np.asarray(counts).reshape(2, -1).tolist()
    got_ids, got = pooling.merge_prevalence(empty, np.zeros(0), empty, np.zeros(0))
    assert got_ids.shape == (0,) and got.shape[0] == 0


# --------------------------------------------------------------------------------- ranking
@pytest.mark.parametrize("tie", ["larger_id_first", "smaller_id_first"])
@pytest.mark.parametrize("seed", range(5))
def test_ranking_matches_reference_with_ties(seed, tie):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    ids = rng.choice(2**32, size=n, replace=False).astype(np.uint32)
    ids[: min(n, 3)] = [0, 2**32 - 1, 2**31][: min(n, 3)]
    prevalence = rng.integers(1, 6, size=n)  # five prevalence values: ties at every cut-off
    prev_dict = dict(zip(ids.tolist(), prevalence.tolist()))
    for length in (1, 2, 17, n, n + 5):
        order = P().rank_by_prevalence(ids, prevalence, length, tie)
        assert ids[order].tolist() == sort_slice_vocabulary_reference(prev_dict, length, tie)


def test_ranking_tie_rules_differ_only_on_ties():
    ids = np.array([5, 9, 7, 1], dtype=np.uint32)
    prevalence = np.array([2, 2, 3, 2])
    pooling = P()
    assert ids[pooling.rank_by_prevalence(ids, prevalence, 4)].tolist() == [7, 9, 5, 1]  # default: larger id
    assert ids[pooling.rank_by_prevalence(ids, prevalence, 4, "smaller_id_first")].tolist() == [7, 1, 5, 9]
    assert ids[pooling.rank_by_prevalence(ids, prevalence, 2)].tolist() == [7, 9]
    with pytest.raises(ValueError, match="tie_break"):
        pooling.rank_by_prevalence(ids, prevalence, 2, "random")


# ------------------------------------------------------------------------------- transform
def check_csr(x, n_rows, length):
    """Canonical CSR: sorted, unique column indices per row, no explicit zeros."""
    assert sp.issparse(x) and x.format == "csr" and x.shape == (n_rows, length)
    for r in range(n_rows):
        cols = x.indices[x.indptr[r] : x.indptr[r + 1]]
        assert np.all(np.diff(cols) > 0), f"row {r}: column indices not sorted/unique"
    assert x.has_sorted_indices and x.has_canonical_format
    assert np.all(x.data != 0)


def vocabulary_of(rows, length, rng):
    """A vocabulary of up to ``length`` ids: most from the rows, some never seen (out of data)."""
    seen = sorted({i for r, _ in rows for i in r})
    k = min(length, len(seen))
    vocab = [int(i) for i in rng.choice(seen, size=k, replace=False)] if k else []
    unseen = [i for i in (11, 12, 13) if i not in seen]
    return (vocab + unseen)[:length]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("use_counts", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_sort_slice_transform_matches_reference(seed, use_counts, sparse):
    rng = np.random.default_rng(seed)
    rows = random_rows(rng, int(rng.integers(1, 300)), alphabet_size=int(rng.integers(5, 200)))
    for length in (1, 3, 64):
        vocab = vocabulary_of(rows, length, rng)
        expect = sort_slice_transform_reference(rows, vocab, length, counts=use_counts)
        dtype = np.uint32 if use_counts else np.uint8
        got = P().pool(
            *to_csr(rows),
            length=length,
            vocabulary=np.array(vocab, dtype=np.uint32),
            use_counts=use_counts,
            dtype=dtype,
            sparse=sparse,
            threads=2,
        )
        if sparse:
            check_csr(got, len(rows), length)
        assert got.dtype == dtype and got.shape == (len(rows), length)
        assert dense(got).tolist() == expect


@settings(**SETTINGS)
@given(csr_batches(), st.integers(1, 12), st.booleans(), st.booleans())
def test_sort_slice_transform_property(rows, length, use_counts, sparse):
    rng = np.random.default_rng(length)
    vocab = vocabulary_of(rows, length, rng)
    got = P().pool(
        *to_csr(rows),
        length=length,
        vocabulary=np.array(vocab, dtype=np.uint32),
        use_counts=use_counts,
        dtype=np.uint32,
        sparse=sparse,
    )
    assert dense(got).tolist() == sort_slice_transform_reference(rows, vocab, length, counts=use_counts)


def test_fewer_distinct_ids_than_length_pads_with_zero_columns():
    rows = [([4, 8], [1, 2]), ([8, 15], [3, 1]), ([], [])]
    pooling = P()
    ids, prev = pooling.document_frequency(*to_csr(rows)[:2])
    vocab = ids[pooling.rank_by_prevalence(ids, prev.reshape(-1), 1024)]
    assert vocab.tolist() == [8, 15, 4]
    for sparse in (False, True):
        out = dense(pooling.pool(*to_csr(rows), length=1024, vocabulary=vocab, sparse=sparse))
        assert out.shape == (3, 1024)
        assert out[:, :3].tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
        assert not out[:, 3:].any()


def test_transform_edge_batches():
    pooling = P()
    vocab = np.array([7, 3], dtype=np.uint32)
    for sparse in (False, True):
        for use_counts in (False, True):
            # no rows at all
            out = pooling.pool(*to_csr([]), length=4, vocabulary=vocab, use_counts=use_counts, sparse=sparse)
            assert out.shape == (0, 4)
            # only empty rows (e.g. a batch of invalid molecules) and an empty vocabulary
            out = pooling.pool(*to_csr([([], [])] * 3), length=4, vocabulary=vocab, sparse=sparse)
            assert dense(out).tolist() == [[0] * 4] * 3
            out = pooling.pool(
                *to_csr([([7], [2])]),
                length=4,
                vocabulary=np.zeros(0, dtype=np.uint32),
                use_counts=use_counts,
                sparse=sparse,
            )
            assert dense(out).tolist() == [[0] * 4]
            # L = 1
            rows = [([3, 7], [2, 5]), ([3], [4]), ([9], [1])]
            out = pooling.pool(*to_csr(rows), length=1, vocabulary=vocab[:1], use_counts=use_counts, sparse=sparse)
            assert dense(out).tolist() == ([[5], [0], [0]] if use_counts else [[1], [0], [0]])


def test_transform_table_path_equals_vocabulary_path_and_read_only_inputs():
    rng = np.random.default_rng(11)
    rows = random_rows(rng, 200, alphabet_size=50)
    arrays = to_csr(rows)
    for a in arrays:
        a.setflags(write=False)  # Arrow/Polars buffers arrive read-only
    vocab = np.array(vocabulary_of(rows, 20, rng), dtype=np.uint32)
    vocab.setflags(write=False)
    pooling = P()
    a = pooling.pool(*arrays, length=20, vocabulary=vocab, use_counts=True, dtype=np.uint16)
    b = pooling.pool(*arrays, length=20, table=pooling.lookup_table(vocab), use_counts=True, dtype=np.uint16)
    assert np.array_equal(a, b)
    assert a.tolist() == sort_slice_transform_reference(rows, vocab.tolist(), 20, counts=True)


def test_transform_rejects_vocabulary_longer_than_length():
    # regression: columns past ``length`` were written out of bounds (e.g. set_params(length=...) after fit)
    pooling = P()
    vocab = np.arange(10, dtype=np.uint32)
    for sparse in (False, True):
        with pytest.raises(ValueError, match="more than length=4"):
            pooling.pool(*to_csr([([9], [1])]), length=4, vocabulary=vocab, sparse=sparse)
        with pytest.raises(ValueError, match="more than length=4"):
            pooling.pool(*to_csr([([9], [1])]), length=4, table=pooling.lookup_table(vocab), sparse=sparse)
    with pytest.raises(ValueError, match="length must be >= 1"):
        pooling.pool(*to_csr([([9], [1])]), length=0)


@pytest.mark.parametrize("sparse", [False, True])
def test_counts_saturate_at_the_dtype_maximum(sparse):
    rows = [([5, 6], [200, 100]), ([5], [70000])]
    pooling = P()
    out = pooling.pool(*to_csr(rows), length=1, use_counts=True, dtype=np.uint8, sparse=sparse)
    assert dense(out).tolist() == [[255], [255]]  # 300 and 70000 fold into column 0
    out = pooling.pool(
        *to_csr(rows),
        length=2,
        vocabulary=np.array([6, 5], dtype=np.uint32),
        use_counts=True,
        dtype=np.uint16,
        sparse=sparse,
    )
    assert dense(out).tolist() == [[100, 200], [0, 65535]]


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint64, np.float32, np.float64, np.bool_])
def test_transform_output_dtypes(dtype):
    rows = random_rows(np.random.default_rng(5), 30)
    vocab = np.array(vocabulary_of(rows, 16, np.random.default_rng(6)), dtype=np.uint32)
    for sparse in (False, True):
        out = P().pool(*to_csr(rows), length=16, vocabulary=vocab, dtype=dtype, sparse=sparse)
        assert out.dtype == np.dtype(dtype)
        assert dense(out).astype(int).tolist() == sort_slice_transform_reference(rows, vocab.tolist(), 16)


def test_transform_does_not_depend_on_thread_count():
    rows = random_rows(np.random.default_rng(9), 1000, alphabet_size=400)
    arrays = to_csr(rows)
    pooling = P()
    vocab = np.array(vocabulary_of(rows, 128, np.random.default_rng(1)), dtype=np.uint32)
    outs = [pooling.pool(*arrays, length=128, vocabulary=vocab, use_counts=True, threads=t) for t in (1, 2)]
    assert np.array_equal(outs[0], outs[1])
    folded = [pooling.pool(*arrays, length=128, sparse=True, threads=t) for t in (1, 2)]
    assert (folded[0] != folded[1]).nnz == 0
    prev = [pooling.document_frequency(arrays[0], arrays[1], threads=t) for t in (1, 2)]
    assert all(np.array_equal(x, y) for x, y in zip(prev[0], prev[1]))


# --------------------------------------------------------------------------------- folding
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("use_counts", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_folding_matches_reference(seed, use_counts, sparse):
    rng = np.random.default_rng(100 + seed)
    rows = random_rows(rng, int(rng.integers(1, 300)), alphabet_size=int(rng.integers(5, 300)))
    for length in (1, 2, 7, 512, 1024, 2048):
        got = P().pool(*to_csr(rows), length=length, use_counts=use_counts, dtype=np.uint32, sparse=sparse)
        if sparse:
            check_csr(got, len(rows), length)
        expect = [fold_reference(ids, counts, length, counts=use_counts) for ids, counts in rows]
        assert dense(got).tolist() == expect


@settings(**SETTINGS)
@given(csr_batches(), st.integers(1, 40))
def test_folded_counts_sum_to_unfolded_counts(rows, length):
    indptr, ids, counts = to_csr(rows)
    got = P().pool(indptr, ids, counts, length=length, use_counts=True, dtype=np.uint64)
    assert got.sum(axis=1).tolist() == [sum(c) for _, c in rows]
    binary = P().pool(indptr, ids, counts, length=length)
    assert np.array_equal(binary, (got > 0).astype(np.uint8))


# ------------------------------------------------------------------------ supervised scores
def presence_and_labels(rng, n_rows, n_ids, n_classes):
    presence = rng.random((n_ids, n_rows)) < rng.random((n_ids, 1))
    presence[0] = True  # present everywhere
    presence[1] = False  # present nowhere
    y = rng.integers(0, n_classes, size=n_rows)
    y[:n_classes] = np.arange(n_classes)  # every class occurs
    contingency = np.stack([(presence & (y == c)).sum(1) for c in range(n_classes)], axis=1)
    return presence, y, contingency, np.bincount(y, minlength=n_classes)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_mutual_information_matches_reference(seed, n_classes):
    rng = np.random.default_rng(seed)
    presence, y, table, n_per_class = presence_and_labels(rng, int(rng.integers(n_classes, 200)), 60, n_classes)
    got = P().mutual_information(table, n_per_class)
    expect = [mutual_information_reference(p, y) for p in presence]
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-15)
    assert got[0] == 0 and got[1] == 0 and np.all(got >= 0)


def test_mutual_information_perfect_predictor_is_one_bit():
    table = np.array([[3, 0], [0, 3], [3, 3]])
    got = P().mutual_information(table, np.array([3, 3]))
    np.testing.assert_allclose(got, [1.0, 1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_chi2_pvalues_match_scipy(seed, n_classes):
    rng = np.random.default_rng(50 + seed)
    presence, y, table, n_per_class = presence_and_labels(rng, int(rng.integers(10, 120)), 80, n_classes)
    got = P().chi2_yates_pvalues(table, n_per_class)
    n_degenerate = 0
    for i in range(table.shape[0]):
        full = np.array([table[i], n_per_class - table[i]])
        try:
            _, p, _, _ = chi2_contingency(full, correction=True)
        except ValueError:
            # scipy refuses tables with an all-zero row (id present in every or no molecule);
            # our documented answer is p = 1 (no evidence of association)
            assert (full.sum(1) == 0).any()
            assert got[i] == 1.0
            n_degenerate += 1
            continue
        np.testing.assert_allclose(got[i], p, rtol=1e-10, atol=1e-300)
    assert n_degenerate >= 2  # ids 0 and 1 are present everywhere / nowhere


def test_chi2_yates_correction_is_applied_on_2x2_tables():
    table = np.array([[8, 2]])
    n_per_class = np.array([10, 10])
    full = np.array([[8, 2], [2, 8]])
    got = P().chi2_yates_pvalues(table, n_per_class)[0]
    assert got == pytest.approx(chi2_contingency(full, correction=True)[1], rel=1e-12)
    assert got != pytest.approx(chi2_contingency(full, correction=False)[1], rel=1e-3)


def test_chi2_single_class_gives_p_one_like_scipy():
    # regression: one class (a constant label, or every regression target at the median) has 0 degrees of
    # freedom; chi2.sf(0, 0) is NaN, scipy's chi2_contingency answers p = 1
    table = np.array([[2], [0], [5], [3]])
    n_per_class = np.array([5])
    got = P().chi2_yates_pvalues(table, n_per_class)
    assert got.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert chi2_contingency(np.array([[2], [3]]), correction=True)[1] == 1.0
    with pytest.raises(ValueError):  # the all-present / never-present tables: scipy refuses them
        chi2_contingency(np.array([[5], [0]]), correction=True)


def test_every_pooling_kernel_goes_through_the_jit_wrapper():
    import numba

    from sortslice.engine import _jit, pooling, prevalence

    modules = (pooling, prevalence)
    dispatchers = [v for m in modules for v in vars(m).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert dispatchers and all(any(d is k for k in _jit.KERNELS) for d in dispatchers)
    # cached on disk in sortslice's own folder (engine/_jit.py), never parallel=True
    assert all(isinstance(d._cache, _jit._KernelCache) for d in dispatchers), "every kernel cached"
    assert not any(d.targetoptions.get("parallel") for d in dispatchers)
