"""Fitted, saveable featurisers (scikit-learn transformers) over unfolded ECFP ids.

* :class:`SortSlice` keeps the ``length`` most prevalent ids of the training set (``sort_slice``);
* :class:`HashFold` folds ids (``id % length``), exactly RDKit's folded fingerprints (``hash_fold``);
* :class:`MIM` and :class:`Filtering` choose ids by the labels (``supervised``).

``base`` holds the scikit-learn protocol and what all share, ``vocabulary`` the column lists and their
example fragments, ``scoring`` the single-molecule path, ``state`` the plain-data fitted record
(:class:`FittedState`) that :func:`from_state` and :func:`load` build featurisers from.
"""

from __future__ import annotations

from typing import Any

from .base import ECFP_PARAMS, Featurised, params_mismatch
from .hash_fold import HashFold
from .inputs import InvalidMoleculeWarning, NotFittedError, check_is_fitted
from .sort_slice import SortSlice
from .state import METHODS, FittedState
from .supervised import MIM, Filtering
from .vocabulary import MAX_EXAMPLE_ATOMS

#: each saved method's class
#: method name (``METHODS``) -> featuriser class
CLASSES = {cls.method: cls for cls in (SortSlice, HashFold, MIM, Filtering)}

__all__ = [
    "CLASSES",
    "METHODS",
    "ECFP_PARAMS",
    "MAX_EXAMPLE_ATOMS",
    "MIM",
    "Featurised",
    "Filtering",
    "FittedState",
    "HashFold",
    "InvalidMoleculeWarning",
    "NotFittedError",
    "SortSlice",
    "check_is_fitted",
    "from_state",
    "load",
    "params_mismatch",
]


def from_state(state: FittedState):
    """The featuriser ``state`` describes (``f.fitted_state`` of a fitted ``f``, or a loaded file's).

    Parameters
    ----------
    state : FittedState
        A fitted state: its ``method`` picks the class, its ECFP and other parameters are passed to the
        constructor, and the fitted attributes are taken from it.

    Returns
    -------
    SortSlice, HashFold, MIM or Filtering
        A fitted featuriser.
    """
    cls: Any = CLASSES[state.method]
    names = set(cls._param_names())
    f = cls(**state.ecfp.to_dict(), **{k: v for k, v in state.params.items() if k in names})
    f._restore(state)
    return f


def load(path, *, expect_ecfp=None, allow_edited: bool = False, strict_versions: bool = False):
    """Load a featuriser saved with ``save``; raises :class:`~sortslice.ModelFileError` with one clear line.

    Files over ``MAX_MODEL_BYTES`` (512 MiB) are refused unread; loading never executes code.

    A file whose content no longer matches the digest ``save`` wrote (a value edited by hand) is refused;
    ``allow_edited=True`` accepts one edited on purpose (every other check still applies; ``save`` it
    again to give it a matching digest).  A file written under another sortslice or RDKit version has
    its canary molecules recomputed: when some now give other ids, one
    :class:`~sortslice.VersionChangeWarning` says so, or with ``strict_versions=True`` a
    :class:`~sortslice.ModelFileError`.  Under the same versions nothing is recomputed.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file ``save`` wrote.
    expect_ecfp : EcfpParams or None, default None
        The ECFP parameters the file must have; a file saved with others is refused.
    allow_edited : bool, default False
        Accept a file whose content digest does not match (edited on purpose).
    strict_versions : bool, default False
        Raise :class:`~sortslice.ModelFileError` instead of warning when canary molecules give other
        ids under this sortslice or RDKit version.

    Returns
    -------
    SortSlice, HashFold, MIM or Filtering
        The fitted featuriser the file describes.

    Raises
    ------
    ModelFileError
        The file cannot be read, is not a valid featuriser file, or fails a check above.
    """
    from ..persist import read_state

    return from_state(
        read_state(path, expect_ecfp=expect_ecfp, allow_edited=allow_edited, strict_versions=strict_versions)
    )
