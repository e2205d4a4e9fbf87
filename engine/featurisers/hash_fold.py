"""Hash folding: column ``id % length`` (RDKit's folded Morgan fingerprints); nothing to learn."""

from __future__ import annotations

import numpy as np

from .. import parallel
from ..pooling import pool
from .base import Featuriser
from .inputs import check_is_fitted, molecule_list


class HashFold(Featuriser):
    """Hash folding: column ``id % length``; binary OR or count sums.

    Identical to RDKit's ``GetFingerprintAsNumPy`` / ``GetCountFingerprintAsNumPy``
    of the Morgan generator with ``fpSize=length``.  Needs no fitting (``fit`` only
    validates parameters).

    Parameters
    ----------
    length : int, default 1024
        Columns of the output (an integer >= 1): id ``i`` sets column ``i % length``.
    radius, invariants, chirality, bond_types, ring_membership, redundant_environments : see sortslice.ecfp
        The ECFP parameters, as in :func:`sortslice.ecfp` (defaults: ECFP4, i.e. radius 2, ``"ecfp"``
        invariants, bond types and ring membership on, chirality and redundant environments off).
    counts : bool, default False
        Sum the counts of the ids folded onto each column (RDKit's count fingerprint) instead of
        setting 0/1 bits.
    dtype : numpy dtype or None, default None
        Output dtype: any boolean, integer or floating-point type; ``None`` is uint8 for bits, uint32
        for counts.  Counts saturate at the dtype's maximum.
    sparse : bool, default False
        Return a SciPy CSR matrix from ``transform`` instead of a dense ndarray.
    n_jobs : int or None, default None
        Parsing processes and kernel threads, as in :func:`sortslice.ecfp` (``None``: chosen by batch
        size; ``-1``: every core; 0 is refused).  Results never depend on it.
    strict : bool, default False
        Raise :class:`InvalidMoleculeError` at the first invalid molecule instead of giving it an
        all-zero row (with one warning per call).
    parser : {"auto", "rdkit"}, default "auto"
        How SMILES are parsed, as in :func:`sortslice.ecfp`: ``"auto"`` takes the certified fast path for the
        molecules it serves (identical results, many times faster), ``"rdkit"`` RDKit for every molecule.
    """

    method = "hash-fold"
    _fit_consequence = None  # fitting reads no molecules

    def _state_fields(self) -> dict:
        return {"provenance": self.__dict__.get("_provenance")}

    def _restore(self, state) -> None:
        self.fit()
        self.n_molecules_, self.n_invalid_ = state.n_molecules, state.n_invalid
        if state.provenance is not None:
            self._provenance = state.provenance

    def fit(self, X=None, y=None):
        """Validate the parameters and the shape of ``X`` if given (folding learns nothing from data)."""
        self._check_params()
        if X is not None:
            molecule_list(X)  # a mistaken argument fails here as in the other featurisers (nothing is parsed)
        self.__dict__.pop("_provenance", None)
        self.n_features_out_ = int(self.length)
        return self

    def _fit(self, fp, X, y=None):
        self.fit()

    def partial_fit(self, X=None, y=None):
        return self.fit(X, y)

    def _pool(self, fp):
        return pool(
            fp.indptr,
            fp.ids,
            fp.counts,
            length=int(self.length),
            use_counts=self.counts,
            dtype=self._out_dtype(),
            sparse=self.sparse,
            threads=parallel.threads(self.n_jobs),
        )

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        return np.asarray([f"{self._feature_prefix}_fold{j}" for j in range(int(self.length))], dtype=object)
