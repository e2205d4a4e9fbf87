"""Readers: molecule files (CSV, TSV, ``.smi``, SDF, Parquet, ids files; gzip or not; ``-`` for stdin) read
chunk by chunk, with the columns carried through and the checks that name the file, before any work.

Every problem a user can cause raises :class:`~sortslice.io.FileError` with one line that names the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import sys
import warnings
import zlib
from dataclasses import dataclass, field

from .._arrow import strings  # carried columns: not pa.array, which imports pandas (~0.6 s per command)
from ..engine.config import DEFAULT_CHUNK_SIZE
from ..engine.parse import ASCII_SPACE
from .errors import FileError, InputNote, fail
from .sniff import (
    PARQUET_MAGIC,
    check_columns,
    first_line_is_header,
    guess_input_format,
    is_molecule,
    pick_smiles_column,
)

OUTPUT_FORMATS = ("parquet", "csv", "tsv", "npy", "npz")

_OUTPUT_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".npy": "npy",
    ".npz": "npz",
}
_GZIP_MAGIC = b"\x1f\x8b"
#: columns every output has of its own; carried columns may not use these names
RESERVED_COLUMNS = ("fingerprint", "ids", "counts", "error")
#: bytes Arrow reads from a CSV/TSV at a time
CSV_BLOCK_SIZE = 1 << 22
#: what separates a .smi line's SMILES from its name: ASCII whitespace, as RDKit reads them
_ASCII_SPACE_RUN = re.compile(f"[{re.escape(ASCII_SPACE)}]+")
#: errors that mean "the bytes of this file are not what they claim to be"
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError)


# ============================================================================ inputs
@dataclass
class Chunk:
    """Consecutive input rows: their molecules and the columns carried through.

    Attributes
    ----------
    start : int
        Index of the chunk's first row in the whole input (0-based).
    molecules : list or EcfpResult
        SMILES strings or mol blocks, ``""`` where the cell is empty; from an ids file, the stored ids
        (an :class:`~sortslice.EcfpResult`).
    columns : dict, default {}
        The carried columns, name -> pyarrow Array.
    names : list or None, default None
        Row names for messages (the id column, or the ``.smi``/SDF titles), or None.
    """

    start: int  # index of the first row in the whole input (0-based)
    molecules: list  # SMILES strings or mol blocks; "" when the cell is empty
    columns: dict = field(default_factory=dict)  # name -> pyarrow Array (carried, label and id columns)
    names: list | None = None  # row names for messages (id column, or .smi/SDF titles)

    def __len__(self) -> int:
        return len(self.molecules)


class Source:
    """An opened input: a (decompressed) binary stream and how far through the file we are."""

    def __init__(self, path: str):
        self.path = path
        self.name = "<stdin>" if path == "-" else path
        self.size = None
        if path == "-":
            raw = sys.stdin.buffer
        else:
            try:
                raw = open(path, "rb")
            except OSError as exc:
                fail(f"cannot read {path}: {exc.strerror or exc}")
            self.size = os.fstat(raw.fileno()).st_size
        self.raw = raw
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        buffered = self.raw if hasattr(self.raw, "peek") else io.BufferedReader(self.raw)
        try:
            head = buffered.peek(2)[:2]
        except OSError as exc:
            fail(f"cannot read {self.name}: {exc.strerror or exc}")
        self.gzip = head == _GZIP_MAGIC
        self.stream = io.BufferedReader(gzip.GzipFile(fileobj=buffered, mode="rb")) if self.gzip else buffered
        try:
            first = self.stream.peek(4096)
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
            fail(f"{self.name}: not a valid gzip file ({exc})")
        if not first:
            fail(f"{self.name}: the file is empty")
        self.head = first

    def position(self) -> int | None:
        """Bytes of the file (compressed, as stored) consumed so far."""
        if self.size is None:
            return None
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self.path != "-":
            self.raw.close()


class Reader:
    """Chunks of an input file; subclasses know one format.

    ``carry`` names the columns to bring along (id column first, ``--keep`` columns,
    a label); ``name_column`` the one used to name rows in messages.
    """

    kind = "smiles"
    total_rows: int | None = None

    def __init__(
        self,
        source: Source,
        fmt: str,
        smiles_column: str | None,
        carry: list[str],
        name_column: str | None,
        chunk_size: int,
    ):
        self.source = source
        self.format = fmt
        self.chunk_size = int(chunk_size)
        self.carry = list(dict.fromkeys(carry))
        self.name_column = name_column
        # columns to check and read: carried ones plus the one naming rows in messages
        self.wanted = list(dict.fromkeys(self.carry + ([name_column] if name_column else [])))
        self.rows_read = 0

    # subclasses fill these in
    columns: list[str] = []
    molecule_column: str = ""

    def carried_types(self) -> dict:
        """pyarrow type of every carried column (text formats carry text)."""
        import pyarrow as pa

        return {c: pa.string() for c in self.carry}

    def __iter__(self):
        try:
            yield from self._chunks()
        except FileError:
            raise
        except gzip.BadGzipFile as exc:
            fail(f"{self.source.name}: not a valid gzip file ({exc})")
        except _READ_ERRORS as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            fail(f"{self.source.name}: cannot read {self.format.upper()} after row {self.rows_read:,}: {reason}")

    def _chunks(self):
        raise NotImplementedError


def _arrow_chunks(batches, chunk_size: int):
    """Regroup record batches into tables of exactly ``chunk_size`` rows (the last may be shorter)."""
    import pyarrow as pa

    pending, n = [], 0
    for b in batches:
        if b.num_rows == 0:
            continue
        pending.append(b)
        n += b.num_rows
        while n >= chunk_size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_size)
            rest = table.slice(chunk_size)
            pending = rest.to_batches() if rest.num_rows else []
            n -= chunk_size
    if n:
        yield pa.Table.from_batches(pending)


class _ArrowReader(Reader):
    """Shared by CSV/TSV and Parquet: a molecule column plus carried columns, all Arrow."""

    def _from_tables(self, tables):
        for table in tables:
            mols = table.column(self.molecule_column)
            # an empty cell is an empty SMILES ("" keeps whole batches on the parallel parser)
            molecules = ["" if m is None else m for m in mols.to_pylist()]
            columns = {c: table.column(c).combine_chunks() for c in self.carry}
            names = None
            if self.name_column is not None:
                names = table.column(self.name_column).to_pylist()
            chunk = Chunk(self.rows_read, molecules, columns, names)
            self.rows_read += len(molecules)
            yield chunk


class _Prepended(io.RawIOBase):
    """``first`` (bytes already read), then the rest of ``stream``: a first line given back to the CSV reader."""

    def __init__(self, first: bytes, stream):
        self.first = first
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.first:
            n = min(len(b), len(self.first))
            b[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        data = self.stream.read1(len(b)) if hasattr(self.stream, "read1") else self.stream.read(len(b))
        b[: len(data)] = data
        return len(data)


class DelimitedReader(_ArrowReader):
    """CSV/TSV, read by Arrow block by block; every column is read as text.

    The first line is a header unless the evidence says it is data (:func:`first_line_is_header`);
    a file without one has columns ``column_1``, ``column_2``, ... (as Polars names them), and the
    molecules are read from the first line.  A guess is said once as a :class:`~sortslice.io.InputNote`.
    """

    def __init__(self, source, fmt, smiles_column, carry, name_column, chunk_size):
        super().__init__(source, fmt, smiles_column, carry, name_column, chunk_size)
        self.delimiter = "\t" if fmt == "tsv" else ","
        try:
            line = source.stream.readline()
            header = line.decode("utf-8-sig")
        except _READ_ERRORS as exc:
            fail(f"{source.name}: cannot read the header ({exc})")
        names = next(csv.reader([header.rstrip("\r\n")], delimiter=self.delimiter), [])
        if not names or not any(n.strip() for n in names):
            fail(f"{source.name}: the first line should be a header of column names")
        is_header, note = first_line_is_header(names, smiles_column, self.wanted)
        self.has_header = is_header
        if not is_header:
            molecule = next((i for i, c in enumerate(names) if is_molecule(c)), 0)
            cells = names
            names = [f"column_{i + 1}" for i in range(len(cells))]
            if smiles_column is None:
                smiles_column = names[molecule]
            # the line is data: give it back to the CSV reader (without a byte-order mark)
            source.stream = io.BufferedReader(_Prepended(header.encode("utf-8"), source.stream))
            where = f" (molecules in {smiles_column})" if smiles_column in names else ""
            note = (
                f"{source.name}: {note}; the columns are named {', '.join(names)}{where}. "
                "If the first line is a header, name its SMILES column with --smiles-column"
            )
            warnings.warn(InputNote(note), stacklevel=2)
        dupes = sorted({n for n in names if names.count(n) > 1})
        self.columns = names
        self.molecule_column = pick_smiles_column(names, smiles_column, source.name)
        check_columns(names, self.wanted, source.name)
        used = [n for n in dupes if n in {self.molecule_column, *self.wanted}]
        if used:
            fail(f"{source.name}: column name {used[0]!r} appears more than once in the header")

    def _chunks(self):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        if self.has_header and not self.source.stream.peek(1):
            return  # a header and no rows: no molecules (Arrow calls this an empty CSV)
        wanted = list(dict.fromkeys([self.molecule_column, *self.wanted]))
        reader = pcsv.open_csv(
            self.source.stream,
            read_options=pcsv.ReadOptions(column_names=self.columns, block_size=CSV_BLOCK_SIZE),
            # a quoted cell may hold newlines: blocks must end between records, not inside a cell
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        try:
            yield from self._from_tables(_arrow_chunks(reader, self.chunk_size))
        except pa.ArrowInvalid as exc:
            reason = str(exc).strip().splitlines()[0]
            fail(f"{self.source.name}: cannot read {self.format.upper()} after row {self.rows_read:,}: {reason}")


class ParquetReader(_ArrowReader):
    """Parquet, reading only the needed columns, row group by row group."""

    def __init__(self, source, fmt, smiles_column, carry, name_column, chunk_size):
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(source, fmt, smiles_column, carry, name_column, chunk_size)
        if source.path != "-" and not source.gzip:
            src = source.raw
            src.seek(0)
        else:  # Parquet needs random access: a pipe or .gz is read into memory
            src = io.BytesIO(source.stream.read())
        try:
            self.file = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError) as exc:
            fail(f"{source.name}: not a Parquet file ({str(exc).strip().splitlines()[0]})")
        schema = self.file.schema_arrow
        self.columns = list(schema.names)
        self.molecule_column = pick_smiles_column(self.columns, smiles_column, source.name)
        mtype = schema.field(self.molecule_column).type
        if not (
            pa.types.is_string(mtype)
            or pa.types.is_large_string(mtype)
            or getattr(pa.types, "is_string_view", lambda t: False)(mtype)
        ):
            fail(f"{source.name}: column {self.molecule_column!r} holds {mtype}, not SMILES text")
        check_columns(self.columns, self.wanted, source.name)
        self.schema = schema
        self.total_rows = self.file.metadata.num_rows

    def carried_types(self) -> dict:
        return {c: self.schema.field(c).type for c in self.carry}

    def _chunks(self):
        import pyarrow as pa

        wanted = list(dict.fromkeys([self.molecule_column, *self.wanted]))
        batches = self.file.iter_batches(batch_size=min(self.chunk_size, 1 << 16), columns=wanted)

        def as_text(tables):
            for t in tables:
                col = t.column(self.molecule_column)
                if not pa.types.is_string(col.type):
                    t = t.set_column(
                        t.schema.get_field_index(self.molecule_column), self.molecule_column, col.cast(pa.string())
                    )
                yield t

        try:
            yield from self._from_tables(as_text(_arrow_chunks(batches, self.chunk_size)))
        except (pa.ArrowInvalid, OSError) as exc:
            fail(
                f"{self.source.name}: cannot read Parquet after row {self.rows_read:,}: "
                f"{str(exc).strip().splitlines()[0]}"
            )


class SmiReader(Reader):
    """``.smi``: a SMILES, then optionally whitespace and a name (the rest of the line).

    Columns ``smiles`` and ``name``.  A first line whose first word is ``smiles`` is
    a header; blank lines are skipped.
    """

    columns = ["smiles", "name"]
    molecule_column = "smiles"

    def __init__(self, source, fmt, smiles_column, carry, name_column, chunk_size):
        super().__init__(source, fmt, smiles_column, carry, name_column, chunk_size)
        if smiles_column not in (None, "smiles"):
            fail(
                f"{source.name}: a .smi file has the columns smiles and name; --smiles-column {smiles_column!r} "
                f"does not apply"
            )
        check_columns(self.columns, self.wanted, source.name)

    def _chunks(self):
        text = io.TextIOWrapper(self.source.stream, encoding="utf-8", newline=None)
        smiles: list[str] = []
        names: list = []
        first = True
        for line in text:
            # fields split on ASCII whitespace only, as RDKit's SMILES reader does: str.split() would also
            # split on Unicode spaces (U+00A0, U+3000, ...) and silently read part of a SMILES as a name
            line = line.strip(ASCII_SPACE)
            if not line:
                continue
            parts = _ASCII_SPACE_RUN.split(line, maxsplit=1)
            if first:
                first = False
                if parts[0].lower() == "smiles":
                    continue
            smiles.append(parts[0])
            names.append(parts[1] if len(parts) > 1 else None)
            if len(smiles) == self.chunk_size:
                yield self._chunk(smiles, names)
                smiles, names = [], []
        if smiles:
            yield self._chunk(smiles, names)

    def _chunk(self, smiles, names):
        cols = {"smiles": smiles, "name": names}
        chunk = Chunk(
            self.rows_read,
            smiles,
            {c: strings(cols[c]) for c in self.carry},
            names if self.name_column else None,
        )
        self.rows_read += len(smiles)
        return chunk


_FIELD = re.compile(r"^>.*?<([^>]*)>")


def _sdf_record(lines: list[str]):
    """(mol block, title, {data field: value}) of one SDF record's lines (without ``$$$$``)."""
    end = next((i for i, line in enumerate(lines) if line.startswith("M  END")), None)
    if end is None:
        return "".join(lines), (lines[0].strip() if lines else None), {}
    block = "".join(lines[: end + 1])
    data: dict[str, str] = {}
    i = end + 1
    while i < len(lines):
        m = _FIELD.match(lines[i])
        i += 1
        if not m:
            continue
        value = []
        while i < len(lines) and lines[i].strip():
            value.append(lines[i].rstrip("\r\n"))
            i += 1
        data.setdefault(m.group(1), "\n".join(value))
    return block, lines[0].rstrip("\r\n").strip(), data


