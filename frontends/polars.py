"""Polars frontend: ECFP fingerprints as typed, lazy, streaming expressions.

Functions first: each function takes a column name or an expression holding
SMILES and returns a ``pl.Expr`` whose dtype is known before anything runs.
``import sortslice.polars`` also registers the ``ecfp`` expression namespace,
which forwards to the same functions (``pl.col("smiles").ecfp.fold(2048)``).

Every per-row function is a ``map_batches`` with an explicit ``return_dtype``
and ``is_elementwise=True``: ``collect_schema()`` is exact without running
anything, and the streaming engine may split a column into batches and call the
function on several of them at once.  Output columns are Arrow views of the
engine's own CSR / dense buffers (no Python object per row).  A null or invalid
SMILES gives a null fingerprint; the row count is always the input's.

Examples
--------
>>> import polars as pl
>>> import sortslice
>>> import sortslice.polars as ssp
>>> df = pl.DataFrame({"smiles": ["CCO", "CO", "C1CC", None]})
>>> ss = sortslice.SortSlice(length=3, radius=1).fit(["CCO", "CCN", "CCC"])
>>> df.with_columns(fp=pl.col("smiles").ecfp.sort_slice(ss), error=ssp.parse_error("smiles"))
shape: (4, 3)
┌────────┬──────────────┬──────────────────────────────┐
│ smiles ┆ fp           ┆ error                        │
│ ---    ┆ ---          ┆ ---                          │
│ str    ┆ array[u8, 3] ┆ str                          │
╞════════╪══════════════╪══════════════════════════════╡
│ CCO    ┆ [1, 1, 1]    ┆ null                         │
│ CO     ┆ [0, 1, 0]    ┆ null                         │
│ C1CC   ┆ null         ┆ invalid SMILES: syntax error │
│ null   ┆ null         ┆ missing molecule             │
└────────┴──────────────┴──────────────────────────────┘
"""

from __future__ import annotations

import copy
import warnings
from functools import partial

import numpy as np
import polars as pl

from . import polars_batches as batches
from .engine.config import DEFAULT_CHUNK_SIZE
from .engine.featurisers import HashFold, InvalidMoleculeWarning, SortSlice, check_is_fitted
from .engine.fingerprint import EcfpParams

__all__ = [
    "IDS_DTYPE",
    "EcfpNamespace",
    "fit_lazy",
    "fold",
    "ids",
    "is_valid",
    "parse_error",
    "pool",
    "scan_ids",
    "sort_slice",
    "transform",
]

#: dtype of :func:`ids`: ascending unique ids and how many environments produced each
IDS_DTYPE = pl.Struct({"ids": pl.List(pl.UInt32), "counts": pl.List(pl.UInt32)})


# ----------------------------------------------------------------------------- helpers
def _as_expr(molecules: str | pl.Expr) -> pl.Expr:
    if isinstance(molecules, str):
        return pl.col(molecules)
    if isinstance(molecules, pl.Expr):
        return molecules
    raise TypeError(f"expected a column name or a polars expression, got {type(molecules).__name__}")


def _map(molecules: str | pl.Expr, function, return_dtype) -> pl.Expr:
    # elementwise: Polars may call `function` on any split of the column, from any thread
    return _as_expr(molecules).map_batches(function, return_dtype=return_dtype, is_elementwise=True)


def _value_dtype(dtype: pl.DataType, field: str | None) -> pl.DataType:
    return dtype if field is None else pl.Struct({field: dtype, "error": pl.String})


def _snapshot(featuriser):
    """A private fitted copy: refitting the original later cannot change a built expression."""
    if not (hasattr(featuriser, "featurise") and hasattr(featuriser, "ecfp_params")):
        raise TypeError(f"expected a sortslice featuriser, got {type(featuriser).__name__}")
    check_is_fitted(featuriser)
    snap = copy.deepcopy(featuriser)
    # Array columns are dense anyway; strictness is handled per batch (see batches.transform_batch)
    snap.set_params(sparse=False, strict=False)
    return snap


