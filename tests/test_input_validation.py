"""Malformed arrays handed to the engine's public functions are refused before any compiled code runs.

Hypothesis builds valid inputs (random molecular graphs from ``strategies.py``, random CSR rows of
ids, real ECFP results), then breaks one thing: a dtype (float, bool, object, text), a shape (2-d,
one entry short or long), a CSR pointer (not from 0, decreasing, past the end), a value (negative,
past 32 bits, outside its molecule), neighbour lists that do not pair up, a hand-made ``EcfpResult``
that contradicts itself.  Every compiled kernel is replaced by a tripwire while the broken call runs,
so the call must raise ``TypeError``/``ValueError`` naming an argument, in Python, before anything
could read or write out of bounds.  The same inputs, unbroken, must give the same output however
they are spelled (lists, other integer dtypes, strided views, read-only, big-endian), so the checks
cannot simply refuse everything.  Hostile bytes through the pickle reader never crash either.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import sortslice
from sortslice.engine import graph as graph_mod
from sortslice.engine import molpickle, pooling, prevalence, scores
from sortslice.engine import morgan as morgan_mod
from sortslice.engine.fingerprint import EcfpResult

from strategies import batches, to_csr

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class KernelCalled(AssertionError):
    """A compiled kernel ran on input that should have been refused first.

    An AssertionError: ``pytest.raises((TypeError, ValueError))`` lets it through, so the test fails.
    """


@contextlib.contextmanager
def tripwires():
    """Replace every compiled kernel the public functions call with one that fails the test."""
    from numba.core.registry import CPUDispatcher

    saved = []
    for mod in (morgan_mod, pooling, graph_mod, molpickle):
        for name, obj in list(vars(mod).items()):
            if isinstance(obj, CPUDispatcher):
                saved.append((mod, name, obj))

                def wire(*args, _name=name, **kwargs):
                    raise KernelCalled(f"kernel {_name} ran on malformed input")

                setattr(mod, name, wire)
    assert len(saved) > 10, "the tripwires replaced (almost) no kernel: the modules changed"
    try:
        yield
    finally:
        for mod, name, obj in saved:
            setattr(mod, name, obj)


def assert_refused(call, names) -> str:
    """``call()`` raises TypeError/ValueError mentioning one of ``names``, with no kernel run."""
    with tripwires():
        with pytest.raises((TypeError, ValueError)) as info:
            call()
    message = str(info.value)
    assert any(n in message for n in names), message
    return message


# ------------------------------------------------------------------------- generic breakages
def _pick(draw, a: np.ndarray) -> int:
    return draw(st.integers(0, a.shape[0] - 1))


def break_array(draw, a: np.ndarray, *, ptr: bool, low: int | None, high: int | None):
    """One breakage of an integer array: returns the broken array (or None when none applies)."""
    kinds = ["2-d", "short", "long", "float", "bool", "object", "text"]
    if ptr:
        kinds += ["not from 0", "decreasing", "past the end"]
    if low is not None:
        kinds.append("too small")
    if high is not None:
        kinds.append("too large")
    kind = draw(st.sampled_from(kinds))
    if kind == "2-d":
        return a.reshape(1, -1)
    if kind == "long":  # a pointer one longer would only add an empty row: make it end past the values
        return np.append(a, (a[-1] + 1 if ptr else a[-1]) if a.size else 0)
    if a.size == 0:
        return None  # an empty array of any numeric dtype is fine
    if kind == "short":  # likewise a pointer one shorter must lose values, not an empty row
        return a[:-1] if not ptr or (a.size > 1 and a[-1] != a[-2]) else None
    if kind == "float":
        return a.astype(np.float64) + 0.5
    if kind == "bool":
        return a.astype(bool)
    if kind == "object":
        return a.astype(object)
    if kind == "text":
        return a.astype(str)
    if kind == "not from 0":
        return a + 1
    if kind == "decreasing":
        steps = np.flatnonzero(np.diff(a) > 0)
        if not steps.size:
            return None
        i = int(draw(st.sampled_from(steps.tolist())))
        b = a.copy()
        b[i], b[i + 1] = b[i + 1], b[i]
        return b
    if kind == "past the end":
        b = a.copy()
        b[-1] += 1
        return b
    b = a.astype(np.int64)
    b[_pick(draw, b)] = low - 1 if kind == "too small" else high + 1
    return b


# -------------------------------------------------------------------------------------- morgan
def graph_arrays(batch):
    """A batch as morgan()'s neighbour-list arrays."""
    csr = to_csr(batch)
    nbr_ptr, nbr_atom, nbr_bond = graph_mod.neighbours(
        csr["atom_ptr"], csr["bond_ptr"], csr["bond_begin"], csr["bond_end"]
    )
    return {
        "atom_ptr": csr["atom_ptr"],
        "atom_inv": csr["atom_inv"],
        "chiral": csr["chiral_term"],
        "nbr_ptr": nbr_ptr,
        "nbr_atom": nbr_atom,
        "nbr_bond": nbr_bond,
        "bond_ptr": csr["bond_ptr"],
        "bond_inv": csr["bond_inv"],
    }


