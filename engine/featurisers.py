"""Fitted, saveable featurisers (scikit-learn transformers) over unfolded ECFP ids.

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

from dataclasses import dataclass

import inspect

import numpy as np

from . import parallel
from .config import FIRST_EXAMPLES_BATCH
from .fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, checked_result, ecfp
from .fragments import Example, draw_environments, environment_fragment, environment_smiles, is_strict_subgraph
from .pooling import (chi2_yates_pvalues, document_frequency, lookup_table, merge_prevalence, mutual_information,
                      pool, rank_by_prevalence)

_ECFP_PARAMS = ("radius", "invariants", "chirality", "bond_types", "ring_membership", "redundant_environments")


@dataclass(frozen=True)
class Featurised:
    """A transform's output with the per-row validity the matrix alone cannot show."""

    X: object
    valid: np.ndarray
    errors: np.ndarray


def _example_mol(smiles):
    """An RDKit molecule for an example (None for a missing or unparsable SMILES: that row gives no example)."""
    from rdkit import Chem, rdBase

    if not isinstance(smiles, str):
        return None
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


def params_mismatch(got: EcfpParams, expected: EcfpParams, user: str = "this featuriser") -> str:
    """One line saying how ids computed with ``got`` differ from what ``user`` expects."""
    diff = [k for k in _ECFP_PARAMS if getattr(got, k) != getattr(expected, k)]
    return ("ids were computed with " + ", ".join(f"{k}={getattr(got, k)!r}" for k in diff)
            + f"; {user} uses " + ", ".join(f"{k}={getattr(expected, k)!r}" for k in diff))


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
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

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
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if not (k in defaults and _same_value(defaults[k], v))]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=self._requires_y),
                    # integer fingerprints whatever the input: no dtype is preserved
                    transformer_tags=TransformerTags(preserves_dtype=[]),
                    input_tags=InputTags(two_d_array=False, string=True))

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


