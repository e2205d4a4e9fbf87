"""Property tests: the Numba Morgan kernel against the pure-Python reference.

Random molecular graphs (``strategies.py``) go through ``morgan_from_bonds`` in one CSR batch and,
molecule by molecule, through ``reference.morgan_reference``; ids and counts must be identical.
Further properties hold whatever the graph: ids sorted and unique per molecule, radius-0 counts sum
to the number of atoms, results independent of the order of molecules in the batch.

The engine is imported inside the tests (not at collection), so a missing or broken engine fails
these tests without stopping the rest of the suite from being collected.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import molecule_inputs_from_mol, morgan_reference
from strategies import batches, to_csr

SETTINGS = dict(
    derandomize=True,
    deadline=None,  # the first call compiles (or loads) the kernels
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def _engine():
    from sortslice.engine.morgan import morgan_from_bonds

    return morgan_from_bonds


def run_kernel(batch, radius, redundant_environments=False, read_only=False):
    """Kernel output split into one ``{id: count}`` per molecule, after checking the CSR shape."""
    csr = to_csr(batch)
    if read_only:
        for a in csr.values():
            a.setflags(write=False)
    indptr, ids, counts = _engine()(
        csr["atom_ptr"],
        csr["atom_inv"],
        csr["chiral_term"],
        csr["bond_ptr"],
        csr["bond_begin"],
        csr["bond_end"],
        csr["bond_inv"],
        radius,
        redundant_environments=redundant_environments,
    )
    assert indptr.dtype == np.int64 and ids.dtype == np.uint32 and counts.dtype == np.uint32
    assert indptr.shape == (len(batch) + 1,)
    assert indptr[0] == 0 and np.all(np.diff(indptr) >= 0)
    assert ids.shape == counts.shape == (indptr[-1],)
    out = []
    for m in range(len(batch)):
        lo, hi = int(indptr[m]), int(indptr[m + 1])
        mol_ids, mol_counts = ids[lo:hi], counts[lo:hi]
        assert np.all(np.diff(mol_ids.astype(np.int64)) > 0), "ids must be sorted ascending and unique"
        assert np.all(mol_counts > 0)
        out.append(dict(zip(mol_ids.tolist(), mol_counts.tolist())))
    return out


def reference_batch(batch, radius, redundant_environments=False):
    return [
        morgan_reference(n, inv, chiral, bonds, radius, redundant_environments=redundant_environments)
        for n, inv, chiral, bonds in batch
    ]


def _describe(mol):
    n, inv, chiral, bonds = mol
    return f"n_atoms={n}, atom_inv={inv}, chiral_term={chiral}, bonds={bonds}"


def assert_batch_equal(batch, got, expected, radius, redundant_environments):
    for m, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            pytest.fail(
                f"molecule {m} of {len(batch)}, radius={radius}, redundant={redundant_environments}: "
                f"{_describe(batch[m])}\nkernel-only/differing "
                f"{ {k: v for k, v in g.items() if e.get(k) != v} }\nreference-only/differing "
                f"{ {k: v for k, v in e.items() if g.get(k) != v} }"
            )


def _kernel_matches_reference(batch, radius, redundant):
    got = run_kernel(batch, radius, redundant_environments=redundant)
    expected = reference_batch(batch, radius, redundant_environments=redundant)
    assert_batch_equal(batch, got, expected, radius, redundant)


@settings(max_examples=120, **SETTINGS)
@given(batch=batches(), radius=st.integers(0, 4), redundant=st.booleans())
def test_kernel_matches_reference(batch, radius, redundant):
    _kernel_matches_reference(batch, radius, redundant)


@pytest.mark.slow
@settings(max_examples=600, **SETTINGS)
@given(batch=batches(), radius=st.integers(0, 4), redundant=st.booleans())
def test_kernel_matches_reference_more_examples(batch, radius, redundant):
    _kernel_matches_reference(batch, radius, redundant)


@settings(max_examples=60, **SETTINGS)
@given(batch=batches(allow_big=False))
def test_radius_zero_counts_sum_to_atoms(batch):
    for (n_atoms, inv, _, _), fp in zip(batch, run_kernel(batch, 0)):
        assert sum(fp.values()) == n_atoms
        assert set(fp) == set(inv)


@settings(max_examples=60, **SETTINGS)
@given(batch=batches(allow_big=False), radius=st.integers(1, 4))
def test_counts_bounded_and_monotone_in_radius(batch, radius):
    # Each atom emits at most one id per layer; layers below r are the same at radius r - 1 and r.
    # Without de-duplication every atom with a bond emits at every layer.
    smaller = run_kernel(batch, radius - 1)
    larger = run_kernel(batch, radius)
    redundant = run_kernel(batch, radius, redundant_environments=True)
    for (n_atoms, _, _, bonds), lo, hi, red in zip(batch, smaller, larger, redundant):
        assert all(hi.get(k, 0) >= v for k, v in lo.items())
        assert n_atoms <= sum(hi.values()) <= n_atoms * (radius + 1)
        bonded = len({a for i, j, _ in bonds for a in (i, j)})
        assert sum(red.values()) == n_atoms + radius * bonded


@settings(max_examples=40, **SETTINGS)
@given(batch=batches(min_size=2), radius=st.integers(0, 4), data=st.data())
def test_batch_order_does_not_matter(batch, radius, data):
    order = data.draw(st.permutations(range(len(batch))))
    together = run_kernel(batch, radius)
    permuted = run_kernel([batch[k] for k in order], radius)
    assert permuted == [together[k] for k in order]
    alone = [run_kernel([mol], radius)[0] for mol in batch]
    assert alone == together


@settings(max_examples=20, **SETTINGS)
@given(batch=batches(), radius=st.integers(0, 3))
def test_kernel_accepts_read_only_arrays(batch, radius):
    assert run_kernel(batch, radius, read_only=True) == run_kernel(batch, radius)


def test_empty_batch():
    assert run_kernel([], 2) == []
    assert run_kernel([(0, [], [], [])] * 3, 2) == [{}, {}, {}]


def test_kernel_on_real_chemistry_edge_cases():
    # The hand-made edge cases of test_reference.py (``helpers.EDGE_MOLS``: isotopes, dative bonds, stereo,
    # macrocycles, C60, explicit Hs...) as graphs, every option RDKit offers.
    from helpers import EDGE_MOLS, REFERENCE_CONFIGS

    for name, cfg in REFERENCE_CONFIGS.items():
        cfg = dict(cfg)
        redundant = cfg.pop("redundant_environments", False)
        batch = [molecule_inputs_from_mol(mol, **cfg) for _, mol in EDGE_MOLS]
        for radius in range(5):
            got = run_kernel(batch, radius, redundant_environments=redundant)
            expected = reference_batch(batch, radius, redundant_environments=redundant)
            assert_batch_equal(batch, got, expected, radius, f"{redundant} ({name})")