class SdfReader(Reader):
    """SDF: records split on ``$$$$``; the mol block goes to the engine (``kind="molblock"``).

    Columns: ``name`` (the title line) and the data fields (``> <FIELD>``); the fields
    of the first record are checked against the requested columns.
    """

    kind = "molblock"
    molecule_column = "molblock"

    def __init__(self, source, fmt, smiles_column, carry, name_column, chunk_size):
        super().__init__(source, fmt, smiles_column, carry, name_column, chunk_size)
        if smiles_column is not None:
            fail(f"{source.name}: --smiles-column does not apply to SDF input (molecules are read from the mol blocks)")
        self._records = self._iter_records()
        try:
            self._first = next(self._records, None)
        except _READ_ERRORS as exc:
            fail(f"{source.name}: cannot read SDF: {exc}")
        fields = list(self._first[2]) if self._first else []
        self.columns = ["name", *fields]
        check_columns(self.columns, self.wanted, source.name)

    def _iter_records(self):
        text = io.TextIOWrapper(self.source.stream, encoding="utf-8", errors="strict", newline=None)
        lines: list[str] = []
        for line in text:
            if line.startswith("$$$$"):
                yield _sdf_record(lines)
                lines = []
            else:
                lines.append(line)
        if any(line.strip() for line in lines):
            yield _sdf_record(lines)

    def _chunks(self):
        records = self._records if self._first is None else _prepend(self._first, self._records)
        self._first = None
        blocks, rows = [], []
        for rec in records:
            blocks.append(rec[0])
            rows.append(rec)
            if len(blocks) == self.chunk_size:
                yield self._chunk(blocks, rows)
                blocks, rows = [], []
        if blocks:
            yield self._chunk(blocks, rows)

    def _value(self, rec, column):
        return rec[1] if column == "name" else rec[2].get(column)

    def _chunk(self, blocks, rows):
        cols = {c: strings([self._value(r, c) for r in rows]) for c in self.carry}
        names = [self._value(r, self.name_column) for r in rows] if self.name_column else None
        chunk = Chunk(self.rows_read, blocks, cols, names)
        self.rows_read += len(blocks)
        return chunk