class _Featuriser(EstimatorBase):
    """Shared parameters and plumbing; subclasses decide how columns are chosen."""

    _method = ""
    _score_name = ""

    def __init__(self, *, length=1024, radius=2, invariants="ecfp", chirality=False, bond_types=True,
                 ring_membership=True, redundant_environments=False, counts=False, dtype=None, sparse=False,
                 n_jobs=None, strict=False):
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
        return EcfpParams(**{k: getattr(self, k) for k in _ECFP_PARAMS})

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
        fp = self._ids(X, provenance=isinstance(self, Filtering))
        self._fit(fp, X, y)
        return self._wrap_output(self._pool(fp))

    def fit(self, X, y=None):
        """Fit on molecules (or an EcfpResult with matching parameters)."""
        self._check_length()
        self._fit(self._ids(X, provenance=isinstance(self, Filtering)), X, y)
        return self

    # ------------------------------------------------------------ low latency
    def _single(self):
        """Per-featuriser constants for :meth:`transform_one`, built once (reset by set_params/fit)."""
        state = self.__dict__.get("_single_state")
        if state is None:
            from .single import config

            check_is_fitted(self)
            fold = not hasattr(self, "vocabulary_")
            if fold:
                keys, cols = np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.int64)
            else:
                keys, cols = self._lookup()
            dtype = self._out_dtype()
            params = self.ecfp_params
            state = (config(params, int(self.length), fold, bool(self.counts), dtype), keys, cols, dtype,
                     params.chirality, params.invariants == "fcfp", np.zeros(0, dtype=np.int64),
                     np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint32))
            self._single_state = state
        return state

    def transform_one(self, molecule, out: np.ndarray | None = None) -> np.ndarray:
        """One molecule (SMILES or RDKit Mol) -> a dense vector of ``length`` entries.

        The low-latency path for scoring services: one fused compiled call after
        RDKit's parse, no thread launches, constants prepared once per featuriser;
        safe to call from many threads at once.  An invalid molecule gives an
        all-zero vector (or raises with ``strict=True``).  ``out`` may be a
        preallocated vector to fill.

        Examples
        --------
        >>> import sortslice
        >>> fold = sortslice.HashFold(length=8, radius=1).fit()
        >>> fold.transform_one("CCO").tolist()
        [1, 1, 1, 0, 0, 0, 1, 1]
        """
        from rdkit import Chem

        from ._worker import chiral_cip_terms, parse, quiet_rdkit, size_problem
        from .fingerprint import _missing
        from .single import fingerprint_one

        cfg, keys, cols, dtype, chirality, fcfp, no_atoms, no_terms, no_feat = self._single()
        if out is None:
            out = np.zeros(int(self.length), dtype=dtype)
        else:
            if out.shape != (int(self.length),) or out.dtype != dtype:
                raise ValueError(f"out must be a ({int(self.length)},) array of {dtype}")
            out.fill(0)
        if isinstance(molecule, bytes):  # read as the batch path reads them
            molecule = molecule.decode("utf-8", errors="replace")
        mol, stereo = None, False
        if isinstance(molecule, str):
            with quiet_rdkit():
                mol, reason = parse(molecule)
            stereo = "@" in molecule
        elif isinstance(molecule, Chem.Mol):
            reason = size_problem(molecule)
            mol, stereo = (molecule if reason is None else None), True
        elif _missing(molecule):
            reason = "missing molecule"
        else:
            reason = f"unsupported input of type {type(molecule).__name__}"
        if mol is None:
            if self.strict:
                raise InvalidMoleculeError(f"row 0: {reason}")
            return out
        cip_atoms, cip_terms = no_atoms, no_terms
        if chirality and stereo:
            pairs = chiral_cip_terms(mol)
            if pairs:
                cip_atoms = np.array([a for a, _ in pairs], dtype=np.int64)
                cip_terms = np.array([t for _, t in pairs], dtype=np.uint8)
        feat = no_feat
        if fcfp:
            from rdkit.Chem import rdMolDescriptors

            feat = np.asarray(rdMolDescriptors.GetFeatureInvariants(mol), dtype=np.uint32)
        status = fingerprint_one(np.frombuffer(mol.ToBinary(), dtype=np.uint8), cfg, cip_atoms, cip_terms, feat,
                                 keys, cols, out)
        if status != 0:  # exotic molecule: the batch path handles everything
            row = self.featurise([mol]).X
            out[:] = (row.toarray() if hasattr(row, "toarray") else row)[0]
        return out

    def transform_many(self, molecules, out: np.ndarray | None = None) -> np.ndarray:
        """A micro-batch through :meth:`transform_one` (dense ``(n, length)``); for a few molecules."""
        molecules = list(molecules)
        if out is None:
            out = np.zeros((len(molecules), int(self.length)), dtype=self._single()[3])
        for i, m in enumerate(molecules):
            self.transform_one(m, out=out[i])
        return out

    def set_params(self, **params):
        self.__dict__.pop("_single_state", None)
        self.__dict__.pop("_table", None)
        return super().set_params(**params)

    @property
    def _feature_prefix(self) -> str:
        return f"{self.invariants}{2 * self.radius}"

    def save(self, path) -> None:
        """Write the fitted featuriser as JSON (format: ``schemas/featuriser.schema.json``)."""
        from .persist import save

        save(self, path)