# --------------------------------------------------------------------------- functions
def ids(
    molecules: str | pl.Expr,
    *,
    radius: int = 2,
    invariants: str = "ecfp",
    chirality: bool = False,
    bond_types: bool = True,
    ring_membership: bool = True,
    redundant_environments: bool = False,
    n_jobs: int | None = None,
    with_error: bool = False,
) -> pl.Expr:
    """Unfolded ECFP ids and counts per molecule, identical to RDKit's Morgan generator.

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    radius, invariants, chirality, bond_types, ring_membership, redundant_environments
        As :func:`sortslice.ecfp`.
    n_jobs
        Parsing processes and kernel threads per batch (``None``: chosen by size).
    with_error
        Return ``Struct{ids, error}`` instead: the ids as below and why the molecule is not valid
        (null when it is), from one parse (``.struct.unnest()`` makes them two columns).

    Returns
    -------
    pl.Expr
        ``Struct{ids: List(UInt32), counts: List(UInt32)}``: ids ascending and
        unique, counts the environments that produced each; null for a null or
        invalid SMILES.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice.polars as ssp
    >>> df = pl.DataFrame({"smiles": ["CC", "CCC", "no", None]})
    >>> out = df.with_columns(fp=ssp.ids("smiles", radius=1))
    >>> out["fp"][0]
    {'ids': [2246728737, 3545175291], 'counts': [2, 1]}
    >>> out.with_columns(n_ids=pl.col("fp").struct.field("ids").list.len()).drop("fp")
    shape: (4, 2)
    ┌────────┬───────┐
    │ smiles ┆ n_ids │
    │ ---    ┆ ---   │
    │ str    ┆ u32   │
    ╞════════╪═══════╡
    │ CC     ┆ 2     │
    │ CCC    ┆ 4     │
    │ no     ┆ null  │
    │ null   ┆ null  │
    └────────┴───────┘
    """
    params = EcfpParams(radius, invariants, chirality, bond_types, ring_membership, redundant_environments)
    field = "ids" if with_error else None
    return _map(
        molecules, partial(batches.ids_batch, params=params, n_jobs=n_jobs, field=field), _value_dtype(IDS_DTYPE, field)
    )


def transform(molecules: str | pl.Expr, featuriser, *, with_error: bool = False) -> pl.Expr:
    """Fixed-length fingerprints from any fitted sortslice featuriser.

    The ECFP parameters, ``length``, ``counts`` and ``dtype`` are the
    featuriser's.  The featuriser is copied when the expression is built, so
    refitting it afterwards does not change the expression.  A ``strict=True``
    featuriser makes the query fail on the first invalid molecule (naming it);
    otherwise invalid or null SMILES give null rows.

    ``with_error=True`` returns ``Struct{fingerprint, error}``: the fingerprint and why the molecule is
    not valid (null when it is), from one parse of each row.  ``.struct.unnest()`` makes them two
    columns.  (A query with :func:`transform` and :func:`parse_error` side by side parses every
    molecule twice.)

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    featuriser
        Any fitted sortslice featuriser (copied when the expression is built).
    with_error
        Return ``Struct{fingerprint, error}`` instead, as above.

    Returns
    -------
    pl.Expr
        ``Array(dtype, length)``: ``UInt8`` by default, ``UInt32`` for counts,
        or the featuriser's ``dtype``.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice
    >>> import sortslice.polars as ssp
    >>> mim = sortslice.MIM(length=3, radius=1).fit(["CCO", "CCN", "CCC", "CO"], [1, 0, 0, 1])
    >>> pl.DataFrame({"smiles": ["OCCO", "CN", "?"]}).with_columns(fp=ssp.transform("smiles", mim))
    shape: (3, 2)
    ┌────────┬──────────────┐
    │ smiles ┆ fp           │
    │ ---    ┆ ---          │
    │ str    ┆ array[u8, 3] │
    ╞════════╪══════════════╡
    │ OCCO   ┆ [1, 0, 0]    │
    │ CN     ┆ [0, 0, 0]    │
    │ ?      ┆ null         │
    └────────┴──────────────┘
    >>> pl.DataFrame({"smiles": ["OCCO", "?"]}).select(
    ...     pl.col("smiles").ecfp.transform(mim, with_error=True).struct.unnest())
    shape: (2, 2)
    ┌──────────────┬──────────────────────────────┐
    │ fingerprint  ┆ error                        │
    │ ---          ┆ ---                          │
    │ array[u8, 3] ┆ str                          │
    ╞══════════════╪══════════════════════════════╡
    │ [1, 0, 0]    ┆ null                         │
    │ null         ┆ invalid SMILES: syntax error │
    └──────────────┴──────────────────────────────┘
    """
    strict = bool(getattr(featuriser, "strict", False))
    snap = _snapshot(featuriser)
    params = snap.ecfp_params  # validated now rather than at collect time
    dtype = pl.Array(batches.polars_dtype(snap.output_dtype), int(snap.length))
    field = "fingerprint" if with_error else None
    function = partial(batches.transform_batch, featuriser=snap, params=params, strict=strict, field=field)
    return _map(molecules, function, _value_dtype(dtype, field))


