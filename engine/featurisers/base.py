"""Featurisers, base: the scikit-learn protocol and what every featuriser shares (parameters, ids
in, pooling out).

Fitted, saveable featurisers (scikit-learn transformers) over unfolded ECFP ids.

* :class:`SortSlice` keeps the ``length`` most prevalent ids of the training set;
* :class:`HashFold` folds ids (``id % length``), exactly RDKit's folded fingerprints;
* :class:`MIM` keeps the ids with the highest mutual information with the labels;
* :class:`Filtering` keeps the ids that survive Gütlein & Kramer's filters.

All accept a list (or any iterable, array, Series) of SMILES and RDKit ``Mol`` objects,
a one-column 2-d array or DataFrame of them, or an :class:`~sortslice.EcfpResult`
computed with the same ECFP parameters; a bare string is refused (wrap it in a list, or
use ``transform_one``).  Output has exactly ``length`` columns; invalid molecules keep
their row, all zeros, and each call that meets any says so once with an
:class:`InvalidMoleculeWarning` (see :meth:`featurise` for the validity mask and
reasons, or ``strict=True``).

Parameters are checked when fitting, not when constructing (scikit-learn's rule), and
raise ``ValueError`` with one line.  Changing an ECFP parameter (``radius``,
``invariants``, ``chirality``, ``bond_types``, ``ring_membership``,
``redundant_environments``) of a fitted vocabulary featuriser (SortSlice, MIM,
Filtering) does not unfit it: its columns are ids of the fitted parameters, so
``transform``, ``partial_fit``, ``save`` and the like refuse with one line until the
parameter is set back or the featuriser is fitted again.  ``HashFold`` learns nothing
from data and uses new parameters at once.  Output parameters (``length`` for folding
or padding, ``counts``, ``dtype``, ``sparse``, ``n_jobs``, ``strict``) take effect at once.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass

import numpy as np

from ..fastpath import check_parser
from ..fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, checked_result, ecfp
from .inputs import NotFittedError, Rows, check_is_fitted, molecule_list, warn_invalid
from .scoring import Scoring
from .state import METHODS, FittedState

#: the featuriser parameters that are ECFP parameters (the ids a featuriser takes must have these)
ECFP_PARAMS = ("radius", "invariants", "chirality", "bond_types", "ring_membership", "redundant_environments")


@dataclass(frozen=True)
class Featurised:
    """A transform's output with the per-row validity the matrix alone cannot show.

    Attributes
    ----------
    X : numpy.ndarray or scipy.sparse.csr_matrix
        The fingerprint matrix ``(n_molecules, length)``: a dense ndarray, or SciPy CSR with
        ``sparse=True`` (never a DataFrame: ``set_output`` does not apply); invalid rows are all zeros.
    valid : numpy.ndarray
        One bool per row: False where the molecule could not be used.
    errors : numpy.ndarray
        One entry per row: why the molecule is invalid, ``None`` where it is valid.
    """

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


def _pandas_index(X):
    """The index of a pandas Series or DataFrame (what ``set_output(transform="pandas")`` keeps), else None."""
    if type(X).__module__.partition(".")[0] == "pandas" and hasattr(X, "index"):
        return X.index
    return None


def _check_bool(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")


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
        """``"default"`` (NumPy/SciPy), ``"pandas"`` or ``"polars"`` DataFrames named by feature.

        Unset (or ``None``), scikit-learn's global ``set_config(transform_output=...)`` decides, as for
        scikit-learn's own transformers; a pandas frame keeps the input's index.
        """
        if transform not in (None, "default", "pandas", "polars"):
            raise ValueError(f"transform must be 'default', 'pandas' or 'polars', got {transform!r}")
        if transform is not None:
            self._output = transform
        return self

    def _wrap_output(self, X, index=None):
        """``X`` as the container ``set_output`` asked for; a pandas frame keeps the input's ``index``."""
        kind = getattr(self, "_output", None)
        if kind is None:  # not set here: scikit-learn's global choice, if scikit-learn is in use
            sklearn = sys.modules.get("sklearn")
            kind = sklearn.get_config().get("transform_output", "default") if sklearn is not None else "default"
        if kind not in ("pandas", "polars"):
            return X
        dense = X.toarray() if hasattr(X, "toarray") else X
        names = [str(n) for n in self.get_feature_names_out()]
        if kind == "pandas":
            import pandas as pd

            return pd.DataFrame(dense, columns=names, index=index)
        import polars as pl

        return pl.DataFrame(dense, schema=names)


def _same_param(a, b) -> bool:
    try:
        return bool(a == b) and isinstance(a, (bool, np.bool_)) == isinstance(b, (bool, np.bool_))
    except Exception:
        return False


