"""Featurisers, inputs: what every featuriser's entry points check and say about the molecules they get.

The one place that turns the containers users pass (lists, arrays, Series, DataFrames, iterators) into a flat
sequence, refuses mistaken arguments with scikit-learn's error types, and warns once per call about invalid
molecules.  The featurisers and their one-molecule scoring both use it (neither imports the other for it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..fingerprint import EcfpResult


class InvalidMoleculeWarning(UserWarning):
    """Some molecules of a call were invalid: their rows are all zeros (or they were left out of a fit).

    Said once per call, naming how many rows and the first reason; ``n_invalid``, ``n_rows``,
    ``first_row`` and ``first_reason`` hold the same as data.

    Attributes
    ----------
    n_invalid : int
        How many molecules of the call were invalid.
    n_rows : int
        How many molecules the call had.
    first_row : int
        The row (0-based) of the first invalid molecule.
    first_reason : str
        Why that molecule is invalid.
    consequence : str
        What became of the invalid molecules (e.g. ``"their rows are all zeros"``).
    """

    def __init__(self, n_invalid: int, n_rows: int, first_row: int, first_reason: str, consequence: str):
        super().__init__(
            f"{n_invalid:,} of {n_rows:,} molecules are invalid (first: row {first_row}, {first_reason}); "
            f"{consequence}. featurise() returns which rows are valid and why not; strict=True raises instead"
        )
        self.n_invalid, self.n_rows = n_invalid, n_rows
        self.first_row, self.first_reason, self.consequence = first_row, first_reason, consequence

    def __reduce__(self):
        return type(self), (self.n_invalid, self.n_rows, self.first_row, self.first_reason, self.consequence)


def _short(text, limit: int = 40) -> str:
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


def molecule_list(X):
    """SMILES/Mol containers, including a one-column 2-d array or DataFrame, as a flat sequence.

    Mistaken arguments fail here, before any work, with scikit-learn's error types: a bare
    string, a scalar, a mapping or set, an array of more than two dimensions.  An iterator
    (a generator, ``map``) is read once into a list.
    """
    if isinstance(X, EcfpResult):
        return X
    if isinstance(X, (str, bytes)):
        kind = "string" if isinstance(X, str) else "bytes"
        raise ValueError(
            f"expected a list of molecules, got a single {kind} {_short(X)}: wrap it in a list "
            f"([{_short(X)}]), or use transform_one for one molecule"
        )
    if type(X).__name__ == "Mol" and type(X).__module__.startswith("rdkit"):
        raise ValueError(
            "expected a list of molecules, got a single RDKit Mol: wrap it in a list, or use transform_one"
        )
    if isinstance(X, Mapping):
        raise TypeError(f"expected a list of molecules, got a {type(X).__name__}: pass a list of its keys or values")
    if isinstance(X, (set, frozenset)):
        raise TypeError(
            f"expected a list of molecules, got a {type(X).__name__} (it has no order, so rows could not be "
            "matched to molecules): pass a list"
        )
    if hasattr(X, "tocsr") or hasattr(X, "nnz"):
        raise TypeError(f"expected a list of molecules, got a sparse matrix ({type(X).__name__})")
    if hasattr(X, "to_numpy") and hasattr(X, "columns") and not hasattr(X, "to_list"):
        X = X.to_numpy()  # pandas/polars DataFrame
    if hasattr(X, "to_series") and hasattr(X, "columns"):
        if len(X.columns) != 1:
            raise ValueError(f"expected one column of molecules, got {len(X.columns)} columns")
        X = X.to_series()
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            raise ValueError(f"expected a list of molecules, got a 0-d array ({_short(X.item())}): wrap it in a list")
        if X.ndim > 2 or (X.ndim == 2 and X.shape[1] != 1):
            raise ValueError(f"expected one column of molecules, got an array of shape {X.shape}")
        if X.ndim == 2:
            X = X[:, 0]
        return X
    if hasattr(X, "__len__") and hasattr(X, "__getitem__"):
        return X  # a list, tuple, Series
    if hasattr(X, "__iter__"):
        return list(X)  # a generator or another iterator: read once
    raise TypeError(f"expected a list of molecules, got {type(X).__name__} (a list of SMILES strings or RDKit Mols)")


@dataclass(frozen=True)
class Rows:
    """The validity of a call's rows, as :func:`warn_invalid` reads it."""

    valid: np.ndarray
    errors: np.ndarray

    def __len__(self) -> int:
        return len(self.valid)


def warn_invalid(fp: EcfpResult | Rows, consequence: str) -> None:
    """One warning for a call's invalid rows: how many, the first reason, and where to go from here."""
    n_bad = int((~fp.valid).sum())
    if not n_bad:
        return
    i = int(np.flatnonzero(~fp.valid)[0])
    warnings.warn(InvalidMoleculeWarning(n_bad, len(fp), i, str(fp.errors[i]), consequence), stacklevel=3)


def check_is_fitted(f) -> None:
    if not any(k.endswith("_") and not k.startswith("__") for k in vars(f)):
        raise NotFittedError(f"this {type(f).__name__} is not fitted yet: call fit() or sortslice.load() first")


class NotFittedError(ValueError, AttributeError):
    """Raised when a featuriser is used before it is fitted (sklearn's NotFittedError shape)."""
