"""Stage 4c, supervised scores: how strongly each id's presence goes with the class (MIM, filtering).

Plain NumPy over a contingency table (molecules of each class containing each id), which
:func:`.prevalence.document_frequency` counts.
"""

from __future__ import annotations

import numpy as np

from . import checks


def mutual_information(contingency: np.ndarray, n_per_class: np.ndarray) -> np.ndarray:
    """Plug-in MI (bits) between presence of each id and the class.

    ``contingency[i, c]`` = molecules of class ``c`` that contain id ``i``.
    """
    contingency, n_per_class = _check_contingency(contingency, n_per_class)
    present = contingency.astype(np.float64)
    n_c = n_per_class.astype(np.float64)[None, :]
    n = float(n_per_class.sum())
    absent = n_c - present
    mi = np.zeros(present.shape[0])
    px1 = present.sum(1) / n
    px0 = 1.0 - px1
    py = n_c / n
    for cell, px in ((present, px1), (absent, px0)):
        pxy = cell / n
        with np.errstate(divide="ignore", invalid="ignore"):
            term = pxy * np.log2(pxy / (px[:, None] * py))
        mi += np.where(pxy > 0, term, 0.0).sum(1)
    return np.maximum(mi, 0.0)


def chi2_yates_pvalues(contingency: np.ndarray, n_per_class: np.ndarray) -> np.ndarray:
    """P-values of the chi-squared test of presence vs class (Yates-corrected for 2x2).

    Same statistic as ``scipy.stats.chi2_contingency(table, correction=True)``; ids
    whose table has an empty margin (present in every or no molecule, or a single
    class) get p = 1.
    """
    # chi2.sf(x, dof) is scipy.special.chdtrc(dof, x); scipy.stats costs about 1 s to import, scipy.special 0.2 s
    from scipy.special import chdtrc

    contingency, n_per_class = _check_contingency(contingency, n_per_class)
    present = contingency.astype(np.float64)
    absent = n_per_class.astype(np.float64)[None, :] - present
    table = np.stack([present, absent], axis=1)  # (ids, 2, classes)
    n = table.sum(axis=(1, 2))
    row = table.sum(axis=2, keepdims=True)
    col = table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = row * col / n[:, None, None]
    dof = table.shape[2] - 1
    obs = table
    if dof == 1:
        diff = expected - obs
        obs = obs + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = ((obs - expected) ** 2 / expected).sum(axis=(1, 2))
    degenerate = (expected == 0).any(axis=(1, 2))
    # one class: no degrees of freedom, scipy's chi2_contingency reports p = 1 (chi2.sf(0, 0) is NaN)
    p = chdtrc(dof, stat) if dof > 0 else np.ones(stat.shape[0])
    p[degenerate] = 1.0
    return p


def _check_contingency(contingency, n_per_class):
    """Counts of molecules per (id, class), each at most the class's size."""
    contingency = checks.int_array(contingency, "contingency", np.int64, ndim=2, low=0)
    n_per_class = checks.int_array(n_per_class, "n_per_class", np.int64, low=0)
    if contingency.shape[1] != n_per_class.shape[0]:
        raise ValueError(
            f"contingency has {contingency.shape[1]} class columns but n_per_class has {n_per_class.shape[0]} classes"
        )
    if contingency.shape[0] and n_per_class.sum() == 0:
        raise ValueError("n_per_class must count at least one molecule")
    if (contingency > n_per_class[None, :]).any():
        raise ValueError("contingency counts cannot exceed the molecules of their class (n_per_class)")
    return contingency, n_per_class
