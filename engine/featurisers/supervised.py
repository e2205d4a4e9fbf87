"""Supervised vocabularies: MIM (mutual information) and Filtering (Gütlein & Kramer's filters)."""

from __future__ import annotations

import numpy as np

from .. import parallel
from ..csr import row_of
from ..fingerprint import EcfpResult
from ..fragments import environment_fragment, is_strict_subgraph
from ..prevalence import document_frequency
from ..scores import chi2_yates_pvalues, mutual_information
from .inputs import molecule_list
from .vocabulary import Vocabulary


def _continuous(y: np.ndarray) -> bool:
    """scikit-learn's ``type_of_target(y) == "continuous"`` for a 1-D array, without importing scikit-learn.

    (That import costs about 2 s, which a scoring service's ``warmup()`` and the first MIM fit paid.)
    The same rule: real floats with a value that is not an integer; non-finite values are then an error.
    ``tests/test_featurisers.py`` checks it against ``type_of_target``.
    """
    if y.dtype.kind != "f":
        return False
    with np.errstate(invalid="ignore"):
        integral = y.astype(np.int64).astype(y.dtype)
    if not np.any(y != integral):
        return False
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity: the labels must be finite numbers")
    return True


def _classes(y, task: str):
    """Class index per row: labels for classification, ``y >= median`` for regression."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    if task == "auto":
        task = "regression" if _continuous(y) else "classification"
    if task == "regression":
        yf = y.astype(np.float64)
        median = float(np.median(yf))
        # two quantile bins split at the training median (values equal to it go up)
        return (yf >= median).astype(np.int64), 2, task, median
    if task != "classification":
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    classes, idx = np.unique(y, return_inverse=True)
    return idx.astype(np.int64), len(classes), task, None


def _supports(fp: EcfpResult, ids: np.ndarray):
    """For each id in ``ids`` (ascending), the sorted rows that contain it (CSR)."""
    rows = row_of(fp.indptr)
    order = np.lexsort((rows, fp.ids))
    sorted_ids = fp.ids[order]
    ptr = np.searchsorted(sorted_ids, ids, side="left")
    end = np.searchsorted(sorted_ids, ids, side="right")
    return ptr, end, rows[order]


def _same_support_groups(fp: EcfpResult, ids: np.ndarray) -> list[np.ndarray]:
    """Groups (index arrays into ``ids``, size >= 2) of ids contained in exactly the same molecules."""
    start, end, rows = _supports(fp, ids)
    # order-independent signatures of each support, then an exact check within equal signatures
    mixed1 = (rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(0xD6E8FEB86659FD93)
    mixed2 = (rows.astype(np.uint64) + np.uint64(0x632BE59BD9B4E019)) * np.uint64(0xBF58476D1CE4E5B9)
    cs1 = np.concatenate([[np.uint64(0)], np.cumsum(mixed1, dtype=np.uint64)])
    cs2 = np.concatenate([[np.uint64(0)], np.cumsum(mixed2, dtype=np.uint64)])
    sig1 = cs1[end] - cs1[start]
    sig2 = cs2[end] - cs2[start]
    size = end - start
    order = np.lexsort((sig2, sig1, size))
    groups = []
    i = 0
    n = len(ids)
    while i < n:
        j = i + 1
        a = order[i]
        while j < n and size[order[j]] == size[a] and sig1[order[j]] == sig1[a] and sig2[order[j]] == sig2[a]:
            j += 1
        if j - i >= 2:
            members = order[i:j]
            # exact: split by the actual row sets (signature collisions are possible in theory)
            buckets: dict[bytes, list[int]] = {}
            for m in members:
                buckets.setdefault(rows[start[m] : end[m]].tobytes(), []).append(int(m))
            groups += [np.asarray(sorted(g)) for g in buckets.values() if len(g) >= 2]
        i = j
    return groups


class _Supervised(Vocabulary):
    _requires_y = True

    def _state_fields(self) -> dict:
        return {**super()._state_fields(), "task": self.task_, "median": self.median_}

    def _restore(self, state) -> None:
        super()._restore(state)
        self.task_, self.median_, self.n_distinct_ids_ = state.task, state.median, state.n_distinct_ids

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
        task="auto",
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
        self.task = task
        self.min_df = min_df
        self.max_df = max_df

    def _check_params(self) -> None:
        super()._check_params()
        if self.task not in ("auto", "classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {self.task!r}")

    def _check_y(self, y, n: int):
        """``y`` as a 1-d array of one label per molecule, checked before any molecule is parsed."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None (it is supervised: fit(X, y))"
            )
        if np.isscalar(y) or not any(hasattr(y, a) for a in ("__len__", "__iter__", "__array__")):
            raise ValueError(f"y must be a list or array of labels, one per molecule, got a {type(y).__name__}")
        if not hasattr(y, "__len__") and not hasattr(y, "__array__"):
            y = list(y)  # an iterator: read once
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} labels for {n} molecules")
        return y

    def _labelled_counts(self, fp, y):
        y = np.asarray(y)
        if y.shape[0] != len(fp):
            raise ValueError(f"y has {y.shape[0]} labels for {len(fp)} molecules")
        cls, n_classes, task, median = _classes(y[fp.valid], self.task)
        row_class = np.full(len(fp), -1, dtype=np.int64)
        row_class[fp.valid] = cls
        ids, per_class = document_frequency(
            fp.indptr, fp.ids, row_class, n_classes, rows_checked=True, threads=parallel.threads(self.n_jobs)
        )
        n_per_class = np.bincount(cls, minlength=n_classes)
        n_distinct = int(len(ids))
        # min_df/max_df: only ids within the document-frequency bounds are candidates for any later step
        # (checked before any fitted attribute changes: conflicting bounds raise here)
        keep = self._df_mask(per_class.sum(1), int(fp.valid.sum()))
        if keep is not None:
            ids, per_class = ids[keep], per_class[keep]
        self.task_ = task
        self.median_ = median
        self.n_molecules_ = int(fp.valid.sum())
        self.n_invalid_ = int((~fp.valid).sum())
        self.n_distinct_ids_ = n_distinct
        return ids, per_class, n_per_class