#: per array: (is a CSR pointer, smallest allowed value, largest allowed value)
MORGAN_ARRAYS = {
    "atom_ptr": (True, 0, None),
    "bond_ptr": (True, 0, None),
    "nbr_ptr": (True, 0, None),
    "atom_inv": (False, 0, 2**32 - 1),
    "chiral": (False, 0, 3),
    "bond_inv": (False, -(2**31), 2**31 - 1),
    "nbr_atom": (False, 0, None),
    "nbr_bond": (False, 0, None),
}


def run_morgan(arrays, radius=2, **kw):
    return morgan_mod.morgan(**arrays, radius=radius, **kw)


@SETTINGS
@given(batches(max_size=4, allow_big=False), st.sampled_from(sorted(MORGAN_ARRAYS)), st.data())
def test_morgan_refuses_broken_arrays(batch, name, data):
    arrays = graph_arrays(batch)
    ptr, low, high = MORGAN_ARRAYS[name]
    broken = break_array(data.draw, arrays[name], ptr=ptr, low=low, high=high)
    assume(broken is not None)
    arrays[name] = broken
    assert_refused(lambda: run_morgan(arrays), list(MORGAN_ARRAYS) + ["radius"])


@SETTINGS
@given(batches(min_size=1, max_size=4, allow_big=False), st.data())
def test_morgan_refuses_neighbours_outside_their_molecule_or_unpaired(batch, data):
    arrays = graph_arrays(batch)
    nbr_atom, nbr_bond = arrays["nbr_atom"].copy(), arrays["nbr_bond"].copy()
    assume(nbr_atom.size)
    e = _pick(data.draw, nbr_atom)
    mol = int(np.searchsorted(arrays["bond_ptr"], e // 2, side="right")) - 1
    n = int(arrays["atom_ptr"][mol + 1] - arrays["atom_ptr"][mol])
    nb = int(arrays["bond_ptr"][mol + 1] - arrays["bond_ptr"][mol])
    kind = data.draw(st.sampled_from(["atom outside", "bond outside", "other atom", "other bond", "self"]))
    if kind == "atom outside":
        nbr_atom[e] = n  # in range of the batch, not of its molecule
    elif kind == "bond outside":
        nbr_bond[e] = nb
    elif kind == "other atom":
        others = [a for a in range(n) if a != nbr_atom[e]]
        nbr_atom[e] = data.draw(st.sampled_from(others))
    elif kind == "other bond":
        assume(nb > 1)
        nbr_bond[e] = data.draw(st.sampled_from([b for b in range(nb) if b != nbr_bond[e]]))
    else:  # a bond from an atom to itself
        owner = int(np.searchsorted(arrays["nbr_ptr"], e, side="right")) - 1 - int(arrays["atom_ptr"][mol])
        nbr_atom[e] = owner
    arrays["nbr_atom"], arrays["nbr_bond"] = nbr_atom, nbr_bond
    assert_refused(lambda: run_morgan(arrays), ["nbr_atom", "nbr_bond", "neighbour"])


@pytest.mark.parametrize("radius", [-1, 1.5, True, "2", None, np.float64(2)])
def test_morgan_refuses_bad_radius(radius):
    arrays = graph_arrays([(2, [1, 2], [0, 0], [(0, 1, 1)])])
    assert_refused(lambda: run_morgan(arrays, radius=radius), ["radius"])


def test_morgan_refuses_molecules_beyond_the_memory_limit():
    n = 30_000  # a chain: its bond sets at radius 40 would need ~6 GiB
    arrays = graph_arrays([(n, [1] * n, [0] * n, [(i, i + 1, 1) for i in range(n - 1)])])
    message = assert_refused(lambda: run_morgan(arrays, radius=40), ["MAX_BOND_SET_BYTES"])
    assert "molecule 0 (30000 atoms, 29999 bonds)" in message


def _spellings(arrays, draw):
    """The same arrays spelled differently: all must be accepted and give the same ids."""
    kind = draw(st.sampled_from(["list", "narrow", "wide", "strided", "read-only", "big-endian"]))
    out = {}
    for k, a in arrays.items():
        if kind == "list":
            out[k] = a.tolist()
        elif kind == "narrow":  # a smaller integer type the values fit
            out[k] = (
                a.astype(np.min_scalar_type(int(a.max())) if a.size else np.uint8)
                if a.min(initial=0) >= 0
                else a.astype(np.int32)
            )
        elif kind == "wide":
            out[k] = a.astype(np.int64) if a.dtype != np.uint64 else a
        elif kind == "strided":
            out[k] = np.repeat(a, 2)[::2]
        elif kind == "read-only":
            out[k] = a.copy()
            out[k].setflags(write=False)
        else:
            out[k] = a.astype(a.dtype.newbyteorder(">"))
    return out


@SETTINGS
@given(batches(max_size=4, allow_big=False), st.integers(0, 3), st.data())
def test_morgan_accepts_any_spelling_of_good_arrays(batch, radius, data):
    arrays = graph_arrays(batch)
    want = run_morgan(arrays, radius)
    got = run_morgan(_spellings(arrays, data.draw), radius)
    for a, b in zip(want, got):
        assert np.array_equal(a, b) and a.dtype == b.dtype
    csr = to_csr(batch)
    via_bonds = morgan_mod.morgan_from_bonds(
        csr["atom_ptr"],
        csr["atom_inv"],
        csr["chiral_term"],
        csr["bond_ptr"],
        csr["bond_begin"],
        csr["bond_end"],
        csr["bond_inv"],
        radius,
    )
    assert all(np.array_equal(a, b) for a, b in zip(want, via_bonds))


@SETTINGS
@given(batches(min_size=1, max_size=4, allow_big=False), st.sampled_from(["bond_begin", "bond_end"]), st.data())
def test_neighbours_and_morgan_from_bonds_refuse_broken_bond_lists(batch, name, data):
    csr = to_csr(batch)
    a = csr[name]
    kind = data.draw(st.sampled_from(["array", "outside", "self"]))
    if kind == "array":
        broken = break_array(data.draw, a, ptr=False, low=0, high=None)
    else:
        assume(a.size)
        b = _pick(data.draw, a)
        mol = int(np.searchsorted(csr["bond_ptr"], b, side="right")) - 1
        broken = a.copy()
        other = csr["bond_end" if name == "bond_begin" else "bond_begin"]
        broken[b] = (csr["atom_ptr"][mol + 1] - csr["atom_ptr"][mol]) if kind == "outside" else other[b]
    assume(broken is not None)
    csr[name] = broken
    names = ["bond_begin", "bond_end", "bond atom indices", "self-loop"]
    assert_refused(
        lambda: graph_mod.neighbours(csr["atom_ptr"], csr["bond_ptr"], csr["bond_begin"], csr["bond_end"]), names
    )
    assert_refused(
        lambda: morgan_mod.morgan_from_bonds(
            csr["atom_ptr"],
            csr["atom_inv"],
            csr["chiral_term"],
            csr["bond_ptr"],
            csr["bond_begin"],
            csr["bond_end"],
            csr["bond_inv"],
            2,
        ),
        names,
    )


# ---------------------------------------------------------------------------------- pooling
@st.composite
def rows(draw, min_rows: int = 0):
    """CSR rows of ascending unique ids with counts (as ecfp returns them)."""
    alphabet = draw(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=12, unique=True))
    out = []
    for _ in range(draw(st.integers(min_rows, 8))):
        ids = sorted(draw(st.lists(st.sampled_from(alphabet), unique=True, max_size=len(alphabet))))
        out.append((ids, [draw(st.integers(1, 9)) for _ in ids]))
    indptr = np.zeros(len(out) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i, _ in out])
    ids = np.array([i for r, _ in out for i in r], dtype=np.uint32)
    counts = np.array([c for _, r in out for c in r], dtype=np.uint32)
    return {"indptr": indptr, "ids": ids, "counts": counts}


