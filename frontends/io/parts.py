"""Folders of Parquet parts: one part per input file (or per N-row block of one file), resumable.

``sortslice transform MODEL IN -o DIR/`` writes ``DIR/part-00000.parquet``, ... — one part per
input file (``IN`` a folder, a glob or a file), or with ``--part-rows N`` one part per ``N`` rows
of a single input file — with the columns and metadata of a single-file ``transform``.  The Dask
path (:mod:`sortslice.dask`) names, writes and checks its parts with the functions here, so a
folder written on one machine and one written by a cluster hold the same bytes, and either can
resume the other's.

Each part is written through a temporary file beside it and renamed when complete, so a part is
complete or absent: a killed run (SIGKILL, a lost worker, a power cut) leaves whole parts and at
most a hidden temporary file per part in progress.  Each part's Parquet footer records what it
was made from (:data:`PART_KEY`): the input file as named, its size and modification time, the
input rows it covers and the tallies of what was written.  ``--resume`` trusts a part only if it
is a readable Parquet file whose every page passes its checksum, whose schema and sortslice
metadata (ECFP and pooling parameters, vocabulary, version) equal the current run's, and whose
record names the same input, rows and ``--errors`` mode and agrees with the input's row count;
anything else is written again.  Without ``--resume`` an output folder must be empty.

Nothing here imports Dask.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from ..engine.config import DEFAULT_CHUNK_SIZE
from .errors import InputError

#: the footer key holding a part's record (JSON), in the file's key-value metadata
PART_KEY = "sortslice.part"
#: with --part-rows, part names have five digits: a single input is cut into at most this many parts
MAX_BLOCKS = 100_000
_INPUT_SUFFIXES = (".csv", ".tsv", ".tab", ".smi", ".smiles", ".ism", ".can", ".sdf", ".sd", ".parquet", ".pq")


# ============================================================================ names and inputs
def has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def list_input_files(paths) -> list[str]:
    """The files a path, directory, glob or list of them stands for, in order (one partition each).

    A directory means the molecule files directly inside it (by extension,
    ``.gz`` included; hidden files skipped), sorted by name; a glob is sorted by
    name; a list keeps its order.

    Parameters
    ----------
    paths : str, os.PathLike or list of them
        Files, directories or globs.

    Returns
    -------
    list of str
        The files, in order.

    Raises
    ------
    InputError
        A path that does not exist, a directory with no molecule files, or a glob that matches nothing.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for name in ("b.smi", "a.csv.gz", "notes.txt", ".hidden.smi"):
    ...         _ = (pathlib.Path(d) / name).write_text("")
    ...     [pathlib.Path(p).name for p in list_input_files(d)]
    ['a.csv.gz', 'b.smi']
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = []
            for name in sorted(os.listdir(p)):
                base = name[:-3] if name.lower().endswith(".gz") else name
                if not name.startswith(".") and base.lower().endswith(_INPUT_SUFFIXES):
                    found.append(os.path.join(p, name))
            if not found:
                raise InputError(
                    f"{p}: no molecule files in this directory (by extension: "
                    f"{', '.join(_INPUT_SUFFIXES)}, optionally .gz)"
                )
            out += found
        elif has_glob(p):
            found = sorted(f for f in glob.glob(p) if os.path.isfile(f))
            if not found:
                raise InputError(f"{p}: no files match")
            out += found
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise InputError(f"cannot read {p}: No such file or directory")
    return out


def part_name(i: int, n: int) -> str:
    """``part-00007.parquet``: at least five digits, more when ``n`` parts need them (names sort in order)."""
    return f"part-{i:0{max(5, len(str(n - 1)))}d}.parquet"


def is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet") and name[5:-8].isdigit()


def is_temporary(name: str) -> bool:
    """A part being written (``AtomicFile``'s ``.part-00007.parquet.XXXX.part``), left behind if its writer
    was killed."""
    if not (name.startswith(".part-") and name.endswith(".part")):
        return False
    head = name[1:].split(".parquet.", 1)
    return len(head) == 2 and is_part(head[0] + ".parquet")


