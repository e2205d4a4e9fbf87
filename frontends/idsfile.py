"""Stored ids: the Parquet files ``sortslice ids`` writes, read back as :class:`~sortslice.EcfpResult`.

Parsing molecules is ~90 % of a fingerprint's cost and pooling from ids ~30x cheaper, so a sweep over
lengths, pooling methods or cross-validation folds computes the ids once (``sortslice ids``) and pools
them many times.  The format is documented in ``schemas/ids-file.md``; its key-value metadata is
checked against ``schemas/ids.schema.json``.  One file holds one set of ECFP parameters (one radius).

Every check runs before any kernel sees the data, and every refusal is one line (:class:`IdsFileError`).

Examples
--------
>>> import os, tempfile
>>> import sortslice
>>> path = os.path.join(tempfile.mkdtemp(), "ids.parquet")
>>> sortslice.write_ids(sortslice.ecfp(["CCO", "c1ccccc1", "not a smiles"]), path)
>>> fp = sortslice.read_ids(path)
>>> len(fp), fp.valid.tolist(), fp.errors[2]
(3, [True, True, False], 'invalid SMILES: syntax error')
>>> ss = sortslice.SortSlice(length=8).fit(fp)
>>> (ss.transform(fp) == ss.transform(["CCO", "c1ccccc1", "not a smiles"])).all()
np.True_
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from .engine.fingerprint import EcfpParams, EcfpResult, checked_result, concat_results

__all__ = ["IdsBatch", "IdsFile", "IdsFileError", "ids_from_arrow", "iter_ids", "open_ids", "read_ids", "write_ids"]

#: the value of ``sortslice.format`` in an ids file's metadata
FORMAT = "sortslice-ids/1"
#: metadata keys (bytes in the Parquet footer; JSON values unless noted)
KEY_FORMAT, KEY_ECFP, KEY_VERSION, KEY_RDKIT = (
    "sortslice.format",
    "sortslice.ecfp",
    "sortslice.version",
    "sortslice.rdkit",
)
KEY_COMMAND, KEY_COLUMNS = "sortslice.command", "sortslice.columns"
#: the content digest of the ids, counts and errors (:class:`IdsDigest`) and the canary record
#: (``sortslice.engine.canaries``); files written before they existed have neither and still load
KEY_DIGEST, KEY_CANARIES = "sortslice.digest", "sortslice.canaries"
#: metadata keys whose values are JSON text
_JSON_KEYS = (KEY_ECFP, KEY_COLUMNS, KEY_CANARIES)
#: rows read at a time by :func:`iter_ids` (bounded memory, whatever the file's row groups)
BATCH_ROWS = 65_536


class IdsFileError(ValueError):
    """An ids file that cannot be used: not Parquet, not an ids file, tampered, or made for other parameters."""


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    from .schemas import load_schema

    schema = load_schema("ids.schema.json")
    return jsonschema.Draft202012Validator(schema)


@dataclass(frozen=True)
class IdsFile:
    """What an ids file's footer says: its parameters, columns and provenance (no rows are read)."""

    path: str
    params: EcfpParams
    num_rows: int
    #: columns other than ids/counts/error, in file order (the row key first when there is one)
    carried: tuple[str, ...]
    #: the column naming each row (``--id-column``), if carried
    id_column: str | None
    #: the column holding each row's SMILES, if the file keeps them (``--keep`` of the SMILES column)
    smiles_column: str | None
    has_error_column: bool
    sortslice_version: str
    rdkit_version: str
    metadata: dict = field(repr=False)
    #: the content digest the file records (None: a file from before digests), and whether a mismatch is
    #: accepted (``allow_edited``)
    digest: str | None = None
    allow_edited: bool = False


@dataclass(frozen=True)
class IdsBatch:
    """A run of consecutive rows of an ids file: ``fp`` (the ids) and the carried columns (pyarrow arrays)."""

    start: int
    fp: EcfpResult
    columns: dict

    def __len__(self) -> int:
        return len(self.fp)


def _fail(path: str, message: str):
    raise IdsFileError(f"{path}: {message}")