def pool(
    ids: str | pl.Expr, featuriser, *, counts: str | pl.Expr | None = None, ecfp: EcfpParams | dict | None = None
) -> pl.Expr:
    """Fixed-length fingerprints from stored ids: pooling only, no molecule is parsed.

    Parameters
    ----------
    ids
        A ``Struct{ids, counts}`` column (what :func:`ids` returns), or a ``List(UInt32)`` column of
        ids (an ids file's ``ids``, see :func:`scan_ids`) with ``counts`` beside it.
    featuriser
        Any fitted sortslice featuriser (copied when the expression is built).
    counts
        The ``List(UInt32)`` counts column when ``ids`` is a list column; without it every count is 1,
        which only binary featurisers accept.
    ecfp
        The ECFP parameters the ids were computed with (an ids file's ``sortslice.open_ids(path).params``):
        checked against the featuriser's when the expression is built. A bare column carries no
        parameters, so without ``ecfp`` they are the caller's word.

    Returns
    -------
    pl.Expr
        ``Array(dtype, length)`` as :func:`transform`; null where the ids are null. Ids not strictly
        ascending per row, counts of 0 or lists of unequal length fail the query with one line.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice
    >>> import sortslice.polars as ssp
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> lf = pl.LazyFrame({"smiles": ["CCO", "CO", "?"]}).with_columns(fp=ssp.ids("smiles", radius=1))
    >>> lf.select(ssp.pool("fp", ss)).collect()["fp"].to_list()
    [[1, 1, 1, 1], [0, 1, 0, 0], None]
    """
    strict = bool(getattr(featuriser, "strict", False))
    snap = _snapshot(featuriser)
    params = snap.ecfp_params
    if ecfp is not None:
        from .engine.featurisers import params_mismatch

        got = ecfp if isinstance(ecfp, EcfpParams) else EcfpParams(**ecfp)
        if got != params:
            raise ValueError(params_mismatch(got, params))
    dtype = pl.Array(batches.polars_dtype(snap.output_dtype), int(snap.length))
    expr = _as_expr(ids)
    if counts is not None:
        expr = pl.struct(expr.alias("ids"), _as_expr(counts).alias("counts")).alias(expr.meta.output_name())
    return _map(expr, partial(batches.pool_batch, featuriser=snap, params=params, strict=strict), dtype)


def scan_ids(path, *, expect=None) -> pl.LazyFrame:
    """An ids file (``sortslice ids``) as a LazyFrame, its footer checked first (``schemas/ids-file.md``).

    ``expect``: a featuriser or :class:`~sortslice.EcfpParams` whose parameters the file must have (one-line
    error otherwise). Pool its columns with ``pool("ids", featuriser, counts="counts")``.

    Parameters
    ----------
    path
        The ids file (a path to a Parquet file ``sortslice ids`` or :func:`sortslice.write_ids` wrote).
    expect
        A fitted or unfitted featuriser, :class:`~sortslice.EcfpParams` or dict of them: the ECFP
        parameters the file must have (:class:`~sortslice.IdsFileError` otherwise); ``None`` checks nothing.

    Returns
    -------
    pl.LazyFrame
        The file's columns: ``ids`` and ``counts`` (``List(UInt32)``), ``error`` when it has one, and
        the carried ones.

    Examples
    --------
    >>> import os, tempfile
    >>> import polars as pl
    >>> import sortslice
    >>> import sortslice.polars as ssp
    >>> path = os.path.join(tempfile.mkdtemp(), "ids.parquet")
    >>> sortslice.write_ids(sortslice.ecfp(["CCO", "CO", "?"], radius=1), path)
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> lf = ssp.scan_ids(path, expect=ss).select(fp=pl.col("ids").ecfp.pool(ss, counts="counts"))
    >>> lf.collect()["fp"].to_list()
    [[1, 1, 1, 1], [0, 1, 0, 0], None]
    """
    from .idsfile import check_params, open_ids

    info = open_ids(path)
    if expect is not None:
        check_params(
            info,
            expect.ecfp_params if hasattr(expect, "ecfp_params") else expect,
            "the featuriser" if hasattr(expect, "ecfp_params") else "the caller",
        )
    return pl.scan_parquet(info.path)


