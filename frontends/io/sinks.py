"""Sinks: fingerprint tables and ids out (Parquet, CSV/TSV, ``.npy``, ``.npz``; ``-`` for stdout), chunk by chunk,
written to a temporary file beside the target and renamed over it only when everything succeeded
(:mod:`sortslice.engine.atomic`, the one atomic-file helper, shared with saved models and ids files).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

# Arrow arrays from buffers, not pa.array/pa.scalar (which import pandas, ~0.6 s of a command)
from .._arrow import fixed_width_text, from_numpy, scalar_text, strings
from ..engine.atomic import AtomicFile as _AtomicFile
from ..engine.atomic import WriteError
from ..engine.csr import select_rows
from .errors import fail

OUTPUT_FORMATS = ("parquet", "csv", "tsv", "npy", "npz")
_OUTPUT_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".npy": "npy",
    ".npz": "npz",
}
#: columns every output has of its own; carried columns may not use these names
RESERVED_COLUMNS = ("fingerprint", "ids", "counts", "error")


# =========================================================================== outputs
def guess_output_format(path: str, requested: str | None) -> str:
    if requested:
        return requested
    if path == "-":
        return "parquet"
    base = path[:-3] if path.lower().endswith(".gz") else path
    ext = os.path.splitext(base)[1].lower()
    if ext in _OUTPUT_EXTENSIONS:
        return _OUTPUT_EXTENSIONS[ext]
    if not ext:
        return "parquet"
    fail(f"cannot tell the output format of {path} from its extension; use --format ({'|'.join(OUTPUT_FORMATS)})")


class AtomicFile(_AtomicFile):
    """The engine's :class:`~sortslice.engine.atomic.AtomicFile`, refusing an unwritable path with a
    :class:`FileError`."""

    def __init__(self, path: str):
        try:
            super().__init__(path)
        except WriteError as exc:
            fail(str(exc))


@contextlib.contextmanager
def writing(path: str):
    """Report a failed write (a full disk, a file size limit, an I/O error) as one line naming the output.

    A closed stdout (``... | head``) is left to click, which exits quietly.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        reason = os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
        fail(f"cannot write {'stdout' if path == '-' else path}: {reason}")


class _CountingStream:
    """A write-only stream that knows its position (Parquet asks; a pipe cannot tell)."""

    def __init__(self, raw):
        self.raw = raw
        self.pos = 0
        self.closed = False

    def write(self, data) -> int:
        self.raw.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.flush()
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


@dataclass(frozen=True)
class Fingerprints:
    """What a pooled output holds: ``length`` columns of ``dtype`` (counts or 0/1).

    Attributes
    ----------
    length : int
        Columns per fingerprint (the featuriser's ``length``).
    dtype : numpy.dtype
        The fingerprint's element type.
    counts : bool
        Whether the values are counts (written space-separated in CSV/TSV) or 0/1 bits (a ``"0110..."``
        string).
    """

    length: int
    dtype: np.dtype
    counts: bool


#: the payload of ``sortslice ids``: unfolded ids and counts per row
IDS = "ids"


@dataclass
class Part:
    """One chunk's output rows: carried columns plus either a pooled matrix or unfolded ids.

    Attributes
    ----------
    columns : dict
        The carried columns, name -> pyarrow Array (one entry per row).
    valid : numpy.ndarray
        One bool per row.
    errors : numpy.ndarray
        Why each row is invalid (None where valid).
    X : numpy.ndarray, scipy.sparse.csr_matrix or None, default None
        The pooled fingerprints ``(rows, length)``, for a :class:`Fingerprints` payload.
    indptr, ids, counts : numpy.ndarray or None, default None
        The unfolded ids as CSR (``indptr`` need not start at 0), for the ids payload.
    """

    columns: dict  # name -> pyarrow Array
    valid: np.ndarray  # bool per row
    errors: np.ndarray  # reason per row (None where valid)
    X: object = None  # dense ndarray or scipy CSR, (rows, length)
    indptr: np.ndarray | None = None
    ids: np.ndarray | None = None
    counts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def take(self, keep: np.ndarray) -> Part:
        """The rows where ``keep`` is True."""
        mask = from_numpy(keep)
        cols = {k: v.filter(mask) for k, v in self.columns.items()}
        X = None if self.X is None else self.X[keep]
        indptr = ids = counts = None
        if self.indptr is not None:
            indptr, take = select_rows(self.indptr, keep)
            ids, counts = self.ids[take], self.counts[take]
        return Part(cols, self.valid[keep], self.errors[keep], X, indptr, ids, counts)