def _same_value(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return a is b


class Featuriser(Scoring, EstimatorBase):
    """Shared parameters and plumbing; subclasses decide how columns are chosen."""

    #: the method name of the saved format ("sort-slice", "hash-fold", "mim", "filter")
    method = ""

    @property
    def _score_name(self) -> str:
        return METHODS[self.method].score_name

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
        parser="auto",
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
        self.parser = parser

    # ------------------------------------------------------------------ helpers
    @property
    def ecfp_params(self) -> EcfpParams:
        return EcfpParams(**{k: getattr(self, k) for k in ECFP_PARAMS})

    def _check_length(self):
        if isinstance(self.length, bool) or not isinstance(self.length, (int, np.integer)) or self.length < 1:
            raise ValueError(f"length must be an integer >= 1, got {self.length!r}")

    def _check_params(self) -> None:
        """Every parameter, checked before a fit does any work (``ValueError``/``TypeError``, one line each)."""
        self._check_length()
        EcfpParams(self.radius, self.invariants)  # radius and invariants, with their messages
        for name in ("chirality", "bond_types", "ring_membership", "redundant_environments", "counts", "sparse"):
            _check_bool(name, getattr(self, name))
        _check_bool("strict", self.strict)
        check_parser(self.parser)
        self._out_dtype_checked()
        n = self.n_jobs
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))):
            raise TypeError(f"n_jobs must be an integer or None, got {type(n).__name__}")
        if n is not None and int(n) == 0:
            raise ValueError("n_jobs must not be 0 (None: the caller's Numba thread count; -1: every core)")

    def _out_dtype_checked(self) -> np.dtype:
        try:
            dtype = self._out_dtype()
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biuf":
            raise ValueError(f"dtype must be a boolean, integer or floating-point type, got {self.dtype!r}")
        return dtype

    def _check_y(self, y, n: int):
        """The labels as the fit uses them (unsupervised featurisers ignore ``y``, as scikit-learn's do)."""
        return y

    def _check_fitted_ecfp(self) -> None:
        """Refuse, in one line, to use a vocabulary with ECFP parameters other than those it was fitted with."""
        fitted = self.__dict__.get("_fitted_ecfp")
        if fitted is None:
            return
        diff = [k for k in ECFP_PARAMS if not _same_param(getattr(self, k), getattr(fitted, k))]
        if diff:
            raise ValueError(
                f"this {type(self).__name__} was fitted with "
                + ", ".join(f"{k}={getattr(fitted, k)!r}" for k in diff)
                + ", not "
                + ", ".join(f"{k}={getattr(self, k)!r}" for k in diff)
                + ": its columns are ids of the fitted parameters; set "
                + ("it" if len(diff) == 1 else "them")
                + " back or fit again"
            )

    def _out_dtype(self):
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.uint32 if self.counts else np.uint8)

    def _ids(self, X, provenance: bool = False) -> EcfpResult:
        X = molecule_list(X)
        params = self.ecfp_params
        if isinstance(X, EcfpResult):
            X = checked_result(X)
            if X.params != params:
                raise ValueError(params_mismatch(X.params, params))
            if self.strict and not X.valid.all():
                i = int(np.flatnonzero(~X.valid)[0])
                raise InvalidMoleculeError(f"row {i}: {X.errors[i]}")
            return X
        return ecfp(
            X, **params.to_dict(), n_jobs=self.n_jobs, strict=self.strict, provenance=provenance, parser=self.parser
        )

    def _pool(self, fp: EcfpResult):
        raise NotImplementedError

    # --------------------------------------------------------------- public API
    def featurise(self, X) -> Featurised:
        """Transform and also return which rows were valid (and why not)."""
        check_is_fitted(self)
        self._check_fitted_ecfp()
        fp = self._ids(X)
        return Featurised(self._pool(fp), fp.valid, fp.errors)

    def transform(self, X):
        """Fingerprint matrix ``(n_molecules, length)``: dense ndarray or SciPy CSR (``sparse=True``).

        Invalid molecules keep their row, all zeros; a call that meets any warns once
        (:class:`InvalidMoleculeWarning`, with how many and the first reason).
        """
        index = _pandas_index(X)
        out = self.featurise(X)
        if not out.valid.all():
            warn_invalid(Rows(out.valid, out.errors), "their rows are all zeros")
        return self._wrap_output(out.X, index)

    def fit_transform(self, X, y=None):
        """``fit(X, y)`` then ``transform(X)``, computing the ids of ``X`` once."""
        index = _pandas_index(X)
        self._check_params()
        X = molecule_list(X)
        y = self._check_y(y, len(X))
        fp = self._ids(X, provenance=self._fit_needs_atoms)
        self._fit(fp, X, y)
        zeros = "their rows are all zeros"
        warn_invalid(fp, zeros if self._fit_consequence is None else f"{self._fit_consequence} and {zeros}")
        return self._wrap_output(self._pool(fp), index)

    #: what a fit does with invalid molecules (the warning says it; None: the fit reads no molecules)
    _fit_consequence: str | None = "they were left out of the fit"

    def fit(self, X, y=None):
        """Fit on molecules (or an EcfpResult with matching parameters); parameters are checked first."""
        self._check_params()
        X = molecule_list(X)
        y = self._check_y(y, len(X))
        fp = self._ids(X, provenance=self._fit_needs_atoms)
        self._fit(fp, X, y)
        warn_invalid(fp, self._fit_consequence)
        return self

    def set_params(self, **params):
        self.__dict__.pop("_single_state", None)  # transform_one's constants depend on the parameters
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
        self._check_fitted_ecfp()
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