def sort_slice(molecules: str | pl.Expr, featuriser: SortSlice, *, with_error: bool = False) -> pl.Expr:
    """Sort & Slice fingerprints from a fitted :class:`sortslice.SortSlice` (see :func:`transform`, also for
    ``with_error``).

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    featuriser
        A fitted :class:`sortslice.SortSlice` (copied when the expression is built); another type
        raises ``TypeError``.
    with_error
        Return ``Struct{fingerprint, error}`` instead, as in :func:`transform`.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice
    >>> import sortslice.polars  # registers the `ecfp` namespace
    >>> ss = sortslice.SortSlice(length=4, radius=1).fit(["CCO", "CCN", "CCC"])
    >>> lf = pl.LazyFrame({"smiles": ["CCO", "CO"]}).with_columns(fp=pl.col("smiles").ecfp.sort_slice(ss))
    >>> lf.collect_schema()
    Schema([('smiles', String), ('fp', Array(UInt8, shape=(4,)))])
    >>> lf.collect()["fp"].to_list()
    [[1, 1, 1, 1], [0, 1, 0, 0]]
    """
    if not isinstance(featuriser, SortSlice):
        raise TypeError(
            f"sort_slice needs a fitted SortSlice, got {type(featuriser).__name__}; "
            f"use transform() for other featurisers"
        )
    return transform(molecules, featuriser, with_error=with_error)


def fold(
    molecules: str | pl.Expr,
    length: int = 2048,
    counts: bool = False,
    *,
    radius: int = 2,
    invariants: str = "ecfp",
    chirality: bool = False,
    bond_types: bool = True,
    ring_membership: bool = True,
    redundant_environments: bool = False,
    n_jobs: int | None = None,
    with_error: bool = False,
) -> pl.Expr:
    """Hash-folded ECFP (column ``id % length``), identical to RDKit's folded Morgan fingerprints.

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    length
        Number of bits (columns), an integer >= 1; default 2048 (``HashFold``'s is 1024).
    counts
        Sum the counts of the ids folded onto each column (``UInt32``; RDKit's
        count fingerprint) instead of setting bits (``UInt8`` 0/1).
    radius, invariants, chirality, bond_types, ring_membership, redundant_environments
        As :func:`sortslice.ecfp`.
    n_jobs
        Parsing processes and kernel threads per batch (``None``: chosen by size).
    with_error
        ``Struct{fingerprint, error}`` from one parse, as in :func:`transform`.

    Returns
    -------
    pl.Expr
        ``Array(UInt8, length)``, or ``Array(UInt32, length)`` with ``counts=True``;
        null for a null or invalid SMILES.  Same values as
        ``sortslice.HashFold(length=length, counts=counts, ...)``.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice.polars
    >>> df = pl.DataFrame({"smiles": ["CCO", "CC", "not a molecule"]})
    >>> df.with_columns(bits=pl.col("smiles").ecfp.fold(3, radius=1),
    ...                 counts=pl.col("smiles").ecfp.fold(3, counts=True, radius=1))
    shape: (3, 3)
    ┌────────────────┬──────────────┬───────────────┐
    │ smiles         ┆ bits         ┆ counts        │
    │ ---            ┆ ---          ┆ ---           │
    │ str            ┆ array[u8, 3] ┆ array[u32, 3] │
    ╞════════════════╪══════════════╪═══════════════╡
    │ CCO            ┆ [1, 1, 1]    ┆ [3, 2, 1]     │
    │ CC             ┆ [1, 0, 0]    ┆ [3, 0, 0]     │
    │ not a molecule ┆ null         ┆ null          │
    └────────────────┴──────────────┴───────────────┘
    """
    hf = HashFold(
        length=length,
        counts=counts,
        radius=radius,
        invariants=invariants,
        chirality=chirality,
        bond_types=bond_types,
        ring_membership=ring_membership,
        redundant_environments=redundant_environments,
        n_jobs=n_jobs,
    ).fit()
    return transform(molecules, hf, with_error=with_error)