CSR_ARRAYS = {"indptr": (True, 0, None), "ids": (False, 0, 2**32 - 1), "counts": (False, 0, 2**32 - 1)}


@SETTINGS
@given(rows(), st.sampled_from(sorted(CSR_ARRAYS)), st.booleans(), st.data())
def test_pool_refuses_broken_rows(arrays, name, sparse, data):
    ptr, low, high = CSR_ARRAYS[name]
    broken = break_array(data.draw, arrays[name], ptr=ptr, low=low, high=high)
    assume(broken is not None)
    arrays[name] = broken
    vocab = data.draw(st.sampled_from([None, np.array([5, 2**32 - 1], dtype=np.uint32)]))
    assert_refused(lambda: pooling.pool(**arrays, length=16, vocabulary=vocab, sparse=sparse), list(CSR_ARRAYS))


@SETTINGS
@given(rows(), st.sampled_from(["indptr", "ids"]), st.data())
def test_document_frequency_refuses_broken_rows(arrays, name, data):
    ptr, low, high = CSR_ARRAYS[name]
    broken = break_array(data.draw, arrays[name], ptr=ptr, low=low, high=high)
    assume(broken is not None)
    arrays[name] = broken
    assert_refused(lambda: prevalence.document_frequency(arrays["indptr"], arrays["ids"]), ["indptr", "ids"])