class _Vocabulary(_Featuriser):
    """A featuriser whose columns are an ordered list of ids (the vocabulary)."""

    def _set_vocabulary(self, ids, scores, prevalence):
        self.vocabulary_ = np.asarray(ids, dtype=np.uint32)
        self.scores_ = np.asarray(scores)
        self.prevalence_ = np.asarray(prevalence, dtype=np.int64)
        self.__dict__.pop("_table", None)
        self.__dict__.pop("_single_state", None)
        self.n_features_out_ = int(self.length)

    def _lookup(self):
        table = self.__dict__.get("_table")
        if len(self.vocabulary_) > int(self.length):  # the kernels would write past the row
            raise ValueError(f"length={self.length} is shorter than the fitted vocabulary "
                             f"({len(self.vocabulary_)} ids): it was changed after fitting; fit again")
        if table is None:
            table = lookup_table(self.vocabulary_)
            self._table = table
        return table

    def _pool(self, fp):
        return pool(fp.indptr, fp.ids, fp.counts, length=int(self.length), table=self._lookup(),
                    use_counts=self.counts, dtype=self._out_dtype(), sparse=self.sparse,
                    threads=parallel.threads(self.n_jobs))

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_table", None)  # derived: rebuilt on first use
        state.pop("_single_state", None)
        return state

    def get_feature_names_out(self, input_features=None):
        """``ecfp4_<id>`` per vocabulary column, ``ecfp4_pad<j>`` for always-zero padding columns."""
        check_is_fitted(self)
        p = self._feature_prefix
        names = [f"{p}_{int(i)}" for i in self.vocabulary_]
        names += [f"{p}_pad{j}" for j in range(len(names), int(self.length))]
        return np.asarray(names, dtype=object)

    def _record_examples(self, fp: EcfpResult, molecules):
        """Remember, for vocabulary ids without one yet, where they occur (molecule, atom, radius)."""
        if isinstance(molecules, EcfpResult):
            molecules = molecules.smiles      # ids read from a file that keeps the SMILES, else None
        if molecules is None:
            return
        examples = dict(getattr(self, "_examples", {}))
        missing = [int(i) for i in self.vocabulary_ if int(i) not in examples]
        if not missing:
            self._examples = examples
            return
        from rdkit import Chem

        items = _molecule_list(molecules)
        items = list(items.to_list() if hasattr(items, "to_list") else items)
        want = np.asarray(missing, dtype=np.uint32)
        rows = np.repeat(np.arange(len(fp)), np.diff(fp.indptr))
        hit = np.isin(fp.ids, want)
        parsed: dict[int, object] = {}
        too_big: list[int] = []
        while True:
            # the first molecule holding each id, among those small enough to write out
            first = {}
            usable = hit & ~np.isin(rows, too_big) if too_big else hit
            for r, i in zip(rows[usable].tolist(), fp.ids[usable].tolist()):
                first.setdefault(i, r)
            for r in set(first.values()) - set(parsed):
                mol = items[r] if isinstance(items[r], Chem.Mol) else _example_mol(items[r])
                if mol is None or mol.GetNumAtoms() > MAX_EXAMPLE_ATOMS:
                    too_big.append(r)
                else:
                    parsed[r] = mol
            if all(r in parsed for r in first.values()):
                break
        by_row: dict[int, list[int]] = {}
        for i, r in first.items():
            by_row.setdefault(r, []).append(i)
        if not by_row:
            self._examples = examples
            return
        row_list = sorted(by_row)
        mols = [parsed[r] for r in row_list]
        env = ecfp(mols, **self.ecfp_params.to_dict(), provenance=True, n_jobs=self.n_jobs).environments
        for k, (r, mol) in enumerate(zip(row_list, mols)):
            s, e = env.indptr[k], env.indptr[k + 1]
            wanted = set(by_row[r])
            smiles = Chem.MolToSmiles(mol)
            # atom indices refer to the parsed molecule; keep them valid for its SMILES
            order = [int(x) for x in mol.GetProp("_smilesAtomOutputOrder").strip("[]").split(",") if x.strip()]
            where = {old: new for new, old in enumerate(order)}
            for i, a, rad in zip(env.ids[s:e].tolist(), env.atom[s:e].tolist(), env.radius[s:e].tolist()):
                if i in wanted and i not in examples:
                    examples[i] = Example(smiles, where[a], rad)
        self._examples = examples

    def find_examples(self, batches) -> "_Vocabulary":
        """Re-derive every column's example environment from the training data, read again.

        ``batches`` is an iterable of molecule batches (SMILES or RDKit ``Mol`` lists)
        in training order — for instance the training file read a second time.  Each
        column's example becomes the first molecule in that order containing its id
        (of at most ``MAX_EXAMPLE_ATOMS`` atoms), which is what :meth:`fit` on all
        molecules at once records; after a streamed
        :meth:`partial_fit` the examples otherwise depend on how the stream was
        chunked (an id that entered the vocabulary late gets an example from a later
        batch).  Reading stops as soon as every column has an example (for Sort &
        Slice's prevalent ids, usually within the first few hundred molecules).
        Returns ``self``.
        """
        check_is_fitted(self)
        self._examples = {}
        return self._scan_examples(batches)

    def _scan_examples(self, batches) -> "_Vocabulary":
        """Add examples for vocabulary ids without one, reading ``batches`` until every id has one.

        Batches are read in growing pieces (most ids turn up in the first few hundred
        molecules, and a batch can be a 100,000-molecule chunk): doubling bounds the
        wasted work by the work needed.
        """
        size = FIRST_EXAMPLES_BATCH
        for batch in batches:
            batch = list(batch)
            start = 0
            while start < len(batch) and len(self._examples) < len(self.vocabulary_):
                part = batch[start:start + size]
                fp = ecfp(part, **self.ecfp_params.to_dict(), n_jobs=self.n_jobs)
                self._record_examples(fp, part)
                start += len(part)
                size = min(2 * size, 1 << 16)
            if len(self._examples) >= len(self.vocabulary_):
                break
        return self

    def _warn_without_examples(self) -> None:
        if len(self.vocabulary_) and not getattr(self, "_examples", {}):
            import warnings

            warnings.warn("no example fragments: this featuriser was fitted on stored ids that keep no SMILES "
                          "(write the ids with `sortslice ids --keep <SMILES column>`, or call find_examples "
                          "with the training molecules)", UserWarning, stacklevel=3)

    def explain(self, top: int | None = None) -> list[dict]:
        """What each column means: id, score, prevalence and an example environment.

        ``radius``/``example``/``fragment`` are ``None`` for columns whose id was
        never seen in molecules during fitting: fitted on stored ids that keep no SMILES
        (a ``UserWarning`` says so; ``sortslice ids --keep SMILES`` keeps them).
        """
        check_is_fitted(self)
        self._warn_without_examples()
        from rdkit import Chem

        out = []
        n = len(self.vocabulary_) if top is None else min(int(top), len(self.vocabulary_))
        examples = getattr(self, "_examples", {})
        for j in range(n):
            i = int(self.vocabulary_[j])
            ex = examples.get(i)
            frag = None
            if ex is not None:
                mol = Chem.MolFromSmiles(ex.smiles)
                frag = environment_smiles(mol, ex.atom, ex.radius) if mol is not None else None
            out.append({"column": j, "id": i, self._score_name: self.scores_[j].item(),
                        "prevalence": int(self.prevalence_[j]), "radius": None if ex is None else ex.radius,
                        "example": None if ex is None else ex.to_dict(), "fragment": frag})
        return out

    def draw(self, top: int = 20, *, fmt: str = "svg", per_row: int = 5):
        """Draw the top columns' environments as a grid (SVG text or PNG bytes)."""
        check_is_fitted(self)
        self._warn_without_examples()
        n = min(int(top), len(self.vocabulary_))
        examples = getattr(self, "_examples", {})
        exs = [examples.get(int(i)) for i in self.vocabulary_[:n]]
        legends = [f"col {j}: {int(i)}" for j, i in enumerate(self.vocabulary_[:n])]
        return draw_environments(exs, legends, per_row=per_row, fmt=fmt)