def is_valid(
    molecules: str | pl.Expr, *, invariants: str = "ecfp", chirality: bool = False, n_jobs: int | None = None
) -> pl.Expr:
    """Whether each SMILES can be fingerprinted (``Boolean``; ``False`` for null).

    Exactly the rows where :func:`ids`, :func:`fold` and :func:`transform` with
    the same ``invariants`` and ``chirality`` are not null (only those two
    parameters can change whether a molecule is usable).

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    invariants, chirality
        As :func:`sortslice.ecfp`.
    n_jobs
        Parsing processes and threads per batch (``None``: chosen by size).

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice.polars as ssp
    >>> df = pl.DataFrame({"smiles": ["CCO", "C(C)(C)(C)(C)C", "", None]})
    >>> df.filter(ssp.is_valid("smiles"))
    shape: (1, 1)
    ┌────────┐
    │ smiles │
    │ ---    │
    │ str    │
    ╞════════╡
    │ CCO    │
    └────────┘
    """
    params = EcfpParams(invariants=invariants, chirality=chirality)
    return _map(
        molecules,
        partial(
            batches.parse_batch,
            chirality=params.chirality,
            fcfp=params.invariants == "fcfp",
            n_jobs=n_jobs,
            what="valid",
        ),
        pl.Boolean,
    )


def parse_error(
    molecules: str | pl.Expr, *, invariants: str = "ecfp", chirality: bool = False, n_jobs: int | None = None
) -> pl.Expr:
    """Why each SMILES cannot be fingerprinted (``String``), null when it can.

    A null SMILES gives ``"missing molecule"``, so ``parse_error(...).is_null()``
    equals :func:`is_valid`.

    Parameters
    ----------
    molecules
        Column name or expression of SMILES strings.
    invariants, chirality
        As :func:`sortslice.ecfp` (the only ECFP parameters that change whether a molecule is usable).
    n_jobs
        Parsing processes and threads per batch (``None``: chosen by size).

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice.polars as ssp
    >>> df = pl.DataFrame({"smiles": ["CCO", "C(C)(C)(C)(C)C", "", None]})
    >>> df.with_columns(error=ssp.parse_error("smiles"))
    shape: (4, 2)
    ┌────────────────┬─────────────────────────────────┐
    │ smiles         ┆ error                           │
    │ ---            ┆ ---                             │
    │ str            ┆ str                             │
    ╞════════════════╪═════════════════════════════════╡
    │ CCO            ┆ null                            │
    │ C(C)(C)(C)(C)C ┆ AtomValenceException: Explicit… │
    │                ┆ empty SMILES                    │
    │ null           ┆ missing molecule                │
    └────────────────┴─────────────────────────────────┘
    """
    params = EcfpParams(invariants=invariants, chirality=chirality)
    return _map(
        molecules,
        partial(
            batches.parse_batch,
            chirality=params.chirality,
            fcfp=params.invariants == "fcfp",
            n_jobs=n_jobs,
            what="error",
        ),
        pl.String,
    )


# ------------------------------------------------------------------------------ fitting
def fit_lazy(
    featuriser, frame: pl.LazyFrame | pl.DataFrame, column: str | pl.Expr, *, batch_size: int = DEFAULT_CHUNK_SIZE
):
    """Fit ``featuriser`` on a column streamed in batches (larger-than-memory files).

    The featuriser is reset (``fit([])``) and every batch goes through
    ``partial_fit``: the result equals ``fit`` on the whole column, ``min_df`` and
    ``max_df`` included (``ValueError`` at the end when they conflict, as ``fit``'s).  Only
    featurisers with ``partial_fit`` (:class:`sortslice.SortSlice`,
    :class:`sortslice.HashFold`) can be fitted this way; the supervised ones need
    all labels at once.

    Parameters
    ----------
    featuriser
        An unsupervised sortslice featuriser; fitted in place and returned.
    frame
        A ``LazyFrame`` (e.g. from ``pl.scan_parquet`` / ``pl.scan_csv``) or ``DataFrame``.
    column
        Column name or expression of SMILES strings.
    batch_size
        Rows per batch held in memory at once.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice
    >>> from sortslice.polars import fit_lazy
    >>> lf = pl.LazyFrame({"smiles": ["CCO", "CCN", "CCC", None]})
    >>> ss = fit_lazy(sortslice.SortSlice(length=4, radius=1), lf, "smiles", batch_size=2)
    >>> ss.prevalence_.tolist(), ss.n_molecules_, ss.n_invalid_
    ([3, 3, 3, 1], 3, 1)
    """
    if not hasattr(featuriser, "partial_fit"):
        raise TypeError(
            f"{type(featuriser).__name__} cannot be fitted batch by batch (it has no partial_fit); "
            f"collect the column and call fit(series, y)"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    # fit([]) starts afresh; every batch then goes through partial_fit (min_df/max_df are applied to the
    # running count, so a first batch too small for them is no error), and the bounds are checked at the end
    featuriser.fit([])
    rows, invalid, first = 0, 0, None
    for batch in frame.lazy().select(_as_expr(column)).collect_batches(chunk_size=int(batch_size)):
        s = batches.smiles(batch.to_series())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InvalidMoleculeWarning)
            featuriser.partial_fit(s)
        for w in caught:
            if isinstance(w.message, InvalidMoleculeWarning):
                invalid += w.message.n_invalid
                if first is None:
                    first = (rows + w.message.first_row, w.message.first_reason)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        rows += len(s)
    if hasattr(featuriser, "document_frequency_range") and featuriser.n_molecules_:
        featuriser.document_frequency_range()  # fit()'s ValueError for bounds that conflict
    if first is not None:  # one warning for the whole frame, as one fit(...) call gives
        warnings.warn(
            InvalidMoleculeWarning(invalid, rows, first[0], first[1], "they were left out of the fit"), stacklevel=2
        )
    return featuriser