class IdsDigest:
    """The content digest of an ids file, fed row batches in order (independent of how rows are batched).

    SHA-256 over four streams, each hashed on its own: every row's number of ids (-1 for an invalid row),
    the ids and the counts (uint32 little-endian), and, when the file has an ``error`` column, each invalid
    row's reason (length-prefixed UTF-8).  ``hexdigest()`` is ``sha256:`` and the SHA-256 of the four.
    """

    def __init__(self, errors: bool = True):
        self._h = [hashlib.sha256() for _ in range(4)]
        self._errors = errors

    def update(self, indptr, ids, counts, valid, errors) -> None:
        lengths = np.diff(np.asarray(indptr, dtype=np.int64)).astype("<i8")
        lengths[~np.asarray(valid, dtype=bool)] = -1
        self._h[0].update(lengths.tobytes())
        self._h[1].update(np.ascontiguousarray(ids, dtype="<u4").tobytes())
        self._h[2].update(np.ascontiguousarray(counts, dtype="<u4").tobytes())
        if self._errors:
            for r in np.flatnonzero(~np.asarray(valid, dtype=bool)).tolist():
                text = str(errors[r]).encode("utf-8", "surrogatepass")
                self._h[3].update(len(text).to_bytes(8, "little") + text)

    def hexdigest(self) -> str:
        return "sha256:" + hashlib.sha256(b"".join(h.digest() for h in self._h)).hexdigest()