@SETTINGS
@given(rows(min_rows=1), st.data())
def test_document_frequency_refuses_rows_that_are_not_ascending_and_unique(arrays, data):
    sizes = np.diff(arrays["indptr"])
    assume((sizes > 0).any())
    r = data.draw(st.sampled_from(np.flatnonzero(sizes > 0).tolist()))
    s, e = int(arrays["indptr"][r]), int(arrays["indptr"][r + 1])
    ids = arrays["ids"].copy()
    if e - s > 1 and data.draw(st.booleans()):
        ids[s:e] = ids[s:e][::-1]  # descending
    else:  # an id repeated within its row
        ids = np.insert(ids, s, ids[s])
        arrays["indptr"] = arrays["indptr"] + (np.arange(arrays["indptr"].shape[0]) > r)
    message = assert_refused(lambda: prevalence.document_frequency(arrays["indptr"], ids), ["ids"])
    assert f"row {r}" in message


@pytest.mark.parametrize(
    "row_class, n_classes, name",
    [
        (np.array([0, -2]), 2, "row_class"),
        (np.array([0.0, 1.0]), 2, "row_class"),
        (np.array([0]), 2, "row_class"),
        (np.array([0, 2]), 2, "n_classes"),
        (np.array([0, 0]), -1, "n_classes"),
        (np.array([0, 0]), True, "n_classes"),
        (np.array([0, 0]), 1.5, "n_classes"),
        (np.array([[0, 0]]), 1, "row_class"),
    ],
)
def test_document_frequency_refuses_bad_classes(row_class, n_classes, name):
    indptr, ids = np.array([0, 2, 3]), np.array([1, 2, 2], dtype=np.uint32)
    assert_refused(lambda: prevalence.document_frequency(indptr, ids, row_class, n_classes), [name])


