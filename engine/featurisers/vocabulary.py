"""Featurisers with a vocabulary (an ordered list of ids, one per column) and their example fragments."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import parallel
from ..config import FIRST_EXAMPLES_BATCH
from ..fingerprint import EcfpResult, ecfp, smallest_environments
from ..fragments import Example, draw_environments, environment_smiles
from ..pooling import lookup_table, pool
from .base import Featuriser
from .inputs import check_is_fitted, molecule_list
from .state import check_df, df_range

#: Example environments come only from molecules of at most this many atoms: RDKit's SMILES writer
#: recurses along chains and overflows the C stack (a segfault) past ~16,000 atoms, far fewer on
#: threads with small stacks; an id seen only in larger molecules has no example.
MAX_EXAMPLE_ATOMS = 1_000


def _example_mol(smiles):
    """An RDKit molecule for an example (None for a missing or unparsable SMILES: that row gives no example)."""
    from rdkit import Chem, rdBase

    if not isinstance(smiles, str):
        return None
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


#: the default bounds: every id qualifies (nothing is filtered, as before the bounds existed)
NO_DF_BOUNDS = (1, 1.0)


def _first_rows(fp: EcfpResult, want: np.ndarray, too_big: list[int]) -> dict[int, int]:
    """For each id of ``want`` (sorted), the first row of ``fp`` holding it, rows ``too_big`` left out.

    Rows are read in windows that double in size, stopping once every id has its row: the ids a vocabulary
    keeps are the most prevalent, so they all turn up among the first molecules (a loop over every
    occurrence took seconds on a large fit).
    """
    first: dict[int, int] = {}
    n = len(fp)
    skip = np.asarray(sorted(too_big), dtype=np.int64)
    r0, step = 0, 256
    while r0 < n and len(first) < want.shape[0]:
        r1 = min(n, r0 + step)
        a, b = int(fp.indptr[r0]), int(fp.indptr[r1])
        ids = fp.ids[a:b]
        pos = np.minimum(np.searchsorted(want, ids), want.shape[0] - 1)
        sel = np.flatnonzero(want[pos] == ids)
        rows = np.searchsorted(fp.indptr, a + sel, side="right") - 1
        if skip.size:
            keep = ~np.isin(rows, skip)
            sel, rows = sel[keep], rows[keep]
        ids_here, at = np.unique(ids[sel], return_index=True)
        for i, r in zip(ids_here.tolist(), rows[at].tolist()):
            first.setdefault(i, r)
        r0, step = r1, 2 * step
    return first


class Vocabulary(Featuriser):
    """A featuriser whose columns are an ordered list of ids (the vocabulary).

    ``min_df``/``max_df`` (scikit-learn ``CountVectorizer``'s meaning): only ids contained in at least
    ``min_df`` and at most ``max_df`` valid training molecules can become columns (an int counts
    molecules, a float is a fraction of them); the bounds are applied to the document frequencies
    before the ids are ranked.  When fewer than ``length`` ids qualify, the vocabulary is shorter and
    the remaining columns are always zero, exactly as for a training set with fewer than ``length``
    distinct ids.  ``fit`` raises ``ValueError`` when ``max_df`` corresponds to fewer molecules than
    ``min_df``.
    """

    #: set by the subclasses' constructors (parameters, as scikit-learn's protocol wants them)
    min_df: Any
    max_df: Any

    def _check_length(self):
        # also the fit-time check of the other parameters every fit runs first (types and ranges)
        super()._check_length()
        check_df(self.min_df, "min_df")
        check_df(self.max_df, "max_df")

    def _df_mask(self, prevalence: np.ndarray, n_molecules: int, final: bool = True) -> np.ndarray | None:
        """Which ids (by their document frequency) lie within ``min_df``/``max_df``; None: all of them.

        When the bounds conflict for ``n_molecules`` (``max_df`` corresponds to fewer molecules than
        ``min_df``), a final fit raises scikit-learn's ``ValueError``, and an intermediate state (a
        ``partial_fit`` that more batches may follow) keeps no id.
        """
        if (self.min_df, self.max_df) == NO_DF_BOUNDS and type(self.min_df) is int and type(self.max_df) is float:
            return None
        bounds = df_range(self.min_df, self.max_df, n_molecules)
        if bounds is None:
            if final and n_molecules > 0:
                raise self._df_conflict(n_molecules)
            return np.zeros(len(prevalence), dtype=bool)
        low, high = bounds
        return (prevalence >= low) & (prevalence <= high)

    def _df_conflict(self, n_molecules: int) -> ValueError:
        return ValueError(
            f"max_df={self.max_df!r} corresponds to < documents than min_df={self.min_df!r} "
            f"(over {n_molecules:,} valid training molecules)"
        )

    def document_frequency_range(self, n_molecules: int | None = None) -> tuple[float, float]:
        """The document frequencies ``(low, high)`` an id needs to be a column, over ``n_molecules`` valid
        training molecules (default: those this featuriser was fitted on).

        Raises ``ValueError`` when ``max_df`` corresponds to fewer molecules than ``min_df``: a streamed
        fit (``partial_fit``) calls it at the end to give the error ``fit`` gives.
        """
        n = int(getattr(self, "n_molecules_", 0) if n_molecules is None else n_molecules)
        bounds = df_range(self.min_df, self.max_df, n)
        if bounds is None:
            raise self._df_conflict(n)
        return bounds

    def _state_params(self) -> dict:
        return {
            **super()._state_params(),
            "min_df": check_df(self.min_df, "min_df"),
            "max_df": check_df(self.max_df, "max_df"),
        }

    def _set_vocabulary(self, ids, scores, prevalence):
        self.vocabulary_ = np.asarray(ids, dtype=np.uint32)
        self.scores_ = np.asarray(scores)
        self.prevalence_ = np.asarray(prevalence, dtype=np.int64)
        self.__dict__.pop("_single_state", None)
        # built here, not on first use: transform leaves the featuriser as it found it (scikit-learn's rule)
        self._table = lookup_table(self.vocabulary_)
        self.__dict__.pop("_provenance", None)  # a new vocabulary is this environment's
        self.n_features_out_ = int(self.length)
        # the columns are ids of these parameters: using the vocabulary with others is refused
        self._fitted_ecfp = self.ecfp_params

    def _state_fields(self) -> dict:
        examples = getattr(self, "_examples", {})
        return {
            "vocabulary": self.vocabulary_,
            "scores": np.asarray(self.scores_, dtype=np.float64),
            "prevalence": self.prevalence_,
            "n_distinct_ids": int(getattr(self, "n_distinct_ids_")),  # noqa: B009  (a property or an attribute)
            "examples": tuple(examples.get(int(i)) for i in self.vocabulary_),
            "provenance": self.__dict__.get("_provenance"),
        }

    def _restore(self, state) -> None:
        self.n_molecules_, self.n_invalid_ = state.n_molecules, state.n_invalid
        self._set_vocabulary(
            np.asarray(state.vocabulary, dtype=np.uint32),
            np.asarray(state.scores, np.float64),
            np.asarray(state.prevalence, dtype=np.int64),
        )
        self._examples = {int(i): e for i, e in zip(self.vocabulary_, state.examples) if e is not None}
        if state.provenance is not None:
            self._provenance = state.provenance

    @property
    def examples_(self) -> dict:
        """Each column's example environment, ``{id: Example}`` (ids without one are absent)."""
        return dict(getattr(self, "_examples", {}))

    def set_examples(self, examples: dict) -> None:
        """Replace the example environments (e.g. found by workers that read the training data)."""
        vocab = set(int(i) for i in self.vocabulary_)
        bad = [i for i in examples if int(i) not in vocab]
        if bad:
            raise ValueError(f"examples for ids outside the vocabulary, e.g. {bad[0]}")
        self._examples = {int(i): e for i, e in examples.items() if e is not None}

    def _lookup(self):
        table = self.__dict__.get("_table")
        if len(self.vocabulary_) > int(self.length):  # the kernels would write past the row
            raise ValueError(
                f"length={self.length} is shorter than the fitted vocabulary "
                f"({len(self.vocabulary_)} ids): it was changed after fitting; fit again"
            )
        if table is None:
            table = lookup_table(self.vocabulary_)
            self._table = table
        return table

    def _pool(self, fp):
        return pool(
            fp.indptr,
            fp.ids,
            fp.counts,
            length=int(self.length),
            table=self._lookup(),
            use_counts=self.counts,
            dtype=self._out_dtype(),
            sparse=self.sparse,
            threads=parallel.threads(self.n_jobs),
        )

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
            molecules = molecules.smiles  # ids read from a file that keeps the SMILES, else None
        if molecules is None:
            return
        examples = dict(getattr(self, "_examples", {}))
        missing = [int(i) for i in self.vocabulary_ if int(i) not in examples]
        if not missing:
            self._examples = examples
            return
        from rdkit import Chem

        items = molecule_list(molecules)
        items = list(items.to_list() if hasattr(items, "to_list") else items)
        want = np.sort(np.asarray(missing, dtype=np.uint32))
        parsed: dict[int, Any] = {}
        too_big: list[int] = []
        while True:
            first = _first_rows(fp, want, too_big)
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
        centres = smallest_environments(mols, self.ecfp_params, n_jobs=self.n_jobs)
        for r, mol, found in zip(row_list, mols, centres):
            smiles = Chem.MolToSmiles(mol)
            # atom indices refer to the parsed molecule; keep them valid for its SMILES
            order = [int(x) for x in mol.GetProp("_smilesAtomOutputOrder").strip("[]").split(",") if x.strip()]
            where = {old: new for new, old in enumerate(order)}
            for i in by_row[r]:
                rad, a = found[i]
                examples[i] = Example(smiles, where[a], rad)
        self._examples = examples

    def find_examples(self, batches) -> Vocabulary:
        """Re-derive every column's example environment from the training data, read again.

        ``batches`` is an iterable of molecule batches (SMILES or RDKit ``Mol`` lists)
        in training order — for instance the training file read a second time.  Each
        column's example becomes the first molecule in that order containing its id
        (of at most ``MAX_EXAMPLE_ATOMS`` atoms), centred on the id's smallest environment
        there (lowest radius, then lowest atom), which is what :meth:`fit` on all
        molecules at once records; after a streamed
        :meth:`partial_fit` the examples otherwise depend on how the stream was
        chunked (an id that entered the vocabulary late gets an example from a later
        batch).  Reading stops as soon as every column has an example (for Sort &
        Slice's prevalent ids, usually within the first few hundred molecules).
        Returns ``self``.
        """
        check_is_fitted(self)
        self._check_fitted_ecfp()
        self._examples = {}
        return self._scan_examples(batches)

    def _scan_examples(self, batches) -> Vocabulary:
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
                part = batch[start : start + size]
                fp = ecfp(part, **self.ecfp_params.to_dict(), n_jobs=self.n_jobs, parser=self.parser)
                self._record_examples(fp, part)
                start += len(part)
                size = min(2 * size, 1 << 16)
            if len(self._examples) >= len(self.vocabulary_):
                break
        return self

    def _warn_without_examples(self) -> None:
        if len(self.vocabulary_) and not getattr(self, "_examples", {}):
            import warnings

            warnings.warn(
                "no example fragments: this featuriser was fitted on stored ids that keep no SMILES "
                "(write the ids with `sortslice ids --keep <SMILES column>`, or call find_examples "
                "with the training molecules)",
                UserWarning,
                stacklevel=3,
            )

    def explain(self, top: int | None = None) -> list[dict]:
        """What each column means: id, score, prevalence and an example environment.

        A column's example is the first training molecule holding its id, centred on the id's
        smallest environment there (lowest radius, then lowest atom index).

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
            out.append(
                {
                    "column": j,
                    "id": i,
                    self._score_name: self.scores_[j].item(),
                    "prevalence": int(self.prevalence_[j]),
                    "radius": None if ex is None else ex.radius,
                    "example": None if ex is None else ex.to_dict(),
                    "fragment": frag,
                }
            )
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