# ---------------------------------------------------------------------------- namespace
@pl.api.register_expr_namespace("ecfp")
class EcfpNamespace:
    """``expr.ecfp.<function>(...)``: the functions of :mod:`sortslice.polars` on ``expr``.

    Parameters
    ----------
    expr
        The expression ``.ecfp`` is taken on (Polars passes it): the SMILES column, or for ``pool`` the
        ids column.  Every method forwards to the function of the same name with ``expr`` first.

    Examples
    --------
    >>> import polars as pl
    >>> import sortslice.polars
    >>> pl.LazyFrame({"smiles": ["CCO"]}).select(
    ...     ok=pl.col("smiles").ecfp.is_valid(), fp=pl.col("smiles").ecfp.fold(1024)).collect_schema()
    Schema([('ok', Boolean), ('fp', Array(UInt8, shape=(1024,)))])
    """

    def __init__(self, expr: pl.Expr):
        self._expr = expr

    def ids(
        self,
        *,
        radius: int = 2,
        invariants: str = "ecfp",
        chirality: bool = False,
        bond_types: bool = True,
        ring_membership: bool = True,
        redundant_environments: bool = False,
        n_jobs: int | None = None,
        with_error: bool = False,
    ) -> pl.Expr:
        """See :func:`sortslice.polars.ids`."""
        return ids(
            self._expr,
            radius=radius,
            invariants=invariants,
            chirality=chirality,
            bond_types=bond_types,
            ring_membership=ring_membership,
            redundant_environments=redundant_environments,
            n_jobs=n_jobs,
            with_error=with_error,
        )

    def fold(
        self,
        length: int = 2048,
        counts: bool = False,
        *,
        radius: int = 2,
        invariants: str = "ecfp",
        chirality: bool = False,
        bond_types: bool = True,
        ring_membership: bool = True,
        redundant_environments: bool = False,
        n_jobs: int | None = None,
        with_error: bool = False,
    ) -> pl.Expr:
        """See :func:`sortslice.polars.fold`."""
        return fold(
            self._expr,
            length,
            counts,
            radius=radius,
            invariants=invariants,
            chirality=chirality,
            bond_types=bond_types,
            ring_membership=ring_membership,
            redundant_environments=redundant_environments,
            n_jobs=n_jobs,
            with_error=with_error,
        )

    def transform(self, featuriser, *, with_error: bool = False) -> pl.Expr:
        """See :func:`sortslice.polars.transform`."""
        return transform(self._expr, featuriser, with_error=with_error)

    def pool(
        self, featuriser, *, counts: str | pl.Expr | None = None, ecfp: EcfpParams | dict | None = None
    ) -> pl.Expr:
        """See :func:`sortslice.polars.pool` (this expression holds the ids)."""
        return pool(self._expr, featuriser, counts=counts, ecfp=ecfp)

    def sort_slice(self, featuriser: SortSlice, *, with_error: bool = False) -> pl.Expr:
        """See :func:`sortslice.polars.sort_slice`."""
        return sort_slice(self._expr, featuriser, with_error=with_error)

    def is_valid(self, *, invariants: str = "ecfp", chirality: bool = False, n_jobs: int | None = None) -> pl.Expr:
        """See :func:`sortslice.polars.is_valid`."""
        return is_valid(self._expr, invariants=invariants, chirality=chirality, n_jobs=n_jobs)

    def parse_error(self, *, invariants: str = "ecfp", chirality: bool = False, n_jobs: int | None = None) -> pl.Expr:
        """See :func:`sortslice.polars.parse_error`."""
        return parse_error(self._expr, invariants=invariants, chirality=chirality, n_jobs=n_jobs)