GOOD_ROWS = (np.array([0, 2, 3]), np.array([1, 7, 7], dtype=np.uint32), np.array([1, 2, 3], dtype=np.uint32))


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(length=0), "length"),
        (dict(length=-3), "length"),
        (dict(length=2.0), "length"),
        (dict(length=True), "length"),
        (dict(length=4, dtype=object), "dtype"),
        (dict(length=4, dtype="U3"), "dtype"),
        (dict(length=4, vocabulary=np.array([7, 7])), "vocabulary"),
        (dict(length=4, vocabulary=np.array([-1, 7])), "vocabulary"),
        (dict(length=4, vocabulary=np.array([[1, 7]])), "vocabulary"),
        (dict(length=4, vocabulary=[1.5]), "vocabulary"),
        (dict(length=1, vocabulary=np.array([1, 7])), "length"),
        (dict(length=4, table=(np.zeros(3, dtype=np.uint64), np.full(3, -1))), "table"),
        (dict(length=4, table=(np.ones(4, dtype=np.uint64), np.zeros(4, dtype=np.int64))), "table"),
        (dict(length=4, table=(np.zeros(4, dtype=np.uint64), np.full(8, -1))), "table"),
        (dict(length=4, table=(np.zeros(4, dtype=np.uint64), np.full(4, -2))), "table"),
        (dict(length=4, table=(np.zeros(4, dtype=np.uint64), np.full(4, 9))), "length"),
        (dict(length=4, table=np.zeros(4)), "table"),
        (dict(length=4, table=(np.zeros(4), np.full(4, -1))), "table"),
    ],
)
def test_pool_refuses_bad_parameters(kw, name):
    assert_refused(lambda: pooling.pool(*GOOD_ROWS, **kw), [name])
    assert_refused(lambda: pooling.pool(*GOOD_ROWS, sparse=True, **kw), [name])


@SETTINGS
@given(rows(), st.data())
def test_pool_and_document_frequency_accept_any_spelling_of_good_rows(arrays, data):
    vocab = np.unique(arrays["ids"])[:5]
    want = [
        pooling.pool(**arrays, length=8, use_counts=True),
        pooling.pool(**arrays, length=8, vocabulary=vocab, use_counts=True, dtype=np.uint16),
        prevalence.document_frequency(arrays["indptr"], arrays["ids"]),
    ]
    alt = _spellings(arrays, data.draw)
    got = [
        pooling.pool(**alt, length=8, use_counts=True),
        pooling.pool(**alt, length=8, vocabulary=vocab.tolist(), use_counts=True, dtype=np.uint16),
        prevalence.document_frequency(alt["indptr"], alt["ids"]),
    ]
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
    assert all(np.array_equal(a, b) for a, b in zip(want[2], got[2]))


@pytest.mark.parametrize(
    "args, name",
    [
        ((np.array([-1, 3]), np.array([1, 2]), [], []), "a_ids"),
        ((np.array([1.5]), np.array([1]), [], []), "a_ids"),
        ((np.array([1, 3]), np.array([1]), [], []), "a_counts"),
        ((np.array([1, 3]), np.array([1, -2]), [], []), "a_counts"),
        ((np.array([1, 3]), np.array([1.0, 2.0]), [], []), "a_counts"),
        ((np.array([1, 3]), np.ones((2, 2, 1), dtype=int), [], []), "a_counts"),
        ((np.array([1]), np.array([[1, 2]]), np.array([4]), np.array([[1, 2, 3]])), "columns"),
        (([], [], np.array([2**32]), np.array([1])), "b_ids"),
        (([], [], np.array([[2]]), np.array([1])), "b_ids"),
    ],
)
def test_merge_prevalence_refuses_bad_tables(args, name):
    assert_refused(lambda: prevalence.merge_prevalence(*args), [name])