def _list_array(indptr, values, valid):
    import pyarrow as pa

    offsets = from_numpy(np.asarray(indptr - indptr[0], dtype=np.int32))
    mask = None if valid.all() else from_numpy(~valid)
    return pa.ListArray.from_arrays(offsets, from_numpy(values), mask=mask)


def _fixed_list_array(X, valid):
    import pyarrow as pa

    X = np.ascontiguousarray(X)
    mask = None if valid.all() else from_numpy(~valid)
    return pa.FixedSizeListArray.from_arrays(from_numpy(X.reshape(-1)), X.shape[1], mask=mask)


def _error_array(errors):
    import pyarrow as pa

    if not any(e is not None for e in errors.tolist()):
        return pa.nulls(len(errors), type=pa.string())
    return strings([None if e is None else str(e) for e in errors.tolist()])


class Sink:
    """Where a command's rows go.  ``payload`` is :data:`IDS` or a :class:`Fingerprints`."""

    wants_sparse = False
    can_hold_null = True

    def __init__(
        self, path: str, fmt: str, payload, carried_types: dict, error_column: bool, metadata: dict | None = None
    ):
        self.path = path
        self.format = fmt
        self.payload = payload
        self.carried_types = carried_types
        self.error_column = error_column and self.can_hold_null
        self.metadata = metadata or {}
        self.rows = 0
        self.atomic = None
        if path == "-":
            self.stream = sys.stdout.buffer
        else:
            self.atomic = AtomicFile(path)
            self.stream = self.atomic.file
        #: a regular (temporary) file, which writers may seek in; stdout and pipes are written front to back
        self.seekable = self.atomic is not None and self.atomic.tmp is not None

    def write(self, part: Part) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    def close(self) -> None:
        """Finish the file and put it in place."""
        self._finish()
        if self.atomic is not None:
            self.atomic.commit()
        else:
            self.stream.flush()

    def abort(self) -> None:
        if self.atomic is not None:
            self.atomic.abort()


def output_schema(payload, carried_types: dict, error_column: bool, metadata: dict | None = None, text: bool = False):
    """The Arrow schema of an output table: carried columns, the payload's, ``error``; ``metadata`` as JSON text.

    What :class:`ParquetSink` writes, so a part of a folder can be checked against it.
    """
    import pyarrow as pa

    fields = [pa.field(c, t) for c, t in carried_types.items()]
    if payload == IDS:
        t = pa.string() if text else pa.list_(pa.uint32())
        fields += [pa.field("ids", t), pa.field("counts", t)]
    else:
        t = pa.string() if text else pa.list_(pa.from_numpy_dtype(np.dtype(payload.dtype)), payload.length)
        fields.append(pa.field("fingerprint", t))
    if error_column:
        fields.append(pa.field("error", pa.string()))
    meta = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (metadata or {}).items()}
    return pa.schema(fields, metadata=meta or None)


class ArrowSink(Sink):
    """Parquet or CSV/TSV through Arrow writers, one chunk at a time."""

    def schema(self, text: bool):
        return output_schema(self.payload, self.carried_types, self.error_column, self.metadata, text)

    def _table(self, part: Part, text: bool):
        import pyarrow as pa

        arrays = [part.columns[c] for c in self.carried_types]
        if self.payload == IDS:
            ids = _list_array(part.indptr, part.ids, part.valid)
            counts = _list_array(part.indptr, part.counts, part.valid)
            arrays += [_join_lists(ids), _join_lists(counts)] if text else [ids, counts]
        else:
            arrays.append(
                _fingerprint_text(part.X, self.payload.counts, part.valid)
                if text
                else _fixed_list_array(part.X, part.valid)
            )
        if self.error_column:
            arrays.append(_error_array(part.errors))
        return pa.Table.from_arrays(arrays, schema=self._schema)


