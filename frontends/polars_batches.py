"""What the Polars expressions run: batch functions, Series in, Series out (:mod:`sortslice.polars` builds the
expressions around them).

Polars calls them from its own threads, on any split of a column.  Each takes a batch of at most
:data:`PIECE` rows at a time through the engine (:func:`batched`) and returns Arrow views of the engine's
buffers: no Python object per row.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl
import pyarrow as pa

# Arrow arrays and scalars without pa.array/pa.scalar, which import pandas (~0.6 s) on a query's first call
from ._arrow import from_numpy, null_scalar
from .engine.fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, ecfp, flatten
from .engine.parallel import cpu_count, processes, trim_heap


def smiles(s: pl.Series) -> pl.Series:
    """The batch as the engine takes it: a String (or all-null) Series."""
    if s.dtype in (pl.String, pl.Null):
        return s
    if isinstance(s.dtype, (pl.Categorical, pl.Enum)):
        return s.cast(pl.String)
    raise TypeError(f"expected a column of SMILES strings, got column {s.name!r} of type {s.dtype}")


def jobs(n_jobs: int | None, n_rows: int) -> int | None:
    # Polars calls UDFs from several threads at once.  The engine keeps one parsing
    # pool and replaces it whenever a call asks for another size, which cancels the
    # work other threads have queued on it; so `None` ("use the pool when the batch
    # is big enough") always asks for the same size here.
    if n_jobs is not None or processes(None, n_rows) == 1:
        return n_jobs
    return cpu_count()


def polars_dtype(dtype: np.dtype) -> pl.DataType:
    return pl.Series(np.zeros(0, dtype=dtype)).dtype


def ids_series(name: str, fp: EcfpResult) -> pl.Series:
    """CSR -> Struct{ids, counts} sharing the engine's buffers; invalid rows null."""
    null = from_numpy(~fp.valid)
    offsets = from_numpy(fp.indptr)  # int64: Polars' own list offsets, so no conversion
    fields = [pa.LargeListArray.from_arrays(offsets, from_numpy(v), mask=null) for v in (fp.ids, fp.counts)]
    return pl.Series(name, pa.StructArray.from_arrays(fields, names=["ids", "counts"], mask=null))


def array_series(name: str, X: np.ndarray, valid: np.ndarray) -> pl.Series:
    """Dense ``(n, L)`` -> Array(dtype, L) sharing the buffer; invalid rows null."""
    X = np.ascontiguousarray(X)
    values = from_numpy(X.reshape(-1))
    return pl.Series(name, pa.FixedSizeListArray.from_arrays(values, X.shape[1], mask=from_numpy(~valid)))


def ecfp_batch(s: pl.Series, params: EcfpParams, n_jobs: int | None) -> EcfpResult:
    return ecfp(smiles(s), **params.to_dict(), n_jobs=jobs(n_jobs, s.len()))


#: rows of a Polars batch computed at a time (Polars hands the expressions batches of up to ~70k rows)
PIECE = 5_000


def batched(function):
    """``function`` (a batch function: Series in, Series out) over pieces of at most :data:`PIECE` rows,
    joined without a copy, then :func:`trim_heap`.  A piece's parsing and ids are freed before the next
    starts, and Polars' threads each keep a malloc arena that would otherwise hold every batch's freed
    blocks.  Figures: perf/README, "One file four ways" (``perf/bench_polars_file.py``)."""

    @functools.wraps(function)
    def batch(s: pl.Series, *args, **kwargs) -> pl.Series:
        try:
            if s.len() <= PIECE:
                return function(s, *args, **kwargs)
            parts = [function(s.slice(a, PIECE), *args, **kwargs) for a in range(0, s.len(), PIECE)]
            return pl.concat(parts, rechunk=False)
        finally:
            trim_heap()

    return batch


def with_error(name: str, value: pl.Series, field: str, errors: np.ndarray) -> pl.Series:
    """``Struct{field: value, error}`` from one parse: the value null where the molecule is not valid, the
    reason null where it is."""
    error = pl.Series("error", errors.tolist(), dtype=pl.String)
    return pl.DataFrame([value.alias(field), error]).to_struct(name)


@batched
def ids_batch(s: pl.Series, params: EcfpParams, n_jobs: int | None, field: str | None = None) -> pl.Series:
    fp = ecfp_batch(s, params, n_jobs)
    value = ids_series(s.name, fp)
    return value if field is None else with_error(s.name, value, field, fp.errors)


@batched
def transform_batch(s: pl.Series, featuriser, params: EcfpParams, strict: bool, field: str | None = None) -> pl.Series:
    fp = ecfp_batch(s, params, featuriser.n_jobs)
    if strict and not fp.valid.all():
        # a row number would count from the start of this batch, not of the frame: name the molecule
        i = int(np.flatnonzero(~fp.valid)[0])
        raise InvalidMoleculeError(f"{s[i]!r}: {fp.errors[i]} (strict featuriser; a non-strict one gives null)")
    value = array_series(s.name, featuriser.featurise(fp).X, fp.valid)
    return value if field is None else with_error(s.name, value, field, fp.errors)


@batched
def pool_batch(s: pl.Series, featuriser, params: EcfpParams, strict: bool) -> pl.Series:
    import pyarrow.compute as pc

    from .idsfile import ids_from_arrow

    arr = s.rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_struct(arr.type):
        names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
        if "ids" not in names:
            raise TypeError(f"column {s.name!r}: expected a Struct with fields ids and counts, got {s.dtype}")
        # a null struct is a null row whatever its fields hold
        null = arr.is_null()
        ids_a = pc.if_else(null, null_scalar(arr.type.field("ids").type), arr.field("ids"))
        cnt_a = (
            pc.if_else(null, null_scalar(arr.type.field("counts").type), arr.field("counts"))
            if "counts" in names
            else None
        )
    else:
        ids_a, cnt_a = arr, None
    if cnt_a is None and featuriser.counts:
        raise TypeError(
            f"column {s.name!r} holds ids without counts; a counts featuriser needs both "
            "(pool(ids, featuriser, counts=...) or a Struct{ids, counts})"
        )
    fp = ids_from_arrow(ids_a, cnt_a, params, where=f"column {s.name!r}", null_reason="missing ids")
    if strict and not fp.valid.all():
        raise InvalidMoleculeError(f"column {s.name!r}: null ids (strict featuriser; a non-strict one gives null)")
    return array_series(s.name, featuriser.featurise(fp).X, fp.valid)


@batched
def parse_batch(s: pl.Series, chirality: bool, fcfp: bool, n_jobs: int | None, what: str) -> pl.Series:
    flat = flatten(smiles(s), chirality=chirality, fcfp=fcfp, n_jobs=jobs(n_jobs, s.len()))
    if what == "valid":
        return pl.Series(s.name, flat.valid, dtype=pl.Boolean)
    return pl.Series(s.name, flat.errors.tolist(), dtype=pl.String)