#: molecules in the first sub-batch :meth:`_Vocabulary.find_examples` searches (then doubling)

#: Example environments come only from molecules of at most this many atoms: RDKit's SMILES writer
#: recurses along chains and overflows the C stack (a segfault) past ~16,000 atoms, far fewer on
#: threads with small stacks; an id seen only in larger molecules has no example.
MAX_EXAMPLE_ATOMS = 1_000


class SortSlice(_Vocabulary):
    """Sort & Slice (Dablander et al. 2024): the ``length`` most prevalent training ids.

    Prevalence is document frequency (training molecules containing the id).  Ties
    are broken by larger id first (the reference featuriser's rule), or smaller id
    first with ``tie_break="smaller_id_first"``.

    Examples
    --------
    >>> import sortslice
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> ss.prevalence_.tolist()      # CH3 (radius 0 and 1) and CH2 are in all three
    [3, 3, 3, 1]
    >>> ss.transform(["CCO", "CO"]).tolist()
    [[1, 1, 1, 1], [0, 1, 0, 0]]
    """

    _method = "sort-slice"
    _score_name = "prevalence"

    def __init__(self, *, length=1024, radius=2, invariants="ecfp", chirality=False, bond_types=True,
                 ring_membership=True, redundant_environments=False, counts=False, dtype=None, sparse=False,
                 tie_break="larger_id_first", n_jobs=None, strict=False):
        super().__init__(length=length, radius=radius, invariants=invariants, chirality=chirality,
                         bond_types=bond_types, ring_membership=ring_membership,
                         redundant_environments=redundant_environments, counts=counts, dtype=dtype, sparse=sparse,
                         n_jobs=n_jobs, strict=strict)
        self.tie_break = tie_break

    def _fit(self, fp, X, y=None):
        """Count prevalence over ``X`` and keep the ``length`` most prevalent ids."""
        self._reset_counts()
        self._accumulate(fp, X)

    def _reset_counts(self):
        for attr in ("state_ids_", "state_prevalence_", "n_molecules_", "n_invalid_", "_examples",
                     "saved_n_distinct_ids_", "_vocabulary_only"):
            self.__dict__.pop(attr, None)

    def partial_fit(self, X, y=None):
        """Add a batch's prevalence to the running counts (streams larger-than-memory sets)."""
        self._check_length()
        self._accumulate(self._ids(X), X)
        return self

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

    def _finalise(self):
        order = rank_by_prevalence(self.state_ids_, self.state_prevalence_, int(self.length), self.tie_break)
        self._set_vocabulary(self.state_ids_[order], self.state_prevalence_[order], self.state_prevalence_[order])

    @classmethod
    def from_prevalence(cls, ids, prevalence, n_molecules: int, n_invalid: int = 0, **params) -> "SortSlice":
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
            raise ValueError(f"ids and prevalence must be 1-d of the same length, got {ids.shape} and "
                             f"{prevalence.shape}")
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
        out._finalise()
        return out

    def merge(self, other: "SortSlice") -> "SortSlice":
        """A new featuriser fitted on both training sets (for workers that fit parts of a data set)."""
        check_is_fitted(self)
        check_is_fitted(other)
        if self.get_params() != other.get_params():
            raise ValueError("cannot merge featurisers with different parameters")
        if self.__dict__.get("_vocabulary_only") or other.__dict__.get("_vocabulary_only"):
            raise ValueError("cannot merge a SortSlice loaded from a file: the file keeps only the vocabulary's "
                             "prevalence, not the counts of every training id")
        out = SortSlice(**self.get_params())
        ids, prev = merge_prevalence(self.state_ids_, self.state_prevalence_, other.state_ids_,
                                     other.state_prevalence_)
        out.state_ids_, out.state_prevalence_ = ids, prev.reshape(-1)
        out.n_molecules_ = self.n_molecules_ + other.n_molecules_
        out.n_invalid_ = self.n_invalid_ + other.n_invalid_
        out._finalise()
        ex = dict(getattr(other, "_examples", {}))
        ex.update(getattr(self, "_examples", {}))
        out._examples = ex
        return out

    @property
    def n_distinct_ids_(self) -> int:
        return int(self.__dict__.get("saved_n_distinct_ids_", self.state_ids_.shape[0]))