class MIM(_Supervised):
    """Mutual-information maximisation: the ``length`` ids most informative about ``y``.

    0. ``min_df``/``max_df`` (as :class:`SortSlice`'s, scikit-learn ``CountVectorizer``'s
       meaning) first remove the ids outside those document-frequency bounds; the steps
       below count and rank only the others.  Fewer qualifying ids than ``length``: the
       last columns are always zero.

    1. Ids with identical support (the same training molecules) are redundant: one
       per group is kept (the largest id); the others are dropped, smallest id
       first, but only while more than ``length`` ids remain.
    2. Regression targets are split at the training median (two quantile bins;
       values equal to the median go to the upper bin).
    3. Scores are plug-in mutual information in bits; the ``length`` highest are
       kept in score order, ties by larger id first.

    Parameters
    ----------
    length : int, default 1024
        Columns of the output (an integer >= 1): the highest-scoring ids kept.
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
    task : {"auto", "classification", "regression"}, default "auto"
        How ``y`` is read: class labels, or values split at the training median into two bins;
        ``"auto"`` is regression when ``y`` holds floats that are not all integers.
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
    """

    method = "mim"

    def _fit(self, fp, X, y):
        if y is None:
            raise ValueError("MIM requires y to be passed, but the target y is None (it is supervised: fit(X, y))")
        ids, per_class, n_per_class = self._labelled_counts(fp, y)
        keep = np.ones(len(ids), dtype=bool)
        excess = len(ids) - int(self.length)
        if excess > 0:
            redundant = []
            for g in _same_support_groups(fp, ids):
                redundant += g[:-1].tolist()  # ids ascending: keep the largest of the group
            redundant = sorted(redundant, key=lambda m: int(ids[m]))[:excess]
            keep[redundant] = False
        cand = np.flatnonzero(keep)
        scores = mutual_information(per_class[cand], n_per_class)
        order = np.lexsort((-ids[cand].astype(np.int64), -scores))[: int(self.length)]
        chosen = cand[order]
        self._set_vocabulary(ids[chosen], scores[order], per_class[chosen].sum(1))
        self._record_examples(fp, X)


