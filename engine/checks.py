"""Validation (every stage): the arrays handed to the engine's public functions are checked here, before
any compiled code sees them.

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
    down = np.less(ptr[1:], ptr[:-1])  # a byte per row, not an int64 difference
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
    starts = indptr[1:-1]  # non-decreasing (checked): a step onto a row's first id may go down
    scratch = np.empty(min(b - a, _ROWS_CHECK_BLOCK), dtype=np.bool_)
    for lo_step in range(a, b, _ROWS_CHECK_BLOCK):
        hi_step = min(b, lo_step + _ROWS_CHECK_BLOCK)
        step_ok = np.greater(ids[lo_step + 1 : hi_step + 1], ids[lo_step:hi_step], out=scratch[: hi_step - lo_step])
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
        raise ValueError(
            f"{name} must be strictly ascending within each row (unique, as ecfp returns them); row {row} is not"
        )


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


# ------------------------------------------------------------------ molecule graphs (Morgan inputs)
def graph_ptrs(atom_ptr, bond_ptr):
    atom_ptr = ptr_array(atom_ptr, "atom_ptr")
    bond_ptr = ptr_array(bond_ptr, "bond_ptr")
    if bond_ptr.shape != atom_ptr.shape:
        raise ValueError(
            f"atom_ptr and bond_ptr must both have n_molecules + 1 entries, got {atom_ptr.shape[0]} "
            f"and {bond_ptr.shape[0]}"
        )
    return atom_ptr, bond_ptr


def _length(a, name: str, n: int, what: str) -> None:
    if a.shape[0] != n:
        raise ValueError(f"{name} must have one entry per {what} ({n}), got {a.shape[0]}")


def morgan_batch(atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, radius):
    """The per-atom and per-bond arrays every Morgan entry point takes, converted for the kernels."""
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    atom_ptr, bond_ptr = graph_ptrs(atom_ptr, bond_ptr)
    n_atoms, n_bonds = int(atom_ptr[-1]), int(bond_ptr[-1])
    atom_inv = int_array(atom_inv, "atom_inv", np.uint32)
    _length(atom_inv, "atom_inv", n_atoms, "atom (atom_ptr[-1])")
    chiral = int_array(chiral, "chiral", np.uint8, high=3)
    _length(chiral, "chiral", n_atoms, "atom (atom_ptr[-1])")
    bond_inv = int_array(bond_inv, "bond_inv", np.int32)
    _length(bond_inv, "bond_inv", n_bonds, "bond (bond_ptr[-1])")
    return atom_ptr, atom_inv, chiral, bond_ptr, bond_inv, int(radius)


def bond_lists(atom_ptr, bond_ptr, bond_begin, bond_end):
    """Bond end points: molecule-local atom indices, in range, no self-loops."""
    n_bonds = int(bond_ptr[-1])
    bond_begin = int_array(bond_begin, "bond_begin", np.int32, low=0)
    bond_end = int_array(bond_end, "bond_end", np.int32, low=0)
    _length(bond_begin, "bond_begin", n_bonds, "bond (bond_ptr[-1])")
    _length(bond_end, "bond_end", n_bonds, "bond (bond_ptr[-1])")
    if n_bonds:
        sizes = np.repeat(np.diff(atom_ptr), np.diff(bond_ptr))
        bad = (bond_begin >= sizes) | (bond_end >= sizes)
        if bad.any():
            b = int(np.argmax(bad))
            raise ValueError(
                f"bond atom indices must be molecule-local and in range (bond {b}: "
                f"{int(bond_begin[b])}-{int(bond_end[b])} in a molecule of {int(sizes[b])} atoms)"
            )
        loops = bond_begin == bond_end
        if loops.any():
            raise ValueError(f"bond {int(np.argmax(loops))} is a self-loop")
    return bond_begin, bond_end


def neighbour_lists(atom_ptr, bond_ptr, nbr_ptr, nbr_atom, nbr_bond):
    """Neighbour lists as :func:`neighbours` builds them: each molecule's entries inside its own bond
    range, molecule-local indices, and every bond listed exactly twice, once from each end."""
    n_atoms, n_bonds = int(atom_ptr[-1]), int(bond_ptr[-1])
    nbr_ptr = ptr_array(nbr_ptr, "nbr_ptr", 2 * n_bonds, "neighbour entries (2 x bonds)")
    _length(nbr_ptr, "nbr_ptr", n_atoms + 1, "atom plus one")
    if not np.array_equal(nbr_ptr[atom_ptr], 2 * bond_ptr):
        raise ValueError(
            "nbr_ptr must give each molecule the neighbour entries of its own bonds (nbr_ptr[atom_ptr] == 2 * bond_ptr)"
        )
    nbr_atom = int_array(nbr_atom, "nbr_atom", np.int32, low=0)
    nbr_bond = int_array(nbr_bond, "nbr_bond", np.int32, low=0)
    _length(nbr_atom, "nbr_atom", 2 * n_bonds, "neighbour entry (2 x bonds)")
    _length(nbr_bond, "nbr_bond", 2 * n_bonds, "neighbour entry (2 x bonds)")
    if not n_bonds:
        return nbr_ptr, nbr_atom, nbr_bond
    per_mol_bonds = 2 * np.diff(bond_ptr)
    atoms_of = np.repeat(np.diff(atom_ptr), per_mol_bonds)
    if (nbr_atom >= atoms_of).any():
        e = int(np.argmax(nbr_atom >= atoms_of))
        raise ValueError(
            f"nbr_atom must hold molecule-local atom indices (entry {e} is {int(nbr_atom[e])} in a "
            f"molecule of {int(atoms_of[e])} atoms)"
        )
    bonds_of = np.repeat(np.diff(bond_ptr), per_mol_bonds)
    if (nbr_bond >= bonds_of).any():
        e = int(np.argmax(nbr_bond >= bonds_of))
        raise ValueError(
            f"nbr_bond must hold molecule-local bond indices (entry {e} is {int(nbr_bond[e])} in a "
            f"molecule of {int(bonds_of[e])} bonds)"
        )
    # bond b of a molecule is listed from both of its atoms: (u -> v) and (v -> u), u != v
    bond = nbr_bond + np.repeat(bond_ptr[:-1], per_mol_bonds)
    owner = np.arange(n_atoms, dtype=np.int64) - np.repeat(atom_ptr[:-1], np.diff(atom_ptr))
    owner = np.repeat(owner, np.diff(nbr_ptr))
    other = nbr_atom.astype(np.int64)
    sums = np.zeros((2, n_bonds), dtype=np.int64)
    np.add.at(sums[0], bond, owner - other)
    np.add.at(sums[1], bond, owner * owner - other * other)
    if (np.bincount(bond, minlength=n_bonds) != 2).any() or (owner == other).any() or sums.any():
        raise ValueError(
            "neighbour lists must list every bond exactly twice, once from each of its two "
            "(different) atoms, as neighbours() builds them"
        )
    return nbr_ptr, nbr_atom, nbr_bond
