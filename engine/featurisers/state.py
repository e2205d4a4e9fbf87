"""Featurisers, fitted state: one frozen record of plain data that a featuriser is built from and exposes.

``FittedState`` is what a saved model file holds (``engine/persist.py`` converts it to and from JSON);
``featuriser.fitted_state`` gives it and ``sortslice.engine.featurisers.from_state`` builds the featuriser
back. Frontends (Dask, Polars, the CLI) read and build featurisers through it, never through private
attributes.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ..fingerprint import EcfpParams
from ..fragments import Example


def check_df(value, name: str):
    """``min_df``/``max_df`` as scikit-learn's ``CountVectorizer`` accepts them: an int >= 1 (a number of
    training molecules) or a float in [0.0, 1.0] (a fraction of them); booleans are refused (scikit-learn
    would read True as 1)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        if int(value) >= 1:
            return int(value)
    elif isinstance(value, float):  # scikit-learn's RealNotInt: Python floats (and float64), not float32
        if 0.0 <= value <= 1.0:
            return float(value)
    raise ValueError(
        f"{name} must be an int >= 1 (a number of training molecules) or a float in [0.0, 1.0] "
        f"(a fraction of them), got {value!r}"
    )


def df_range(min_df, max_df, n_molecules: int) -> tuple[float, float] | None:
    """The document frequencies ``(low, high)`` a vocabulary id must lie in, over ``n_molecules`` valid
    training molecules, exactly as ``CountVectorizer`` computes them (``max_df * n`` for a float);
    None when ``high < low`` (no id can qualify: scikit-learn's ``ValueError`` at fit)."""
    lo = check_df(min_df, "min_df")
    hi = check_df(max_df, "max_df")
    low = lo if isinstance(lo, int) else lo * n_molecules
    high = hi if isinstance(hi, int) else hi * n_molecules
    return None if high < low else (low, high)


@dataclass(frozen=True)
class Method:
    """One pooling method as every layer names it."""

    #: the featuriser class's name in ``sortslice``
    cls: str
    #: what its ``scores_`` are (a model file's ``vocabulary.score_name``)
    score_name: str
    #: what it is, in a few words (``sortslice info``)
    words: str
    #: fitted from prevalence counts merged over partitions (Dask): the unsupervised methods
    partitioned: bool


#: the one table of methods, keyed by the name model files and ``--method`` use: the featurisers, model
#: files, the command line and Dask all read it
METHODS = {
    "sort-slice": Method("SortSlice", "prevalence", "Sort & Slice (the most prevalent training ids)", True),
    "hash-fold": Method("HashFold", "none", "hash folding (id modulo length)", True),
    "mim": Method("MIM", "mutual_information", "mutual-information maximisation", False),
    "filter": Method("Filtering", "p_value", "filtered circular fingerprints", False),
}


@dataclass(frozen=True, eq=False)
class FittedState:
    """Everything a fitted featuriser is.

    ``vocabulary`` (uint32), ``scores`` (float64) and ``prevalence`` (int64) have one entry per column, in
    column order (empty for hash folding); ``examples`` one :class:`Example` or None per column.
    ``prevalence_ids`` / ``prevalence_counts`` are Sort & Slice's whole running count (every training id,
    ascending) when the featuriser was fitted here; a state read from a file keeps only the vocabulary's.

    Attributes
    ----------
    method : {"sort-slice", "hash-fold", "mim", "filter"}
        Which featuriser this is (``ValueError`` for any other).
    ecfp : EcfpParams
        The ECFP parameters the vocabulary's ids were computed with.
    params : dict
        The other constructor parameters: ``length``, ``counts``, ``dtype`` (name or None), ``sparse``,
        and ``tie_break`` (Sort & Slice) or ``task`` (MIM, Filtering).
    vocabulary : numpy.ndarray, default empty
        The id of each column, in column order (uint32; empty for hash folding).
    scores : numpy.ndarray, default empty
        Each column's score (float64): prevalence, mutual information or p-value (see ``score_name``).
    prevalence : numpy.ndarray, default empty
        How many valid training molecules contain each column's id (int64).
    examples : tuple of Example or None, default ()
        One example environment (training SMILES, centre atom, radius) or None per column, or none at all.
    n_molecules, n_invalid : int, default 0
        Valid and invalid training molecules.
    n_distinct_ids : int, default 0
        Distinct ids seen in training (before ``min_df``/``max_df``).
    task : str or None, default None
        Supervised methods: ``"classification"`` or ``"regression"`` (as fitted), else None.
    median : float or None, default None
        Regression: the training median the labels were split at, else None.
    prevalence_ids, prevalence_counts : numpy.ndarray or None, default None
        Sort & Slice's whole running count (every training id, ascending, and its prevalence), or None.
    provenance : dict or None, default None
        Where the vocabulary was computed, as read from a model file (``{"versions": ..., "canaries":
        ...}``); None when fitted in this process.  Not compared by ``==``.
    """

    method: str
    ecfp: EcfpParams
    #: constructor parameters other than the ECFP ones: length, counts, dtype (name or None), sparse,
    #: and tie_break (Sort & Slice) or task (MIM, Filtering)
    params: dict
    vocabulary: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    prevalence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    examples: tuple[Example | None, ...] = ()
    n_molecules: int = 0
    n_invalid: int = 0
    n_distinct_ids: int = 0
    #: supervised methods: "classification" or "regression", and the regression label's split point
    task: str | None = None
    median: float | None = None
    prevalence_ids: np.ndarray | None = None
    prevalence_counts: np.ndarray | None = None
    #: where the vocabulary was computed, as read from a model file: ``{"versions": {...}, "canaries":
    #: {...}}``; None when fitted in this process (saving then records this environment's).  Saving a
    #: loaded model again keeps it, so the file still says which RDKit computed its ids.  Not compared by
    #: ``==`` (two states of one fit are equal wherever they were saved).
    provenance: dict | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; one of {sorted(METHODS)}")
        n = len(self.vocabulary)
        for name in ("scores", "prevalence"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one entry per vocabulary id ({n})")
        if self.examples and len(self.examples) != n:
            raise ValueError(f"examples must have one entry per vocabulary id ({n}) or none")

    @property
    def score_name(self) -> str:
        return METHODS[self.method].score_name

    def __eq__(self, other) -> bool:
        if not isinstance(other, FittedState):
            return NotImplemented
        arrays = ("vocabulary", "scores", "prevalence", "prevalence_ids", "prevalence_counts")
        plain = ("method", "ecfp", "params", "examples", "n_molecules", "n_invalid", "n_distinct_ids", "task", "median")
        return all(getattr(self, k) == getattr(other, k) for k in plain) and all(
            (getattr(self, k) is None) == (getattr(other, k) is None)
            and (getattr(self, k) is None or np.array_equal(getattr(self, k), getattr(other, k)))
            for k in arrays
        )
