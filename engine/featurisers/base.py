"""Featurisers, base: the scikit-learn protocol and what every featuriser shares (parameters, ids
in, pooling out).

Fitted, saveable featurisers (scikit-learn transformers) over unfolded ECFP ids.

* :class:`SortSlice` keeps the ``length`` most prevalent ids of the training set;
* :class:`HashFold` folds ids (``id % length``), exactly RDKit's folded fingerprints;
* :class:`MIM` keeps the ids with the highest mutual information with the labels;
* :class:`Filtering` keeps the ids that survive Gütlein & Kramer's filters.

All accept SMILES, RDKit ``Mol`` objects (or a one-column 2-d array of them) or an
:class:`~sortslice.EcfpResult` computed with the same ECFP parameters.  Output has
exactly ``length`` columns; invalid molecules give all-zero rows (see
:meth:`featurise` for the validity mask and reasons, or ``strict=True``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from ..fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, checked_result, ecfp
from .scoring import Scoring
from .state import FittedState

#: the featuriser parameters that are ECFP parameters (the ids a featuriser takes must have these)
ECFP_PARAMS = ("radius", "invariants", "chirality", "bond_types", "ring_membership", "redundant_environments")


@dataclass(frozen=True)
class Featurised:
    """A transform's output with the per-row validity the matrix alone cannot show."""

    X: object
    valid: np.ndarray
    errors: np.ndarray


def params_mismatch(got: EcfpParams, expected: EcfpParams, user: str = "this featuriser") -> str:
    """One line saying how ids computed with ``got`` differ from what ``user`` expects."""
    diff = [k for k in ECFP_PARAMS if getattr(got, k) != getattr(expected, k)]
    return (
        "ids were computed with "
        + ", ".join(f"{k}={getattr(got, k)!r}" for k in diff)
        + f"; {user} uses "
        + ", ".join(f"{k}={getattr(expected, k)!r}" for k in diff)
    )


def _molecule_list(X):
    """SMILES/Mol containers, including a one-column 2-d array or DataFrame, as a flat list."""
    if isinstance(X, EcfpResult):
        return X
    if hasattr(X, "to_numpy") and hasattr(X, "columns") and not hasattr(X, "to_list"):
        X = X.to_numpy()  # pandas/polars DataFrame
    if hasattr(X, "to_series") and hasattr(X, "columns"):
        if len(X.columns) != 1:
            raise ValueError(f"expected one column of molecules, got {len(X.columns)} columns")
        X = X.to_series()
    if isinstance(X, np.ndarray) and X.ndim == 2:
        if X.shape[1] != 1:
            raise ValueError(f"expected one column of molecules, got an array of shape {X.shape}")
        X = X[:, 0]
    return X


def check_is_fitted(f) -> None:
    if not any(k.endswith("_") and not k.startswith("__") for k in vars(f)):
        raise NotFittedError(f"this {type(f).__name__} is not fitted yet: call fit() or sortslice.load() first")


class NotFittedError(ValueError, AttributeError):
    """Raised when a featuriser is used before it is fitted (sklearn's NotFittedError shape)."""


