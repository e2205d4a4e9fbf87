"""Sort & Slice: the ``length`` most prevalent training ids, with a mergeable prevalence state."""

from __future__ import annotations

import numpy as np

from .. import parallel
from ..prevalence import document_frequency, merge_prevalence, rank_by_prevalence
from .inputs import check_is_fitted, molecule_list, warn_invalid
from .vocabulary import Vocabulary


class SortSlice(Vocabulary):
    """Sort & Slice (Dablander et al. 2024): the ``length`` most prevalent training ids.

    Prevalence is document frequency (training molecules containing the id).  Ties
    are broken by larger id first (the reference featuriser's rule), or smaller id
    first with ``tie_break="smaller_id_first"``.

    ``min_df``/``max_df`` bound the prevalence of the ids that can be columns, with
    scikit-learn ``CountVectorizer``'s meaning: an int is a number of valid training
    molecules, a float in [0.0, 1.0] a fraction of them (``max_df=0.5``: no id found
    in more than half of the molecules).  They are applied to the prevalence counts
    before ranking, and always to the whole count: ``partial_fit``, :meth:`merge`,
    :meth:`from_prevalence` and Dask fits give exactly ``fit``'s vocabulary.  When
    fewer than ``length`` ids qualify, the vocabulary is shorter and the last columns
    are always zero (as for a training set with fewer distinct ids than ``length``).
    ``fit`` raises ``ValueError`` when ``max_df`` corresponds to fewer molecules than
    ``min_df``; a ``partial_fit`` state for which they conflict keeps no id (more
    batches may resolve it), and :meth:`document_frequency_range` raises then.

    Parameters
    ----------
    length : int, default 1024
        Columns of the output (an integer >= 1): the most prevalent ids kept.
    radius, invariants, chirality, bond_types, ring_membership, redundant_environments : see sortslice.ecfp
        The ECFP parameters, as in :func:`sortslice.ecfp` (defaults: ECFP4, i.e. radius 2, ``"ecfp"``
        invariants, bond types and ring membership on, chirality and redundant environments off).
    counts : bool, default False
        Each column holds its id's count (environments that produced it) instead of 0/1 presence.
    dtype : numpy dtype or None, default None
        Output dtype: any boolean, integer or floating-point type; ``None`` is uint8 for bits, uint32
        for counts.  Counts saturate at the dtype's maximum.
    sparse : bool, default False
        Return a SciPy CSR matrix from ``transform`` instead of a dense ndarray.
    tie_break : {"larger_id_first", "smaller_id_first"}, default "larger_id_first"
        Which of two equally prevalent ids ranks first.
    min_df, max_df : int or float, default 1 and 1.0
        Document-frequency bounds on the ids that can become columns: an int >= 1 is a number of
        valid training molecules, a float in [0.0, 1.0] a fraction of them (the defaults bound nothing).
    n_jobs : int or None, default None
        Parsing processes and kernel threads, as in :func:`sortslice.ecfp` (``None``: chosen by batch
        size; ``-1``: every core; 0 is refused).  Results never depend on it.
    strict : bool, default False
        Raise :class:`InvalidMoleculeError` at the first invalid molecule instead of leaving it out of
        a fit or giving it an all-zero row (with one warning per call).
    parser : {"auto", "rdkit"}, default "auto"
        How SMILES are parsed, as in :func:`sortslice.ecfp`: ``"auto"`` takes the certified fast path for the
        molecules it serves (identical results, many times faster), ``"rdkit"`` RDKit for every molecule.

    Examples
    --------
    >>> import sortslice
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> ss.prevalence_.tolist()      # CH3 (radius 0 and 1) and CH2 are in all three
    [3, 3, 3, 1]
    >>> ss.transform(["CCO", "CO"]).tolist()
    [[1, 1, 1, 1], [0, 1, 0, 0]]
    """

    method = "sort-slice"

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
        tie_break="larger_id_first",
        min_df=1,
        max_df=1.0,
        n_jobs=None,
        strict=False,
        parser="auto",
    ):
        super().__init__(
            length=length,
            radius=radius,
            invariants=invariants,
            chirality=chirality,
            bond_types=bond_types,
            ring_membership=ring_membership,
            redundant_environments=redundant_environments,
            counts=counts,
            dtype=dtype,
            sparse=sparse,
            n_jobs=n_jobs,
            strict=strict,
            parser=parser,
        )
        self.tie_break = tie_break
        self.min_df = min_df
        self.max_df = max_df

    def _fit(self, fp, X, y=None):
        """Count prevalence over ``X`` and keep the ``length`` most prevalent ids."""
        n = int(fp.valid.sum())
        self._df_mask(np.zeros(0, np.int64), n)  # max_df/min_df that conflict: raise before any change
        self._reset_counts()
        self._accumulate(fp, X)

    def _reset_counts(self):
        for attr in (
            "state_ids_",
            "state_prevalence_",
            "n_molecules_",
            "n_invalid_",
            "_examples",
            "saved_n_distinct_ids_",
            "_vocabulary_only",
        ):
            self.__dict__.pop(attr, None)

    def partial_fit(self, X, y=None):
        """Add a batch's prevalence to the running counts (streams larger-than-memory sets).

        Invalid molecules are left out of the counts; a call that meets any warns once
        (:class:`InvalidMoleculeWarning`).
        """
        self._check_params()
        self._check_fitted_ecfp()  # counts of other parameters' ids cannot be added to these
        X = molecule_list(X)
        fp = self._ids(X)
        self._accumulate(fp, X)
        warn_invalid(fp, "they were left out of the counts")
        return self

    def _check_params(self) -> None:
        super()._check_params()
        if self.tie_break not in ("larger_id_first", "smaller_id_first"):
            raise ValueError(f"tie_break must be 'larger_id_first' or 'smaller_id_first', got {self.tie_break!r}")

    def _accumulate(self, fp, X):
        if self.__dict__.get("_vocabulary_only"):
            # loaded from a file, which keeps only the vocabulary's prevalence: continuing from it would
            # silently lose every other id's count, so counting restarts (see persist.from_document)
            self._reset_counts()
        ids, prev = document_frequency(fp.indptr, fp.ids, rows_checked=True, threads=parallel.threads(self.n_jobs))
        if hasattr(self, "state_ids_"):
            ids, prev = merge_prevalence(self.state_ids_, self.state_prevalence_, ids, prev)
        self.state_ids_ = ids
        self.state_prevalence_ = prev.reshape(-1)
        self.n_molecules_ = getattr(self, "n_molecules_", 0) + int(fp.valid.sum())
        self.n_invalid_ = getattr(self, "n_invalid_", 0) + int((~fp.valid).sum())
        self._finalise()
        self._record_examples(fp, X)

    def _finalise(self, final: bool = False):
        ids, prevalence = self.state_ids_, self.state_prevalence_
        keep = self._df_mask(prevalence, int(self.n_molecules_), final)
        if keep is not None:
            ids, prevalence = ids[keep], prevalence[keep]
        order = rank_by_prevalence(ids, prevalence, int(self.length), self.tie_break)
        self._set_vocabulary(ids[order], prevalence[order], prevalence[order])

    @classmethod
    def from_prevalence(cls, ids, prevalence, n_molecules: int, n_invalid: int = 0, **params) -> SortSlice:
        """A featuriser fitted from a prevalence state counted elsewhere (e.g. merged from workers).

        ``ids`` (ascending, unique) and ``prevalence`` (molecules containing each id)
        are exactly what :attr:`state_ids_` / :attr:`state_prevalence_` hold after
        ``fit``; the result equals ``SortSlice(**params).fit(molecules)`` except for
        the example environments used by :meth:`explain`, which only molecules give.

        Examples
        --------
        >>> import numpy as np, sortslice
        >>> ss = sortslice.SortSlice.from_prevalence(np.array([5, 7, 9], dtype=np.uint32),
        ...                                          np.array([2, 3, 2]), n_molecules=3, length=2)
        >>> ss.vocabulary_.tolist(), ss.prevalence_.tolist()
        ([7, 9], [3, 2])
        """
        ids = np.asarray(ids)
        prevalence = np.asarray(prevalence).reshape(-1)
        if ids.ndim != 1 or ids.shape != prevalence.shape:
            raise ValueError(
                f"ids and prevalence must be 1-d of the same length, got {ids.shape} and {prevalence.shape}"
            )
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.uint32).max):
            raise ValueError("ids must be 32-bit unsigned ECFP identifiers")
        ids = ids.astype(np.uint32)
        if ids.size > 1 and not (ids[1:] > ids[:-1]).all():
            raise ValueError("ids must be strictly ascending (a merged prevalence state)")
        if prevalence.size and prevalence.min() < 0:
            raise ValueError("prevalence must be >= 0")
        if int(n_molecules) < 0 or int(n_invalid) < 0:
            raise ValueError("n_molecules and n_invalid must be >= 0")
        out = cls(**params)
        out._check_length()
        out.state_ids_ = ids
        out.state_prevalence_ = prevalence.astype(np.int64)
        out.n_molecules_ = int(n_molecules)
        out.n_invalid_ = int(n_invalid)
        out._finalise(final=True)
        return out

    def merge(self, other: SortSlice) -> SortSlice:
        """A new featuriser fitted on both training sets (for workers that fit parts of a data set)."""
        check_is_fitted(self)
        check_is_fitted(other)
        self._check_fitted_ecfp()
        other._check_fitted_ecfp()
        if self.get_params() != other.get_params():
            raise ValueError("cannot merge featurisers with different parameters")
        if self.__dict__.get("_vocabulary_only") or other.__dict__.get("_vocabulary_only"):
            raise ValueError(
                "cannot merge a SortSlice loaded from a file: the file keeps only the vocabulary's "
                "prevalence, not the counts of every training id"
            )
        out = SortSlice(**self.get_params())
        ids, prev = merge_prevalence(self.state_ids_, self.state_prevalence_, other.state_ids_, other.state_prevalence_)
        out.state_ids_, out.state_prevalence_ = ids, prev.reshape(-1)
        out.n_molecules_ = self.n_molecules_ + other.n_molecules_
        out.n_invalid_ = self.n_invalid_ + other.n_invalid_
        out._finalise(final=True)
        ex = dict(getattr(other, "_examples", {}))
        ex.update(getattr(self, "_examples", {}))
        out._examples = ex
        return out

    def _state_fields(self) -> dict:
        fields = super()._state_fields()
        if not self.__dict__.get("_vocabulary_only"):
            fields.update(prevalence_ids=self.state_ids_, prevalence_counts=self.state_prevalence_)
        return fields

    def _restore(self, state) -> None:
        super()._restore(state)
        self.scores_ = self.scores_.astype(np.int64)
        if state.prevalence_ids is not None:
            self.state_ids_ = np.asarray(state.prevalence_ids, dtype=np.uint32)
            self.state_prevalence_ = np.asarray(state.prevalence_counts, dtype=np.int64)
            return
        # a saved vocabulary is the whole state needed to transform; partial_fit restarts counting
        self.state_ids_ = np.sort(self.vocabulary_)
        self.state_prevalence_ = self.prevalence_[np.argsort(self.vocabulary_)]
        self.saved_n_distinct_ids_ = state.n_distinct_ids
        self._vocabulary_only = True

    @property
    def n_distinct_ids_(self) -> int:
        return int(self.__dict__.get("saved_n_distinct_ids_", self.state_ids_.shape[0]))