class IdsReader(Reader):
    """An ids file (``sortslice ids`` output): chunks hold stored ids (an EcfpResult), nothing is parsed.

    The file's row key column (``sortslice.columns``) names rows and is carried first, as ``--id-column``
    would; the other columns can be carried with ``--keep``.
    """

    kind = "ids"

    def __init__(self, source, fmt, smiles_column, carry, name_column, chunk_size, checks=None):
        from ..idsfile import IdsFileError, open_ids

        try:
            self.info = open_ids(source.path, **(checks or {}))
        except IdsFileError as exc:
            fail(str(exc))
        if name_column is None and self.info.id_column is not None:
            name_column = self.info.id_column
            carry = [name_column, *carry]
        super().__init__(source, fmt, smiles_column, carry, name_column, chunk_size)
        self.columns = list(self.info.carried)
        self.molecule_column = self.info.smiles_column or ""
        check_columns(self.columns, self.wanted, source.name)
        self.total_rows = self.info.num_rows

    def carried_types(self) -> dict:
        import pyarrow.parquet as pq

        schema = pq.read_schema(self.info.path)
        return {c: schema.field(c).type for c in self.carry}

    def _chunks(self):
        from ..idsfile import IdsFileError, iter_ids

        try:
            for batch in iter_ids(self.info, batch_rows=self.chunk_size):
                names = batch.columns[self.name_column].to_pylist() if self.name_column else None
                self.rows_read = batch.start + len(batch)
                yield Chunk(batch.start, batch.fp, {c: batch.columns[c] for c in self.wanted}, names)
        except IdsFileError as exc:
            fail(str(exc))