class HashFold(_Featuriser):
    """Hash folding: column ``id % length``; binary OR or count sums.

    Identical to RDKit's ``GetFingerprintAsNumPy`` / ``GetCountFingerprintAsNumPy``
    of the Morgan generator with ``fpSize=length``.  Needs no fitting (``fit`` only
    validates parameters).
    """

    _method = "hash-fold"

    def fit(self, X=None, y=None):
        """Validate the parameters (folding learns nothing from data)."""
        self._check_length()
        self.n_features_out_ = int(self.length)
        return self

    def _fit(self, fp, X, y=None):
        self.fit()

    def partial_fit(self, X=None, y=None):
        return self.fit(X, y)

    def _pool(self, fp):
        return pool(fp.indptr, fp.ids, fp.counts, length=int(self.length), use_counts=self.counts,
                    dtype=self._out_dtype(), sparse=self.sparse, threads=parallel.threads(self.n_jobs))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return np.asarray([f"{self._feature_prefix}_fold{j}" for j in range(int(self.length))], dtype=object)


def _classes(y, task: str):
    """Class index per row: labels for classification, ``y >= median`` for regression."""
    from sklearn.utils.multiclass import type_of_target

    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    if task == "auto":
        task = "regression" if type_of_target(y) == "continuous" else "classification"
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
    rows = np.repeat(np.arange(len(fp), dtype=np.int64), np.diff(fp.indptr))
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
                buckets.setdefault(rows[start[m]:end[m]].tobytes(), []).append(int(m))
            groups += [np.asarray(sorted(g)) for g in buckets.values() if len(g) >= 2]
        i = j
    return groups