class Filtering(_Supervised):
    """Filtered circular fingerprints (Gütlein & Kramer 2016), as in the Sort & Slice paper.

    Each step runs only while more than ``length`` ids remain (removals stop there):

    0. ``min_df``/``max_df`` (as :class:`SortSlice`'s, scikit-learn ``CountVectorizer``'s
       meaning) first remove the ids outside those document-frequency bounds (always; the
       steps below count only the others; fewer than ``length``: the last columns are zero);

    1. ids present in a single training molecule are removed (smallest id first);
    2. non-closed substructures are removed: among ids with identical support, an
       id whose environment is a strict labelled subgraph (elements, charges, bond
       types) of another's is removed — the *smaller* fragment goes, as in
       closed-pattern mining (the paper's code removed the larger);
    3. the rest are ranked by the Yates-corrected chi-squared p-value of presence vs
       the (median-binarised) label and the ``length`` smallest are kept (ties by
       larger id first).

    Parameters
    ----------
    length : int, default 1024
        Columns of the output (an integer >= 1): the ids with the smallest p-values kept.
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
    task : {"auto", "classification", "regression"}, default "auto"
        How ``y`` is read: class labels, or values split at the training median into two bins;
        ``"auto"`` is regression when ``y`` holds floats that are not all integers.
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
    """

    method = "filter"
    _fit_needs_atoms = True

    def _ids(self, X, provenance: bool = False) -> EcfpResult:
        X = molecule_list(X)
        if not (provenance and isinstance(X, EcfpResult) and X.smiles is not None):
            return super()._ids(X, provenance)
        # fitting compares each environment's atoms: the kept SMILES are parsed, and must give the stored ids
        stored = super()._ids(X)
        fp = super()._ids(list(X.smiles), provenance=True)
        if not (
            np.array_equal(fp.valid, stored.valid)
            and np.array_equal(fp.indptr, stored.indptr)
            and np.array_equal(fp.ids, stored.ids)
            and np.array_equal(fp.counts, stored.counts)
        ):
            raise ValueError(
                "the stored SMILES do not give the stored ids (the ids were computed from other molecules)"
            )
        return fp

    def _fit(self, fp, X, y):
        if y is None:
            raise ValueError(
                "Filtering requires y to be passed, but the target y is None (it is supervised: fit(X, y))"
            )
        if isinstance(molecule_list(X), EcfpResult):
            if X.smiles is None:
                raise ValueError(
                    "Filtering needs the molecules (SMILES or Mols) to compare substructures, not "
                    "stored ids alone (an ids file that keeps the SMILES, `--keep <column>`, will do)"
                )
            X = list(X.smiles)
        ids, per_class, n_per_class = self._labelled_counts(fp, y)
        L = int(self.length)
        prevalence = per_class.sum(1)
        keep = np.ones(len(ids), dtype=bool)
        singles = np.flatnonzero(prevalence == 1)  # ascending id
        drop = singles[: max(0, len(ids) - L)]
        keep[drop] = False
        if keep.sum() > L:
            cand = np.flatnonzero(keep)
            nonclosed = self._non_closed(fp, X, ids, cand)
            drop = nonclosed[: max(0, int(keep.sum()) - L)]
            keep[drop] = False
        cand = np.flatnonzero(keep)
        p = chi2_yates_pvalues(per_class[cand], n_per_class)
        order = np.lexsort((-ids[cand].astype(np.int64), p))[:L]
        chosen = cand[order]
        self._set_vocabulary(ids[chosen], p[order], prevalence[chosen])
        self._record_examples(fp, X)

    def _non_closed(self, fp, X, ids, cand) -> np.ndarray:
        """Indices (into ``ids``, ascending id) of candidates that are strict subgraphs of a same-support id."""
        from rdkit import Chem

        sub = ids[cand]
        groups = _same_support_groups(fp, sub)
        if not groups:
            return np.zeros(0, dtype=np.int64)
        items = molecule_list(X)
        items = list(items.to_list() if hasattr(items, "to_list") else items)
        env = fp.environments
        first_env: dict[int, tuple[int, int, int]] = {}
        env_rows = row_of(env.indptr)
        wanted = set(int(sub[m]) for g in groups for m in g)
        for k in np.flatnonzero(np.isin(env.ids, np.fromiter(wanted, dtype=np.uint32))):
            first_env.setdefault(int(env.ids[k]), (int(env_rows[k]), int(env.atom[k]), int(env.radius[k])))
        mol_cache: dict[int, object] = {}

        def fragment(i):
            r, a, rad = first_env[i]
            if r not in mol_cache:
                x = items[r]
                mol_cache[r] = x if isinstance(x, Chem.Mol) else Chem.MolFromSmiles(x)
            return environment_fragment(mol_cache[r], a, rad)

        out = []
        for g in groups:
            frags = {int(m): fragment(int(sub[m])) for m in g}
            for m in g:
                if any(o != m and is_strict_subgraph(frags[int(m)], frags[int(o)]) for o in g):
                    out.append(int(cand[m]))
        return np.asarray(sorted(out, key=lambda k: int(ids[k])), dtype=np.int64)