def is_ids_file(path: str) -> bool:
    """Whether ``path`` is a Parquet file whose footer says ``sortslice ids`` wrote it (reads the footer only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path == "-" or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != PARQUET_MAGIC:
                return False
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError):
        return False
    return meta.get(b"sortslice.command") == b"ids"


def _prepend(first, rest):
    yield first
    yield from rest


_READERS = {
    "csv": DelimitedReader,
    "tsv": DelimitedReader,
    "parquet": ParquetReader,
    "smi": SmiReader,
    "sdf": SdfReader,
}


def open_input(
    path: str,
    *,
    input_format: str | None = None,
    smiles_column: str | None = None,
    carry=(),
    id_column: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    checks: dict | None = None,
) -> Reader:
    """Open ``path`` (``-`` = stdin) and check the requested columns exist, before any work starts.

    ``checks``: keywords of :func:`sortslice.open_ids` for an ids file (``allow_edited``, ``strict_versions``).

    Parameters
    ----------
    path : str
        The input file; ``-`` is stdin.  Gzip is recognised by its content.
    input_format : {"csv", "tsv", "smi", "sdf", "parquet"} or None, default None
        The format; ``None`` guesses it from the extension (``.gz`` ignored), or sniffs stdin.
    smiles_column : str or None, default None
        The column holding the SMILES (CSV/TSV/Parquet); ``None``: the one column named like ``smiles``.
    carry : sequence of str, default ()
        Columns to bring along into each chunk's ``columns``.
    id_column : str or None, default None
        The column naming rows in messages (default: the ``.smi``/SDF title, or an ids file's row key,
        which is then carried first).
    chunk_size : int, default 100000
        Rows per chunk.
    checks : dict or None, default None
        As above; ignored for other inputs.

    Returns
    -------
    Reader
        Iterate it for :class:`Chunk` objects; ``kind`` is ``"smiles"``, ``"molblock"`` or ``"ids"``.
    """
    source = Source(path)
    try:
        fmt = guess_input_format(path, source.head, input_format)
        name_column = id_column
        if name_column is None and fmt in ("smi", "sdf"):
            name_column = "name"
        if fmt == "parquet" and is_ids_file(path):
            if smiles_column is not None:
                fail(f"{source.name}: an ids file holds ids, not molecules: --smiles-column does not apply")
            return IdsReader(source, fmt, smiles_column, list(carry), name_column, chunk_size, checks)
        return _READERS[fmt](source, fmt, smiles_column, list(carry), name_column, chunk_size)
    except BaseException:
        source.close()
        raise


def molecules_for_fit(chunk, kind: str):
    """What a featuriser's fit accepts: SMILES and stored ids as they are; SDF mol blocks parsed to RDKit Mols."""
    if kind in ("smiles", "ids"):
        return chunk.molecules
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        return [Chem.MolFromMolBlock(b) if b.strip() else None for b in chunk.molecules]