@pytest.mark.parametrize(
    "args, name",
    [
        ((np.array([1, 2]), np.array([3]), 2), "prevalence"),
        ((np.array([1, 2]), np.array([3, -1]), 2), "prevalence"),
        ((np.array([-1, 2]), np.array([3, 1]), 2), "ids"),
        ((np.array([1, 2]), np.array([3, 1]), -1), "length"),
        ((np.array([1, 2]), np.array([3.5, 1]), 1), "prevalence"),
        ((np.array([1, 2]), np.array([3, 1]), 1.0), "length"),
    ],
)
def test_rank_by_prevalence_refuses_bad_input(args, name):
    assert_refused(lambda: prevalence.rank_by_prevalence(*args), [name])


@pytest.mark.parametrize("function", [scores.mutual_information, scores.chi2_yates_pvalues])
@pytest.mark.parametrize(
    "contingency, n_per_class, name",
    [
        (np.array([[1, 2]]), np.array([1, 1]), "contingency"),
        (np.array([[1, -1]]), np.array([3, 3]), "contingency"),
        (np.array([1, 2]), np.array([3, 3]), "contingency"),
        (np.array([[1, 2]]), np.array([3, 3, 3]), "n_per_class"),
        (np.array([[0, 0]]), np.array([0, 0]), "n_per_class"),
        (np.array([[0.5, 1]]), np.array([3, 3]), "contingency"),
        (np.array([[1, 1]]), np.array([3.0, 3.0]), "n_per_class"),
    ],
)
def test_supervised_scores_refuse_impossible_counts(function, contingency, n_per_class, name):
    assert_refused(lambda: function(contingency, n_per_class), [name])


# ------------------------------------------------------------------------------ featurisers
@functools.cache
def _real_result():
    from datasets import paper_smiles

    return sortslice.ecfp(paper_smiles("ames")[:60] + ["C1CC", None, "CCO"])


def _featurisers():
    train = _real_result()
    y = np.arange(len(train)) % 2
    return [
        sortslice.SortSlice(length=32).fit(train),
        sortslice.HashFold(length=32).fit(),
        sortslice.MIM(length=16).fit(train, y),
    ]


@SETTINGS
@given(
    st.sampled_from(["indptr", "ids", "counts", "valid", "errors", "invalid row with ids", "unsorted row", "params"]),
    st.integers(0, 2),
    st.data(),
)
def test_featurisers_refuse_a_malformed_ecfp_result(what, which, data):
    fp = _real_result()
    parts = dict(indptr=fp.indptr, ids=fp.ids, counts=fp.counts, valid=fp.valid, errors=fp.errors, params=fp.params)
    if what in CSR_ARRAYS:
        ptr, low, high = CSR_ARRAYS[what]
        broken = break_array(data.draw, parts[what], ptr=ptr, low=low, high=high)
        assume(broken is not None)
        parts[what] = broken
    elif what == "valid":
        parts["valid"] = data.draw(
            st.sampled_from([fp.valid.astype(np.int8), fp.valid[:-1], fp.valid.tolist(), np.append(fp.valid, True)])
        )
        assume(not isinstance(parts["valid"], list))
    elif what == "errors":
        parts["errors"] = fp.errors[:-1]
    elif what == "invalid row with ids":
        valid = fp.valid.copy()
        valid[data.draw(st.sampled_from(np.flatnonzero(np.diff(fp.indptr) > 0).tolist()))] = False
        parts["valid"] = valid
    elif what == "unsorted row":
        ids = fp.ids.copy()
        r = data.draw(st.sampled_from(np.flatnonzero(np.diff(fp.indptr) > 1).tolist()))
        ids[fp.indptr[r] : fp.indptr[r + 1]] = ids[fp.indptr[r] : fp.indptr[r + 1]][::-1]
        parts["ids"] = ids
    else:
        parts["params"] = fp.params.to_dict()
    bad = EcfpResult(**parts)
    f = _featurisers()[which]
    names = ["indptr", "ids", "counts", "valid", "errors", "invalid rows", "params"]
    assert_refused(lambda: f.transform(bad), names)
    assert_refused(lambda: f.featurise(bad), names)
    if not isinstance(f, sortslice.HashFold):
        fresh = type(f)(**f.get_params())
        assert_refused(lambda: fresh.fit(bad, np.arange(len(fp)) % 2), names)
    if isinstance(f, sortslice.SortSlice):
        assert_refused(lambda: type(f)(**f.get_params()).partial_fit(bad), names)