class _Supervised(_Vocabulary):
    _requires_y = True

    def __init__(self, *, length=1024, radius=2, invariants="ecfp", chirality=False, bond_types=True,
                 ring_membership=True, redundant_environments=False, counts=False, dtype=None, sparse=False,
                 task="auto", n_jobs=None, strict=False):
        super().__init__(length=length, radius=radius, invariants=invariants, chirality=chirality,
                         bond_types=bond_types, ring_membership=ring_membership,
                         redundant_environments=redundant_environments, counts=counts, dtype=dtype, sparse=sparse,
                         n_jobs=n_jobs, strict=strict)
        self.task = task

    def _labelled_counts(self, fp, y):
        y = np.asarray(y)
        if y.shape[0] != len(fp):
            raise ValueError(f"y has {y.shape[0]} labels for {len(fp)} molecules")
        cls, n_classes, task, median = _classes(y[fp.valid], self.task)
        row_class = np.full(len(fp), -1, dtype=np.int64)
        row_class[fp.valid] = cls
        ids, per_class = document_frequency(fp.indptr, fp.ids, row_class, n_classes, rows_checked=True,
                                            threads=parallel.threads(self.n_jobs))
        n_per_class = np.bincount(cls, minlength=n_classes)
        self.task_ = task
        self.median_ = median
        self.n_molecules_ = int(fp.valid.sum())
        self.n_invalid_ = int((~fp.valid).sum())
        self.n_distinct_ids_ = int(len(ids))
        return ids, per_class, n_per_class


class MIM(_Supervised):
    """Mutual-information maximisation: the ``length`` ids most informative about ``y``.

    1. Ids with identical support (the same training molecules) are redundant: one
       per group is kept (the largest id); the others are dropped, smallest id
       first, but only while more than ``length`` ids remain.
    2. Regression targets are split at the training median (two quantile bins;
       values equal to the median go to the upper bin).
    3. Scores are plug-in mutual information in bits; the ``length`` highest are
       kept in score order, ties by larger id first.
    """

    _method = "mim"
    _score_name = "mutual_information"

    def _fit(self, fp, X, y):
        if y is None:
            raise ValueError("MIM requires y to be passed, but the target y is None "
                             "(it is supervised: fit(X, y))")
        ids, per_class, n_per_class = self._labelled_counts(fp, y)
        keep = np.ones(len(ids), dtype=bool)
        excess = len(ids) - int(self.length)
        if excess > 0:
            redundant = []
            for g in _same_support_groups(fp, ids):
                redundant += g[:-1].tolist()   # ids ascending: keep the largest of the group
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

    1. ids present in a single training molecule are removed (smallest id first);
    2. non-closed substructures are removed: among ids with identical support, an
       id whose environment is a strict labelled subgraph (elements, charges, bond
       types) of another's is removed — the *smaller* fragment goes, as in
       closed-pattern mining (the paper's code removed the larger);
    3. the rest are ranked by the Yates-corrected chi-squared p-value of presence vs
       the (median-binarised) label and the ``length`` smallest are kept (ties by
       larger id first).
    """

    _method = "filter"
    _score_name = "p_value"

    def _ids(self, X, provenance: bool = False) -> EcfpResult:
        X = _molecule_list(X)
        if not (provenance and isinstance(X, EcfpResult) and X.smiles is not None):
            return super()._ids(X, provenance)
        # fitting compares each environment's atoms: the kept SMILES are parsed, and must give the stored ids
        stored = super()._ids(X)
        fp = super()._ids(list(X.smiles), provenance=True)
        if not (np.array_equal(fp.valid, stored.valid) and np.array_equal(fp.indptr, stored.indptr)
                and np.array_equal(fp.ids, stored.ids) and np.array_equal(fp.counts, stored.counts)):
            raise ValueError("the stored SMILES do not give the stored ids (the ids were computed from other molecules)")
        return fp

    def _fit(self, fp, X, y):
        if y is None:
            raise ValueError("Filtering requires y to be passed, but the target y is None "
                             "(it is supervised: fit(X, y))")
        if isinstance(_molecule_list(X), EcfpResult):
            if X.smiles is None:
                raise ValueError("Filtering needs the molecules (SMILES or Mols) to compare substructures, not "
                                 "stored ids alone (an ids file that keeps the SMILES, `--keep <column>`, will do)")
            X = list(X.smiles)
        ids, per_class, n_per_class = self._labelled_counts(fp, y)
        L = int(self.length)
        prevalence = per_class.sum(1)
        keep = np.ones(len(ids), dtype=bool)
        singles = np.flatnonzero(prevalence == 1)        # ascending id
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
        items = _molecule_list(X)
        items = list(items.to_list() if hasattr(items, "to_list") else items)
        env = fp.environments
        first_env = {}
        env_rows = np.repeat(np.arange(len(fp)), np.diff(env.indptr))
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