class EstimatorBase:
    """scikit-learn's estimator protocol without importing scikit-learn.

    scikit-learn takes ~0.8 s to import, which a scoring service would pay on every
    cold start just to load a vocabulary.  ``get_params``/``set_params``, ``clone``,
    ``Pipeline``, tags and ``set_output`` only need this protocol; scikit-learn is
    imported lazily by the methods that need its types.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params):
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [
            f"{k}={v!r}" for k, v in self.get_params().items() if not (k in defaults and _same_value(defaults[k], v))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=self._requires_y),
            # integer fingerprints whatever the input: no dtype is preserved
            transformer_tags=TransformerTags(preserves_dtype=[]),
            input_tags=InputTags(two_d_array=False, string=True),
        )

    _requires_y = False

    def set_output(self, *, transform=None):
        """``"default"`` (NumPy/SciPy), ``"pandas"`` or ``"polars"`` DataFrames named by feature."""
        if transform not in (None, "default", "pandas", "polars"):
            raise ValueError(f"transform must be 'default', 'pandas' or 'polars', got {transform!r}")
        if transform is not None:
            self._output = transform
        return self

    def _wrap_output(self, X):
        kind = getattr(self, "_output", "default")
        if kind == "default":
            return X
        dense = X.toarray() if hasattr(X, "toarray") else X
        names = [str(n) for n in self.get_feature_names_out()]
        if kind == "pandas":
            import pandas as pd

            return pd.DataFrame(dense, columns=names)
        import polars as pl

        return pl.DataFrame(dense, schema=names)


def _same_value(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return a is b


class _Featuriser(Scoring, EstimatorBase):
    """Shared parameters and plumbing; subclasses decide how columns are chosen."""

    #: the method name of the saved format ("sort-slice", "hash-fold", "mim", "filter")
    method = ""
    _score_name = ""
    #: fitting needs each environment's centre atom and radius (Filtering compares substructures)
    _fit_needs_atoms = False

    def __init__(
        self,
        *,
        length=1024,
        radius=2,
        invariants="ecfp",
        chirality=False,
        bond_types=True,
        ring_membership=True,
        redundant_environments=False,
        counts=False,
        dtype=None,
        sparse=False,
        n_jobs=None,
        strict=False,
    ):
        self.length = length
        self.radius = radius
        self.invariants = invariants
        self.chirality = chirality
        self.bond_types = bond_types
        self.ring_membership = ring_membership
        self.redundant_environments = redundant_environments
        self.counts = counts
        self.dtype = dtype
        self.sparse = sparse
        self.n_jobs = n_jobs
        self.strict = strict

    # ------------------------------------------------------------------ helpers
    @property
    def ecfp_params(self) -> EcfpParams:
        return EcfpParams(**{k: getattr(self, k) for k in ECFP_PARAMS})

    def _check_length(self):
        if isinstance(self.length, bool) or not isinstance(self.length, (int, np.integer)) or self.length < 1:
            raise ValueError(f"length must be an integer >= 1, got {self.length!r}")

    def _out_dtype(self):
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.uint32 if self.counts else np.uint8)

    def _ids(self, X, provenance: bool = False) -> EcfpResult:
        X = _molecule_list(X)
        params = self.ecfp_params
        if isinstance(X, EcfpResult):
            X = checked_result(X)
            if X.params != params:
                raise ValueError(params_mismatch(X.params, params))
            if self.strict and not X.valid.all():
                i = int(np.flatnonzero(~X.valid)[0])
                raise InvalidMoleculeError(f"row {i}: {X.errors[i]}")
            return X
        return ecfp(X, **params.to_dict(), n_jobs=self.n_jobs, strict=self.strict, provenance=provenance)

    def _pool(self, fp: EcfpResult):
        raise NotImplementedError

    # --------------------------------------------------------------- public API
    def featurise(self, X) -> Featurised:
        """Transform and also return which rows were valid (and why not)."""
        check_is_fitted(self)
        fp = self._ids(X)
        return Featurised(self._pool(fp), fp.valid, fp.errors)

    def transform(self, X):
        """Fingerprint matrix ``(n_molecules, length)``: dense ndarray or SciPy CSR (``sparse=True``)."""
        return self._wrap_output(self.featurise(X).X)

    def fit_transform(self, X, y=None):
        """``fit(X, y)`` then ``transform(X)``, computing the ids of ``X`` once."""
        self._check_length()
        fp = self._ids(X, provenance=self._fit_needs_atoms)
        self._fit(fp, X, y)
        return self._wrap_output(self._pool(fp))

    def fit(self, X, y=None):
        """Fit on molecules (or an EcfpResult with matching parameters)."""
        self._check_length()
        self._fit(self._ids(X, provenance=self._fit_needs_atoms), X, y)
        return self

    def set_params(self, **params):
        self.__dict__.pop("_single_state", None)
        self.__dict__.pop("_table", None)
        return super().set_params(**params)

    @property
    def _feature_prefix(self) -> str:
        return f"{self.invariants}{2 * self.radius}"

    @property
    def output_dtype(self) -> np.dtype:
        """The dtype of :meth:`transform`'s matrix (``dtype``, else UInt32 for counts, UInt8 for bits)."""
        return self._out_dtype()

    # ------------------------------------------------------------ fitted state
    def _state_params(self) -> dict:
        params = {
            "length": int(self.length),
            "counts": bool(self.counts),
            "dtype": None if self.dtype is None else np.dtype(self.dtype).name,
            "sparse": bool(self.sparse),
        }
        for extra in ("tie_break", "task"):
            if extra in self._param_names():
                params[extra] = getattr(self, extra)
        return params

    def _state_fields(self) -> dict:
        raise NotImplementedError

    @property
    def fitted_state(self) -> FittedState:
        """What this featuriser has learnt, as plain data (:class:`FittedState`; what :meth:`save` writes)."""
        try:
            check_is_fitted(self)
        except NotFittedError:
            raise NotFittedError(
                f"fit the featuriser before saving it (this {type(self).__name__} is not fitted yet)"
            ) from None
        return FittedState(
            self.method,
            self.ecfp_params,
            self._state_params(),
            n_molecules=int(getattr(self, "n_molecules_", 0)),
            n_invalid=int(getattr(self, "n_invalid_", 0)),
            **self._state_fields(),
        )

    def _restore(self, state: FittedState) -> None:
        """Take the fitted attributes from ``state`` (the parameters were given to the constructor)."""
        raise NotImplementedError

    def save(self, path) -> None:
        """Write the fitted featuriser as JSON (format: ``schemas/featuriser.schema.json``)."""
        from ..persist import save_state

        save_state(self.fitted_state, path)
