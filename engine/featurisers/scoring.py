"""Featurisers, the single-molecule scoring path: one parse, one fused compiled call, constants prepared once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .. import fastpath
from .._jit import ro
from ..fingerprint import EcfpParams, InvalidMoleculeError
from ..parse import MAX_ATOMS, MAX_RINGS, chiral_cip_terms, is_missing, parse, quiet_rdkit, size_problem
from ..single import config, fingerprint_one, fingerprint_smiles_one
from ..smiles import GATES_ALL
from .inputs import InvalidMoleculeWarning, Rows, check_is_fitted, molecule_list, warn_invalid


class ScoringConstants(NamedTuple):
    """What :meth:`Scoring.transform_one` prepares once per featuriser (reset by ``set_params`` and ``fit``)."""

    config: np.ndarray  # the fused kernel's parameters (``single.config``)
    keys: np.ndarray  # vocabulary lookup table (a dummy for folding)
    cols: np.ndarray
    dtype: np.dtype
    chirality: bool
    fcfp: bool
    no_atoms: np.ndarray  # empty CIP-label inputs for molecules without stereo
    no_terms: np.ndarray
    no_features: np.ndarray  # empty FCFP feature invariants for ECFP


class Scoring:
    """``transform_one`` / ``transform_many`` for a fitted featuriser (mixed into every featuriser)."""

    # what the featuriser it is mixed into provides
    length: int
    counts: bool
    strict: bool
    if TYPE_CHECKING:

        @property
        def ecfp_params(self) -> EcfpParams: ...

        def _lookup(self) -> tuple[np.ndarray, np.ndarray]: ...

        def _out_dtype(self) -> np.dtype: ...

        def featurise(self, X: Any) -> Any: ...

        def _check_fitted_ecfp(self) -> None: ...

    # ------------------------------------------------------------ low latency
    def _single(self) -> ScoringConstants:
        """Per-featuriser constants for :meth:`transform_one`, built once (reset by set_params/fit)."""
        state = self.__dict__.get("_single_state")
        if state is None:
            check_is_fitted(self)
            self._check_fitted_ecfp()
            fold = not hasattr(self, "vocabulary_")
            if fold:
                keys, cols = np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.int64)
            else:
                keys, cols = self._lookup()
            dtype = self._out_dtype()
            params = self.ecfp_params
            state = ScoringConstants(
                config(params, int(self.length), fold, bool(self.counts), dtype),
                ro(keys),  # read-only, as the batch kernels take them: one compiled lookup
                ro(cols),
                dtype,
                params.chirality,
                params.invariants == "fcfp",
                np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.uint8),
                np.zeros(0, dtype=np.uint32),
            )
            self._single_state = state
        return state

    def transform_one(self, molecule, out: np.ndarray | None = None) -> np.ndarray:
        """One molecule (SMILES or RDKit Mol) -> a dense vector of ``length`` entries.

        The low-latency path for scoring services: one fused compiled call after
        RDKit's parse, no thread launches, constants prepared once per featuriser;
        safe to call from many threads at once.  An invalid molecule gives an
        all-zero vector and an :class:`InvalidMoleculeWarning` (or raises with
        ``strict=True``); a list is refused with a ``TypeError`` (use :meth:`transform`).  ``out`` may be a
        preallocated vector to fill.

        Examples
        --------
        >>> import sortslice
        >>> fold = sortslice.HashFold(length=8, radius=1).fit()
        >>> fold.transform_one("CCO").tolist()
        [1, 1, 1, 0, 0, 0, 1, 1]
        """
        if isinstance(molecule, (list, tuple, np.ndarray)) or hasattr(molecule, "to_list"):
            raise TypeError(
                f"transform_one takes one molecule (a SMILES or an RDKit Mol), got a {type(molecule).__name__}: "
                "use transform or transform_many for several"
            )
        out, reason = self._score_one(molecule, out)
        if reason is not None:
            import warnings

            warnings.warn(InvalidMoleculeWarning(1, 1, 0, reason, "its vector is all zeros"), stacklevel=2)
        return out

    def _score_one(self, molecule, out: np.ndarray | None) -> tuple[np.ndarray, str | None]:
        """:meth:`transform_one`'s work: the vector and, for an invalid molecule, why (or raise if strict)."""
        from rdkit import Chem

        c = self._single()
        cfg, keys, cols, dtype, chirality, fcfp = c.config, c.keys, c.cols, c.dtype, c.chirality, c.fcfp
        no_atoms, no_terms, no_feat = c.no_atoms, c.no_terms, c.no_features
        if out is None:
            out = np.zeros(int(self.length), dtype=dtype)
        else:
            if out.shape != (int(self.length),) or out.dtype != dtype:
                raise ValueError(f"out must be a ({int(self.length)},) array of {dtype}")
            out.fill(0)
        if isinstance(molecule, bytes):  # read as the batch path reads them
            molecule = molecule.decode("utf-8", errors="replace")
        mol, stereo = None, False
        if isinstance(molecule, str) and self._fast_one(molecule, c, out):
            return out, None
        if isinstance(molecule, str):
            with quiet_rdkit():
                mol, reason = parse(molecule)
            stereo = "@" in molecule
        elif isinstance(molecule, Chem.Mol):
            reason = size_problem(molecule)
            mol, stereo = (molecule if reason is None else None), True
        elif is_missing(molecule):
            reason = "missing molecule"
        else:
            reason = f"unsupported input of type {type(molecule).__name__}"
        if mol is None:
            if self.strict:
                raise InvalidMoleculeError(f"row 0: {reason}")
            return out, str(reason)
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
        values = np.zeros(int(self.length), dtype=np.int64)  # one kernel signature for every output dtype
        status = fingerprint_one(
            np.frombuffer(mol.ToBinary(), dtype=np.uint8), cfg, cip_atoms, cip_terms, feat, keys, cols, values
        )
        if status != 0:  # exotic molecule: the batch path handles everything
            row = self.featurise([mol]).X
            out[:] = (row.toarray() if hasattr(row, "toarray") else row)[0]
        else:
            out[:] = values
        return out, None

    def _fast_one(self, smiles: str, c: ScoringConstants, out: np.ndarray) -> bool:
        """One SMILES through the certified fast path's fused kernel into ``out``; False (``out`` untouched)
        when it does not serve these parameters, is not compiled yet, or defers the molecule."""
        if c.chirality or c.fcfp or getattr(self, "parser", "auto") != "auto" or not fastpath.ready_single():
            return False
        try:
            buf = np.frombuffer(smiles.encode("utf-8"), dtype=np.uint8)
        except UnicodeEncodeError:
            return False
        values = np.zeros(int(self.length), dtype=np.int64)  # one kernel signature for every output dtype
        if buf.shape[0] == 0 or fingerprint_smiles_one(
            buf, GATES_ALL, MAX_ATOMS, MAX_RINGS, c.config, c.keys, c.cols, values
        ):
            return False
        out[:] = values
        return True

    def transform_many(self, molecules, out: np.ndarray | None = None) -> np.ndarray:
        """A micro-batch through :meth:`transform_one` (dense ``(n, length)``); for a few molecules.

        Invalid molecules give all-zero rows, said once per call (:class:`InvalidMoleculeWarning`).
        """
        molecules = list(molecule_list(molecules))
        if out is None:
            out = np.zeros((len(molecules), int(self.length)), dtype=self._single().dtype)
        errors = np.full(len(molecules), None, dtype=object)
        for i, m in enumerate(molecules):
            try:
                errors[i] = self._score_one(m, out[i])[1]
            except InvalidMoleculeError as exc:  # strict: name the row of this batch
                raise InvalidMoleculeError(f"row {i}: {str(exc).partition(': ')[2]}") from None
        valid = np.array([e is None for e in errors], dtype=bool)
        if not valid.all():
            warn_invalid(Rows(valid, errors), "their rows are all zeros")
        return out