def test_featurisers_accept_a_hand_made_ecfp_result():
    fp = _real_result()
    by_hand = EcfpResult(
        fp.indptr.tolist(),
        fp.ids.astype(np.int64),
        fp.counts.astype(np.uint64),
        fp.valid.copy(),
        fp.errors.tolist(),
        fp.params,
    )
    for f in _featurisers():
        assert np.array_equal(f.transform(by_hand), f.transform(fp))


# ------------------------------------------------------------------------------ pickle reader
@functools.cache
def _pickles():
    from rdkit import Chem

    from datasets import paper_smiles

    mols = [Chem.MolFromSmiles(s) for s in paper_smiles("lipophilicity")[:40]]
    mols += [Chem.MolFromSmiles(s) for s in ("[2H]C([2H])([2H])Cl", "N->[Pt+2]<-N", "C" * 300, "[Fe]", "*C")]
    return [m.ToBinary() for m in mols if m is not None]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.sampled_from(["flip", "cut", "insert", "zero", "ff", "swap", "keep"]),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=8,
    ),
    st.data(),
)
def test_pickle_reader_never_crashes_on_hostile_bytes(edits, data):
    blobs = list(_pickles())
    picked = data.draw(st.lists(st.integers(0, len(blobs) - 1), min_size=1, max_size=5))
    chosen = []
    for k, (pos, kind, byte) in zip(picked, edits):
        b = bytearray(blobs[k])
        p = pos % max(1, len(b))
        if kind == "flip":
            b[p] ^= 1 << (byte % 8)
        elif kind == "cut":
            del b[p:]
        elif kind == "insert":
            b[p:p] = bytes([byte])
        elif kind == "zero":
            b[p : p + 4] = bytes(4)
        elif kind == "ff":
            b[p : p + 4] = b"\xff\xff\xff\x7f"
        elif kind == "swap" and len(b) > 1:
            q = byte % len(b)
            b[p], b[q] = b[q], b[p]
        chosen.append(bytes(b))
    offsets = np.zeros(len(chosen) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in chosen])
    graph, status = graph_mod.graph_from_pickles(b"".join(chosen), offsets)
    assert set(status.tolist()) <= {
        molpickle.OK,
        molpickle.BAD_HEADER,
        molpickle.TRUNCATED,
        molpickle.UNSUPPORTED,
        molpickle.NO_RINGS,
    }
    assert graph.n_molecules == len(chosen)
    # whatever the reader accepted is a well-formed graph the public kernel takes
    assert not np.diff(graph.atom_ptr)[status != molpickle.OK].any()
    morgan_mod.morgan(
        graph.atom_ptr,
        graph.atom_invariants(),
        np.zeros(graph.atom_ptr[-1], dtype=np.uint8),
        graph.nbr_ptr,
        graph.nbr_atom,
        graph.nbr_bond,
        graph.bond_ptr,
        graph.bond_invariants(),
        2,
    )


@pytest.mark.parametrize(
    "buf, offsets, name",
    [
        (b"\x00" * 40, np.array([0, 41]), "offsets"),
        (b"\x00" * 40, np.array([0, 30, 20]), "offsets"),
        (b"\x00" * 40, np.array([5, 30]), "offsets"),
        (b"\x00" * 40, np.array([0.0, 30.0]), "offsets"),
        (b"\x00" * 40, np.array([[0, 30]]), "offsets"),
        (np.zeros(40), np.array([0, 30]), "buf"),
        (np.zeros((2, 20), dtype=np.uint8), np.array([0, 30]), "buf"),
        ([0] * 40, np.array([0, 30]), "buf"),
    ],
)
def test_pickle_reader_refuses_offsets_outside_the_buffer(buf, offsets, name):
    assert_refused(lambda: graph_mod.graph_from_pickles(buf, offsets), [name])