def source_identity(path: str) -> dict:
    """What a part records of its input file: the path as named, its size and modification time."""
    st = os.stat(path)
    return {"path": path, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def part_record(
    source: dict, first_row: int, rows: int, written: int, invalid: int, first_problem: str | None, errors: str
) -> dict:
    """A part's footer record (:data:`PART_KEY`): its input and input rows, and what was written."""
    return {
        "input": source,
        "first_row": int(first_row),
        "rows": int(rows),
        "written": int(written),
        "invalid": int(invalid),
        "first_problem": first_problem,
        "errors": errors,
    }


def footer(record: dict) -> dict:
    return {PART_KEY: json.dumps(record)}


# ============================================================================ the output folder
def open_folder(path: str, *, resume: bool = False, overwrite: bool = False, hint: str = "resume") -> list[str]:
    """Create or check an output folder; returns the names of the parts already in it (with ``resume``).

    An existing folder must be empty, unless ``resume`` (it may then hold parts and the
    temporary files of a killed run, which are removed, and nothing else) or ``overwrite``
    (its parts and temporary files are removed first).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a file, not a directory")
    try:
        os.makedirs(path, exist_ok=True)
        entries = sorted(os.listdir(path))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not entries:
        return []
    ours = [e for e in entries if is_part(e) or is_temporary(e)]
    if overwrite:
        for e in ours:
            os.unlink(os.path.join(path, e))
        return []
    if not resume:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise InputError(
            f"{path} already holds {len(entries):,} files ({shown}): choose an empty folder, or "
            f"{hint} to complete an interrupted run into it"
        )
    others = [e for e in entries if e not in ours]
    if others:
        raise InputError(
            f"{path} holds {others[0]!r}, which is not a part: only a folder of part-*.parquet files can be resumed"
        )
    remove_temporary(path)
    return [e for e in entries if is_part(e)]


def remove_temporary(path: str) -> None:
    """Remove the temporary files of parts whose writer was killed."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for e in names:
        if is_temporary(e):
            try:
                os.unlink(os.path.join(path, e))
            except FileNotFoundError:
                pass


# ============================================================================ is a part complete?
def _meta_text(schema, key: str):
    value = (schema.metadata or {}).get(key.encode())
    return None if value is None else value.decode("utf-8", "replace")


def _differences(got, want) -> str:
    """Why a part's schema is not the current run's, in words."""
    version = _meta_text(got, "sortslice.version")
    if version != _meta_text(want, "sortslice.version"):
        return f"made by sortslice {version}" if version else "not written by sortslice transform"
    for key, what in (("sortslice.ecfp", "ECFP parameters"), ("sortslice.pooling", "model (pooling or vocabulary)")):
        if _meta_text(got, key) != _meta_text(want, key):
            return f"made with another {what}"
    if got.names != want.names:
        return f"its columns are {', '.join(got.names)}, this run writes {', '.join(want.names)}"
    return "its column types or metadata are not this run's"


def _as_read(schema):
    """``schema`` as a Parquet file written with it reads back (list item fields are named ``element`` there)."""
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(schema.empty_table(), buf)
    return pq.ParquetFile(io.BytesIO(buf.getvalue())).schema_arrow


def check_part(path: str, *, schema, source: dict, first_row: int, rows, errors: str) -> tuple[dict | None, str | None]:
    """``(record, None)`` if ``path`` is a complete, valid part of this run, else ``(None, why)``.

    ``schema`` is what this run writes (:func:`sortslice.io.sinks.output_schema`), ``source`` the input's
    :func:`source_identity`, ``rows`` the input rows the part must cover (an int, or a function
    returning it: called only once the cheaper checks passed).  Every page is read and its checksum
    verified, so a damaged part is found even when its footer is intact.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _as_read(schema)
    try:
        with open(path, "rb") as fh:
            pf = pq.ParquetFile(fh, page_checksum_verification=True)
            kv = pf.metadata.metadata or {}
            got = pf.schema_arrow
            num_rows = pf.metadata.num_rows
            if PART_KEY.encode() not in kv:
                return None, "it has no sortslice part record"
            try:
                record = json.loads(kv[PART_KEY.encode()])
                keys = ("input", "first_row", "rows", "written", "invalid", "first_problem", "errors")
                if not isinstance(record, dict) or any(k not in record for k in keys):
                    raise ValueError
            except ValueError:
                return None, "its part record is not readable"
            if not got.equals(schema, check_metadata=True):
                return None, _differences(got, schema)
            # Arrow's schema (above) is read from its own copy in the footer; the footer's key-value pairs,
            # which other Parquet readers show, are a second copy that no page checksum covers
            pairs = {k: v for k, v in kv.items() if k not in (b"ARROW:schema", PART_KEY.encode())}
            if pairs != dict(schema.metadata or {}):
                return None, "its footer's metadata is not this run's (damaged or altered)"
            if record["input"] != source:
                return None, _other_input(record["input"], source)
            if record["errors"] != errors:
                return None, f"it was made with --errors {record['errors']}"
            if record["first_row"] != first_row:
                return None, f"it covers the rows from {record['first_row'] + 1:,}, not from {first_row + 1:,}"
            want_written = record["rows"] - (record["invalid"] if errors == "skip" else 0)
            if num_rows != record["written"] or want_written != record["written"]:
                return None, f"it holds {num_rows:,} rows, its record says {record['written']:,} (truncated or altered)"
            if errors == "strict" and record["invalid"]:
                return None, "it holds invalid molecules (--errors strict)"
            n = rows() if callable(rows) else rows
            if record["rows"] != n:
                return None, f"it covers {record['rows']:,} input rows; the input has {n:,} there"
            try:
                read = 0
                for batch in pf.iter_batches(batch_size=1 << 13):
                    read += batch.num_rows
            except (pa.ArrowException, OSError, EOFError) as exc:
                return None, f"its data are damaged ({_reason(exc)})"
            if read != num_rows:
                return None, f"it holds {read:,} rows, its footer says {num_rows:,}"
    except (pa.ArrowException, OSError, EOFError) as exc:
        return None, f"it is not a readable Parquet file ({_reason(exc)})"
    return record, None


def _reason(exc) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _other_input(recorded, current: dict) -> str:
    if not isinstance(recorded, dict) or "path" not in recorded:
        return f"it was not made from the input file {current['path']}"
    if recorded["path"] != current["path"]:
        return f"it was made from {recorded['path']}, not {current['path']}"
    return (
        f"{current['path']} changed since it was made (size or modification time: "
        f"{recorded.get('bytes')} bytes at {recorded.get('mtime_ns')} ns then, {current['bytes']} at "
        f"{current['mtime_ns']} now)"
    )


def count_rows(path: str, *, input_format=None, smiles_column=None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Rows of an input file as the readers count them (Parquet: from the footer; else read through, no parsing)."""
    from .readers import open_input

    reader = open_input(path, input_format=input_format, smiles_column=smiles_column, carry=[], chunk_size=chunk_size)
    try:
        if reader.total_rows is not None:
            return int(reader.total_rows)
        return sum(len(chunk) for chunk in reader)
    finally:
        reader.source.close()


def check_file_part(
    part_path: str,
    input_path: str,
    *,
    payload,
    errors: str,
    metadata: dict,
    input_format=None,
    smiles_column=None,
    id_column=None,
    carry=(),
    chunk_size: int = DEFAULT_CHUNK_SIZE,
):
    """:func:`check_part` for the part made from a whole input file (the per-file layout, on one machine or Dask)."""
    from .readers import open_input
    from .sinks import output_schema

    if not os.path.exists(part_path):
        return None, "it is missing"
    reader = open_input(
        input_path,
        input_format=input_format,
        smiles_column=smiles_column,
        carry=list(carry),
        id_column=id_column,
        chunk_size=chunk_size,
    )
    try:
        carried = reader.carried_types()
    finally:
        reader.source.close()
    schema = output_schema(payload, carried, errors == "null", metadata)
    return check_part(
        part_path,
        schema=schema,
        source=source_identity(input_path),
        first_row=0,
        rows=lambda: count_rows(
            input_path, input_format=input_format, smiles_column=smiles_column, chunk_size=chunk_size
        ),
        errors=errors,
    )


def tallies(records) -> dict:
    """Rows, written, invalid and the first problem over parts' records, in part order."""
    records = list(records)
    problems = [r["first_problem"] for r in records if r.get("first_problem")]
    return {
        "rows": sum(r["rows"] for r in records),
        "written": sum(r["written"] for r in records),
        "invalid": sum(r["invalid"] for r in records),
        "first_problem": problems[0] if problems else None,
    }


# ============================================================================ N-row blocks of one input
def _split(chunk, k: int):
    """``chunk``'s first ``k`` rows and the rest."""
    from .readers import Chunk

    mols = chunk.molecules
    if isinstance(mols, list):
        head, tail = mols[:k], mols[k:]
    else:  # stored ids (an EcfpResult)
        head, tail = mols.take(np.arange(k)), mols.take(np.arange(k, len(chunk)))
    names = chunk.names
    return (
        Chunk(
            chunk.start,
            head,
            {c: a.slice(0, k) for c, a in chunk.columns.items()},
            None if names is None else names[:k],
        ),
        Chunk(
            chunk.start + k,
            tail,
            {c: a.slice(k) for c, a in chunk.columns.items()},
            None if names is None else names[k:],
        ),
    )


class Blocks:
    """The chunks of one reader cut into blocks of ``rows`` rows (the last may be shorter; an empty input is one
    empty block).  Each :class:`Block` iterates its chunks; consume it (iterate to the end) before the next."""

    def __init__(self, reader, rows: int):
        self.reader = reader
        self.rows = int(rows)
        self._chunks = iter(reader)
        self._pending = None

    def __iter__(self):
        index = 0
        while True:
            if self._pending is None:
                self._pending = next(self._chunks, None)
            if self._pending is None and index > 0:
                return
            first = self._pending.start if self._pending is not None else 0
            yield Block(self, index, first)
            index += 1

    def _take(self):
        left = self.rows
        while left > 0:
            chunk = self._pending if self._pending is not None else next(self._chunks, None)
            self._pending = None
            if chunk is None:
                return
            if len(chunk) > left:
                chunk, self._pending = _split(chunk, left)
            left -= len(chunk)
            yield chunk


class Block:
    """Block ``index`` of :class:`Blocks`, from input row ``first_row``: iterate it for its chunks."""

    def __init__(self, blocks: Blocks, index: int, first_row: int):
        self.index = index
        self.first_row = first_row
        self._blocks = blocks

    def __iter__(self):
        return self._blocks._take()

    def skip(self) -> int:
        """Read past this block; its rows."""
        return sum(len(c) for c in self)