class ParquetSink(ArrowSink):
    def __init__(self, *args, **kwargs):
        import pyarrow.parquet as pq

        super().__init__(*args, **kwargs)
        self._schema = self.schema(text=False)
        target = self.stream if self.seekable else _CountingStream(self.stream)
        # statistics of a fingerprint/list column are meaningless and cost time
        stats = [c for c in self.carried_types] + (["error"] if self.error_column else [])
        # page checksums: a damaged file (a part checked before a resumed run trusts it) fails to read
        self.writer = pq.ParquetWriter(
            target,
            self._schema,
            compression="zstd",
            use_dictionary=stats or False,
            write_statistics=stats or False,
            write_page_checksum=True,
        )
        #: key-value pairs added to the file's footer at the end (what a part of a folder was made from:
        #: known only once every row is written; not part of the Arrow schema's metadata)
        self.footer: dict = {}
        #: an ids file's content digest, fed every row written (``sortslice.digest`` in the footer)
        self.digest = None
        if self.payload == IDS:
            from ..idsfile import IdsDigest

            self.digest = IdsDigest(errors=self.error_column)

    def abort(self) -> None:
        _close_quietly(self.writer)
        super().abort()

    #: values (fingerprint entries) per row group: Arrow's Parquet writer holds several
    #: times a row group's values in temporary buffers (~1 GB for 100,000 rows x 1024 bits)
    GROUP_VALUES = 1 << 23
    #: rows per row group of an ids table (~45 ids a drug-sized molecule: ~6 M values)
    GROUP_ROWS_IDS = 1 << 17

    def _group_rows(self) -> int:
        if self.payload == IDS:
            return self.GROUP_ROWS_IDS
        return max(1, self.GROUP_VALUES // max(1, int(self.payload.length)))

    def write(self, part: Part) -> None:
        # rows are regrouped into row groups of a fixed size, so the file's bytes do not
        # depend on --chunk-size (or on how a stream was cut into chunks)
        import pyarrow as pa

        pending = getattr(self, "_pending", None)
        table = self._table(part, text=False)
        pending = table if pending is None else pa.concat_tables([pending, table])
        if self.digest is not None:
            self.digest.update(part.indptr, part.ids, part.counts, part.valid, part.errors)
        rows = self._group_rows()
        start = 0
        while pending.num_rows - start >= rows:
            self._write_group(pending.slice(start, rows))
            start += rows
        self._pending = pending.slice(start) if start else pending
        self.rows += len(part)

    def _write_group(self, table) -> None:
        self.writer.write_table(table.combine_chunks(), row_group_size=max(1, table.num_rows))
        self._groups = getattr(self, "_groups", 0) + 1

    def _finish(self) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None and (pending.num_rows or not getattr(self, "_groups", 0)):
            self._write_group(pending)
        self._pending = None
        if self.digest is not None:
            from ..idsfile import KEY_DIGEST

            self.footer[KEY_DIGEST] = self.digest.hexdigest()
        if self.footer:
            self.writer.add_key_value_metadata(self.footer)
        self.writer.close()


class DelimitedSink(ArrowSink):
    """CSV/TSV: fingerprints as 0/1 strings (counts space-separated), ids space-separated; ``.gz`` compresses."""

    def __init__(self, *args, **kwargs):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        super().__init__(*args, **kwargs)
        self._schema = self.schema(text=True)
        out = pa.PythonFile(self.stream if self.seekable else _CountingStream(self.stream), mode="w")
        self._raw_out = out
        if self.path.lower().endswith(".gz"):
            out = pa.CompressedOutputStream(out, "gzip")
        self._out = out
        options = pcsv.WriteOptions(delimiter="\t" if self.format == "tsv" else ",", quoting_style="needed")
        self.writer = pcsv.CSVWriter(out, self._schema, write_options=options)

    def abort(self) -> None:
        _close_quietly(self.writer)
        super().abort()

    def write(self, part: Part) -> None:
        self.writer.write_table(self._table(part, text=True))
        self.rows += len(part)

    def _finish(self) -> None:
        self.writer.close()
        if self._out is not self._raw_out:
            self._out.close()  # flushes the gzip trailer


def _close_quietly(writer) -> None:
    """Close an Arrow writer of an output being thrown away (so it does not try again when collected)."""
    try:
        writer.close()
    except Exception:
        pass


def _join_lists(arr):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join(arr.cast(pa.list_(pa.string())), scalar_text(" "))


def _fingerprint_text(X, counts: bool, valid):
    """Binary rows as ``"0110..."``; count rows as space-separated integers; null where invalid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, length = X.shape
    X = np.ascontiguousarray(X)
    if not counts:
        text = (X.astype(np.uint8, copy=False) + np.uint8(48)).view(f"S{length}").reshape(n)
        return fixed_width_text(text, valid)
    offsets = from_numpy(np.arange(n + 1, dtype=np.int64) * length)
    lists = pa.LargeListArray.from_arrays(
        offsets, from_numpy(X.reshape(-1)).cast(pa.string()), mask=None if valid.all() else from_numpy(~valid)
    )
    return pc.binary_join(lists, scalar_text(" "))  # a Python str here would import pandas


class NpySink(Sink):
    """A dense ``.npy`` written row block by row block; the header is rewritten with the final shape."""

    can_hold_null = False
    _HEADER = 128

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.payload == IDS:
            fail("unfolded ids have no fixed columns: write them as .parquet, .csv or .npz, not .npy")
        self.dtype = np.dtype(self.payload.dtype)
        self.length = self.payload.length
        self.target = self.stream if self.seekable else tempfile.TemporaryFile()
        self.target.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        from numpy.lib import format as npf

        d = {"descr": npf.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (rows, self.length)}
        text = repr(d).encode("latin1")
        body = self._HEADER - 10
        return b"\x93NUMPY\x01\x00" + body.to_bytes(2, "little") + text.ljust(body - 1) + b"\n"

    def write(self, part: Part) -> None:
        X = part.X.toarray() if hasattr(part.X, "toarray") else part.X
        self.target.write(np.ascontiguousarray(X, dtype=self.dtype).tobytes())
        self.rows += len(part)

    def _finish(self) -> None:
        self.target.flush()
        self.target.seek(0)
        self.target.write(self._header(self.rows))
        if not self.seekable:
            self.target.seek(0)
            while block := self.target.read(1 << 20):
                self.stream.write(block)
            self.target.close()


class NpzSink(Sink):
    """A SciPy sparse CSR matrix (``scipy.sparse.save_npz``); rows are gathered until the end."""

    can_hold_null = False
    wants_sparse = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parts = []

    def write(self, part: Part) -> None:
        import scipy.sparse as sp

        if self.payload == IDS:
            n = len(part)
            m = sp.csr_matrix((part.counts, part.ids.astype(np.int64), part.indptr - part.indptr[0]), shape=(n, 2**32))
        else:
            m = part.X if hasattr(part.X, "tocsr") else sp.csr_matrix(part.X)
        self.parts.append(m.tocsr())
        self.rows += len(part)

    def _finish(self) -> None:
        import scipy.sparse as sp

        if self.payload == IDS:
            width, dtype = 2**32, np.uint32
        else:
            width, dtype = self.payload.length, self.payload.dtype
        matrix = sp.vstack(self.parts, format="csr") if self.parts else sp.csr_matrix((0, width), dtype=dtype)
        if self.seekable:
            sp.save_npz(self.stream, matrix)
        else:
            buf = io.BytesIO()
            sp.save_npz(buf, matrix)
            self.stream.write(buf.getvalue())


_SINKS = {"parquet": ParquetSink, "csv": DelimitedSink, "tsv": DelimitedSink, "npy": NpySink, "npz": NpzSink}


def open_output(
    path: str, fmt: str | None, payload, carried_types: dict, error_column: bool, metadata: dict | None = None
) -> Sink:
    """Check the output can be written (before any work), and return the sink for it.

    Parameters
    ----------
    path : str
        The output file, written to a temporary file renamed into place on ``close()``; ``-`` is stdout.
    fmt : {"parquet", "csv", "tsv", "npy", "npz"} or None
        The format; ``None`` guesses it from the extension (``.gz`` ignored; Parquet for stdout or no
        extension).
    payload : Fingerprints or "ids"
        What each row holds: pooled fingerprints, or unfolded ids and counts (not for ``.npy``).
    carried_types : dict
        The carried columns, name -> pyarrow type, written first (not named like an output column).
    error_column : bool
        Write an ``error`` column (Parquet and CSV/TSV only; ``.npy``/``.npz`` cannot hold it).
    metadata : dict or None, default None
        Key-value metadata of a Parquet table (values other than strings are stored as JSON).

    Returns
    -------
    Sink
        ``write(part)`` for each :class:`Part`, then ``close()`` (or ``abort()`` on failure).
    """
    fmt = guess_output_format(path, fmt)
    for c in carried_types:
        if c in RESERVED_COLUMNS:
            fail(f"cannot carry a column named {c!r}: the output has a {c!r} column of its own")
    if path == "-" and fmt in ("parquet", "npy", "npz") and sys.stdout.isatty():
        fail(f"refusing to write {fmt} to a terminal; use -o FILE, redirect stdout or --format csv")
    return _SINKS[fmt](path, fmt, payload, carried_types, error_column, metadata)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Small outputs (drawings, models) written all at once, atomically; ``-`` is stdout."""
    if path == "-":
        stream = sys.stdout.buffer
        stream.write(data)
        stream.flush()
        return
    out = AtomicFile(path)
    try:
        with writing(path):
            out.file.write(data)
            out.commit()
    except BaseException:
        out.abort()
        raise