def _parquet_file(path: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        _fail(path, "No such file or directory")
    if os.path.isdir(path):
        _fail(path, "is a directory, not an ids file")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        _fail(path, f"not a Parquet file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def _metadata(path: str, raw: dict | None) -> dict:
    raw = raw or {}
    if KEY_ECFP.encode() not in raw:
        _fail(path, "not a sortslice ids file (no sortslice.ecfp in its Parquet metadata; `sortslice ids` writes them)")
    out = {}
    for k, v in raw.items():
        key = k.decode("utf-8", "replace")
        if not key.startswith("sortslice."):
            continue
        try:
            out[key] = json.loads(v) if key in _JSON_KEYS else v.decode("utf-8")
        except (UnicodeDecodeError, ValueError):
            _fail(path, f"metadata {key} is not valid {'JSON' if key in _JSON_KEYS else 'UTF-8'}")
    if out.get(KEY_COMMAND) != "ids":
        what = out.get(KEY_COMMAND)
        _fail(
            path,
            f"not an ids file: it was written by `sortslice {what}`"
            if isinstance(what, str)
            else "not an ids file (no sortslice.command = ids in its metadata)",
        )
    errors = sorted(_validator().iter_errors(out), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "metadata"
        _fail(path, f"metadata {where}: {e.message}")
    return out


def open_ids(path: str | os.PathLike, *, allow_edited: bool = False, strict_versions: bool = False) -> IdsFile:
    """Read and check an ids file's footer: metadata, parameters and column types. No rows are read.

    Raises :class:`IdsFileError` (one line) for a file that is not a sortslice ids file, whose metadata
    do not match ``schemas/ids.schema.json``, or whose columns do not have the documented types.

    A file written under another sortslice or RDKit version has its canary molecules recomputed: when some
    now give other ids, one :class:`~sortslice.VersionChangeWarning` says so (``strict_versions=True``: an
    :class:`IdsFileError`).  Reading the rows (:func:`iter_ids`, :func:`read_ids`) checks the content
    digest at the end; ``allow_edited=True`` accepts a file whose rows were changed on purpose.

    Parameters
    ----------
    path : str or os.PathLike
        The ids file (Parquet, as ``sortslice ids`` or :func:`write_ids` wrote it).
    allow_edited : bool, default False
        Accept a content digest that does not match when the rows are read (rows changed on purpose).
    strict_versions : bool, default False
        Raise :class:`IdsFileError` instead of warning when canary molecules give other ids under this
        sortslice or RDKit version.

    Returns
    -------
    IdsFile
        The footer's content: ``params`` (:class:`~sortslice.EcfpParams`), ``num_rows``, the carried
        columns and the id and SMILES columns, versions and metadata.
    """
    import pyarrow as pa

    path = os.fspath(path)
    pf = _parquet_file(path)
    schema = pf.schema_arrow
    raw = dict(schema.metadata or {})
    footer = pf.metadata.metadata or {}
    if KEY_DIGEST.encode() in footer:  # a streamed writer adds it to the footer once every row is written
        raw[KEY_DIGEST.encode()] = footer[KEY_DIGEST.encode()]
    meta = _metadata(path, raw)
    params = EcfpParams(**meta[KEY_ECFP])
    names = schema.names
    if len(set(names)) != len(names):
        _fail(path, "has duplicate column names")
    for name in ("ids", "counts"):
        if name not in names:
            _fail(path, f"has no {name!r} column")
        t = schema.field(name).type
        if not ((pa.types.is_list(t) or pa.types.is_large_list(t)) and t.value_type == pa.uint32()):
            _fail(path, f"column {name!r} must be List(UInt32), got {t}")
    has_error = "error" in names
    if has_error and not (
        pa.types.is_string(schema.field("error").type) or pa.types.is_large_string(schema.field("error").type)
    ):
        _fail(path, f"column 'error' must be String, got {schema.field('error').type}")
    carried = tuple(n for n in names if n not in ("ids", "counts", "error"))
    cols = meta.get(KEY_COLUMNS, {})
    id_column, smiles_column = cols.get("id"), cols.get("smiles")
    for role, col in (("id", id_column), ("smiles", smiles_column)):
        if col is not None and col not in carried:
            _fail(path, f"metadata names {col!r} as the {role} column, which the file does not have")
    if smiles_column is not None and not (
        pa.types.is_string(schema.field(smiles_column).type)
        or pa.types.is_large_string(schema.field(smiles_column).type)
    ):
        _fail(path, f"SMILES column {smiles_column!r} must be String, got {schema.field(smiles_column).type}")
    canaries = meta.get(KEY_CANARIES)
    if canaries is not None and len(canaries["smiles"]) != len(canaries["digests"]):
        _fail(path, "metadata sortslice.canaries: as many digests as molecules are needed")
    from .engine.canaries import check

    check(
        path,
        {"sortslice": meta[KEY_VERSION], "rdkit": meta[KEY_RDKIT]},
        canaries,
        params,
        strict=strict_versions,
        error=IdsFileError,
    )
    return IdsFile(
        path,
        params,
        pf.metadata.num_rows,
        carried,
        id_column,
        smiles_column,
        has_error,
        meta[KEY_VERSION],
        meta[KEY_RDKIT],
        meta,
        meta.get(KEY_DIGEST),
        allow_edited,
    )


def _lists(where: str, name: str, arr, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A List(UInt32) array -> (indptr int64 from 0, values uint32, null mask)."""
    import pyarrow as pa

    if not ((pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)) and arr.type.value_type == pa.uint32()):
        _fail(where, f"{name} must be List(UInt32), got {arr.type}")
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    values = np.asarray(arr.values)[offsets[0] : offsets[-1]]
    indptr = offsets - offsets[0]
    null = np.asarray(arr.is_null()) if arr.null_count else np.zeros(len(arr), dtype=bool)
    if arr.null_count:
        full = np.flatnonzero(null & (indptr[1:] > indptr[:-1]))
        if full.size:
            _fail(where, f"row {start + int(full[0])}: null {name} that hold values")
    return indptr, values, null


def ids_from_arrow(
    ids,
    counts,
    params: EcfpParams,
    *,
    error=None,
    where: str = "ids",
    start: int = 0,
    null_reason: str | None = None,
    smiles: np.ndarray | None = None,
) -> EcfpResult:
    """Stored ids as Arrow arrays (``ids``, ``counts``: List(UInt32); ``error``: String or None) -> a checked
    :class:`~sortslice.EcfpResult` with ``from_engine=True`` (every kernel precondition verified here).

    ``counts=None``: every count is 1 (enough for binary fingerprints).  A null row is invalid; its reason is
    ``error``'s entry, or ``null_reason`` when there is no error column (``None``: nulls are refused).
    Refusals are :class:`IdsFileError` naming ``where`` and the row (counted from ``start``).
    """
    ids_i, ids_v, null = _lists(where, "ids", ids, start)
    if counts is None:
        cnt_i, cnt_v, cnull = ids_i, np.ones(ids_v.shape[0], dtype=np.uint32), null
    else:
        cnt_i, cnt_v, cnull = _lists(where, "counts", counts, start)
    if not np.array_equal(null, cnull):
        _fail(where, f"row {start + int(np.flatnonzero(null != cnull)[0])}: ids and counts are not null together")
    if not np.array_equal(ids_i, cnt_i):
        _fail(where, f"row {start + int(np.flatnonzero(ids_i != cnt_i)[0]) - 1}: a different number of ids and counts")
    if cnt_v.size and cnt_v.min() == 0:
        bad = int(np.searchsorted(ids_i, int(np.flatnonzero(cnt_v == 0)[0]), side="right")) - 1
        _fail(where, f"row {start + bad}: a count of 0 (every stored id occurs at least once)")
    valid = ~null
    errors = np.full(len(valid), None, dtype=object)
    if error is not None:
        has_error = np.asarray(error.is_valid()) if error.null_count < len(error) else np.zeros(len(error), bool)
        mismatch = np.flatnonzero(has_error == valid)
        if mismatch.size:
            r = int(mismatch[0])
            _fail(where, f"row {start + r}: " + ("ids and an error" if valid[r] else "null ids without an error"))
        if not valid.all():
            errors = np.asarray(error.to_pylist(), dtype=object)
    elif not valid.all():
        if null_reason is None:
            _fail(where, f"row {start + int(np.flatnonzero(~valid)[0])}: null ids and no error column")
        errors[~valid] = null_reason
    fp = EcfpResult(ids_i, ids_v, cnt_v, valid, errors, params, smiles=smiles)
    try:
        return replace(checked_result(fp), from_engine=True)  # strictly ascending ids per row, CSR bounds
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if "row " in message:  # the checks count rows from this batch
            head, _, tail = message.rpartition("row ")
            row, _, rest = tail.partition(" ")
            if row.isdigit():
                message = f"{head}row {start + int(row)} {rest}".rstrip()
        _fail(where, message)


def _batch(info: IdsFile, batch, start: int) -> IdsBatch:
    smiles = None
    if info.smiles_column is not None:
        smiles = np.asarray(batch.column(info.smiles_column).to_pylist(), dtype=object)
    fp = ids_from_arrow(
        batch.column("ids"),
        batch.column("counts"),
        info.params,
        where=info.path,
        start=start,
        error=batch.column("error") if info.has_error_column else None,
        smiles=smiles,
    )
    return IdsBatch(start, fp, {c: batch.column(c) for c in info.carried})


def iter_ids(
    path: str | os.PathLike | IdsFile, *, batch_rows: int = BATCH_ROWS, columns: bool = True
) -> Iterator[IdsBatch]:
    """The file's rows in order, ``batch_rows`` at a time (memory bounded by the batch, not the file).

    Each batch is checked as it is read (ids strictly ascending per row, one count >= 1 per id, null ids
    exactly where the error column holds a reason); a bad row raises :class:`IdsFileError` naming it.
    ``columns=False`` skips the carried columns other than the SMILES (faster when only ids are needed).

    Parameters
    ----------
    path : str, os.PathLike or IdsFile
        The ids file (opened with :func:`open_ids`'s defaults), or what :func:`open_ids` returned for
        it (its ``allow_edited`` applies).
    batch_rows : int, default 65536
        Rows per batch.
    columns : bool, default True
        Read the carried columns too; False reads only the SMILES column among them.

    Yields
    ------
    IdsBatch
        ``start`` (the batch's first row), ``fp`` (an :class:`~sortslice.EcfpResult` of its rows) and
        ``columns`` (name -> pyarrow array).
    """
    info = path if isinstance(path, IdsFile) else open_ids(path)
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = ["ids", "counts"] + (["error"] if info.has_error_column else [])
    carried = info.carried if columns else tuple(c for c in info.carried if c == info.smiles_column)
    wanted += list(carried)
    if not columns:
        info = replace(info, carried=carried, id_column=info.id_column if info.id_column in carried else None)
    digest = IdsDigest(info.has_error_column) if info.digest is not None and not info.allow_edited else None
    start = 0
    try:
        for batch in pq.ParquetFile(info.path).iter_batches(batch_size=batch_rows, columns=wanted):
            out = _batch(info, batch, start)
            if digest is not None:
                fp = out.fp
                digest.update(fp.indptr, fp.ids, fp.counts, fp.valid, fp.errors)
            yield out
            start += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        _fail(info.path, f"cannot be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    if start != info.num_rows:
        _fail(info.path, f"holds {start:,} rows, its footer says {info.num_rows:,}")
    if digest is not None and digest.hexdigest() != info.digest:
        _fail(
            info.path,
            "the content digest does not match: its ids, counts or errors were changed after sortslice wrote "
            "them (if the change was deliberate, read it with allow_edited=True or --allow-edited)",
        )


def read_ids(
    path: str | os.PathLike,
    *,
    params: EcfpParams | dict | None = None,
    allow_edited: bool = False,
    strict_versions: bool = False,
) -> EcfpResult:
    """A whole ids file as one :class:`~sortslice.EcfpResult` (with ``smiles`` when the file keeps them).

    ``params``: the ECFP parameters the caller expects; a file made with others is refused with one line.
    For files larger than memory, stream them with :func:`iter_ids`.  ``allow_edited`` and
    ``strict_versions`` as :func:`open_ids`'s (the content digest is checked once every row is read).

    Parameters
    ----------
    path : str or os.PathLike
        The ids file.
    params : EcfpParams, dict or None, default None
        The ECFP parameters the file must have (:class:`IdsFileError` otherwise); None checks nothing.
    allow_edited, strict_versions : bool, default False
        As in :func:`open_ids`.
    """
    info = open_ids(path, allow_edited=allow_edited, strict_versions=strict_versions)
    if params is not None:
        check_params(info, params)
    parts = [b.fp for b in iter_ids(info, columns=False)]
    return concat_results(parts, info.params)


def check_params(info: IdsFile, expected: EcfpParams | dict, user: str = "this featuriser") -> None:
    """Refuse, in one line, ids computed with other ECFP parameters than ``expected``."""
    expected = expected if isinstance(expected, EcfpParams) else EcfpParams(**expected)
    if info.params != expected:
        from .engine.featurisers import params_mismatch

        raise IdsFileError(f"{info.path}: {params_mismatch(info.params, expected, user)}")


def ids_metadata(params: EcfpParams | dict, *, id_column: str | None = None, smiles_column: str | None = None) -> dict:
    """The key-value metadata of an ids file (values as the Parquet footer stores them, JSON for dicts)."""
    import rdkit

    from . import __version__
    from .engine.canaries import record

    p = params if isinstance(params, EcfpParams) else EcfpParams(**params)
    meta = {
        KEY_FORMAT: FORMAT,
        KEY_VERSION: __version__,
        KEY_RDKIT: rdkit.__version__,
        KEY_COMMAND: "ids",
        KEY_ECFP: p.to_dict(),
        KEY_CANARIES: record(p),
    }
    cols = {k: v for k, v in (("id", id_column), ("smiles", smiles_column)) if v is not None}
    if cols:
        meta[KEY_COLUMNS] = cols
    return meta


def write_ids(
    fp: EcfpResult,
    path: str | os.PathLike,
    *,
    columns: dict | None = None,
    id_column: str | None = None,
    smiles_column: str | None = None,
) -> None:
    """Write ``fp`` as an ids file (atomically: a temporary file renamed into place).

    ``columns``: extra columns (name -> sequence), e.g. the row keys (``id_column``) or the SMILES
    (``smiles_column``: lets a featuriser fitted on the file find example fragments).

    Parameters
    ----------
    fp : EcfpResult
        The ids to write (checked first, as results built by hand may be wrong).
    path : str or os.PathLike
        The Parquet file to write (replaced if it exists).
    columns : dict or None, default None
        Extra columns, name -> one value per row, written before ``ids``, ``counts`` and ``error``.
    id_column : str or None, default None
        Which of ``columns`` holds the row keys (recorded in the metadata).
    smiles_column : str or None, default None
        Which column holds the SMILES (recorded in the metadata); taken from ``fp.smiles`` when not in
        ``columns``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ._arrow import from_numpy, strings
    from .engine.atomic import atomic_write

    fp = checked_result(fp)
    columns = dict(columns or {})
    if smiles_column is not None and smiles_column not in columns and fp.smiles is not None:
        columns[smiles_column] = fp.smiles.tolist()
    # the caller's columns take any type pa.array infers; the rest is built without it (it imports pandas)
    arrays = {k: pa.array(list(v)) for k, v in columns.items()}
    null = None if fp.valid.all() else from_numpy(~fp.valid)
    offsets = from_numpy(np.asarray(fp.indptr, dtype=np.int64))
    arrays["ids"] = pa.LargeListArray.from_arrays(offsets, from_numpy(fp.ids), mask=null).cast(pa.list_(pa.uint32()))
    arrays["counts"] = pa.LargeListArray.from_arrays(offsets, from_numpy(fp.counts), mask=null).cast(
        pa.list_(pa.uint32())
    )
    arrays["error"] = strings([None if e is None else str(e) for e in fp.errors.tolist()])
    meta = ids_metadata(fp.params, id_column=id_column, smiles_column=smiles_column)
    digest = IdsDigest(errors=True)
    digest.update(fp.indptr, fp.ids, fp.counts, fp.valid, fp.errors)
    meta[KEY_DIGEST] = digest.hexdigest()
    table = pa.table(arrays).replace_schema_metadata(
        {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in meta.items()}
    )
    with atomic_write(os.fspath(path)) as fh:
        pq.write_table(table, fh)
