"""``sortslice transform MODEL IN -o DIR/`` on one machine: a resumable folder of parts (:mod:`sortslice.io.parts`)."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

import click

from ..io.parts import (
    MAX_BLOCKS,
    Blocks,
    InputError,
    check_file_part,
    check_part,
    count_rows,
    list_input_files,
    open_folder,
    part_name,
    source_identity,
    tallies,
)
from ..io.sinks import open_output, output_schema
from ..jobs import PIECE, computer, invalid_warning, starter, write_part
from .errors import fail
from .pipeline import metadata, open_checked, payload


# ============================================================================ the command (one machine)
class _Bar:
    """A bar of parts on stderr that starts from the parts already complete, with molecules and rate."""

    def __init__(self, enabled, total, initial: int, desc: str):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        self.rows = 0
        self.start = time.perf_counter()
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit=" part",
                desc=desc,
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def rows_done(self, n: int) -> None:
        self.rows += n
        if self.bar is not None:
            rate = self.rows / max(1e-9, time.perf_counter() - self.start)
            self.bar.set_postfix_str(f"{self.rows:,} molecules, {rate:,.0f}/s", refresh=True)

    def part_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def check_output_folder_options(output: str, output_format) -> None:
    """A folder of parts: ``-o DIR``, Parquet (shared with the Dask path)."""
    if output == "-":
        fail("the output is a folder of Parquet files (one part per input partition): give one with -o DIR")
    if output_format not in (None, "parquet"):
        fail(f"a folder of parts is Parquet (one file per input partition), not {output_format}")
    ext = os.path.splitext(output.rstrip("/" + os.sep))[1].lower()
    if ext in (".csv", ".tsv", ".npy", ".npz", ".gz"):
        fail(f"-o names a folder of Parquet files here, not a {ext} file")


def transform_folder(
    model, input_path: str, output: str, output_format, *, inputs, run, part_rows, resume, piece: int = PIECE
):
    """``sortslice transform MODEL IN -o DIR/``: a folder of parts on one machine (see the module docstring)."""
    check_output_folder_options(output, output_format)
    if input_path == "-":
        fail("a folder of parts is made from files (one part per file, or per --part-rows block), not stdin")
    try:
        files = list_input_files(input_path)
    except InputError as exc:
        fail(str(exc))
    if part_rows is not None and len(files) > 1:
        fail(
            f"--part-rows cuts one input file into parts; {input_path} names {len(files):,} files (each file is "
            f"already a part)"
        )
    try:
        existing = open_folder(output, resume=resume, hint="use --resume")
    except InputError as exc:
        fail(str(exc))
    ecfp = model.ecfp_params.to_dict()
    model.set_params(sparse=False)
    meta = metadata("transform", ecfp, model)
    fingerprints = payload(model)
    errors = run.errors
    read = dict(input_format=inputs.input_format, smiles_column=inputs.smiles_column)
    started = time.perf_counter()
    records: dict[int, dict] = {}  # part index -> record, complete parts of this data set
    kept = 0

    def note(text: str) -> None:
        click.echo(f"Note: {text}", err=True)

    def open_reader(path):
        return open_checked(path, "transform", ecfp, inputs, run, inputs.carry)

    def write(reader, chunks, path: str, source: dict, first_row: int, bar: _Bar) -> dict:
        sink = open_output(
            path, "parquet", fingerprints, reader.carried_types(), error_column=errors == "null", metadata=meta
        )
        try:  # the part's temporary file goes on any failure, also one before the chunk loop starts
            record = write_part(
                chunks,
                sink,
                computer(reader.kind, reader.carry, ecfp, model, jobs=run.jobs, piece=piece),
                source=reader.source.name,
                identity=source,
                first_row=first_row,
                errors=errors,
                strict_note="--errors strict: its part was not written; complete parts are kept for --resume",
                before_first=starter(reader.kind, run.jobs),
                on_chunk=bar.rows_done,
            )
        except BaseException:
            sink.abort()
            raise
        bar.part_done()
        return record

    def remove_leftovers(names: set) -> None:
        for name in existing:
            if name not in names:
                os.unlink(os.path.join(output, name))
                note(f"removed {name}: not a part of this run (it makes {len(names):,} parts)")

    def redo(name: str, why: str) -> None:
        note(f"{name} is written again: {why}")

    bar = None
    try:
        if part_rows is None:
            n = len(files)
            names = [part_name(i, n) for i in range(n)]
            remove_leftovers(set(names))
            for i, f in enumerate(files):
                if names[i] in existing:
                    record, why = check_file_part(
                        os.path.join(output, names[i]),
                        f,
                        payload=fingerprints,
                        errors=errors,
                        metadata=meta,
                        id_column=inputs.id_column,
                        carry=inputs.carry,
                        chunk_size=run.chunk_size,
                        **read,
                    )
                    if record is None:
                        redo(names[i], why)
                    else:
                        records[i] = record
            kept = len(records)
            bar = _Bar(run.progress, n, kept, output)
            for i, f in enumerate(files):
                if i in records:
                    continue
                reader = open_reader(f)
                try:
                    records[i] = write(reader, reader, os.path.join(output, names[i]), source_identity(f), 0, bar)
                finally:
                    reader.source.close()
        else:
            f = files[0]
            source = source_identity(f)
            reader = open_reader(f)
            try:
                total = reader.total_rows
                if existing:
                    if total is None:
                        total = count_rows(f, **read, chunk_size=run.chunk_size)
                    schema = output_schema(fingerprints, reader.carried_types(), errors == "null", meta)
                n = None if total is None else max(1, math.ceil(total / part_rows))
                if n is not None and n > MAX_BLOCKS:
                    fail(
                        f"--part-rows {part_rows:,} cuts {f} ({total:,} rows) into more than {MAX_BLOCKS:,} parts; "
                        f"choose a larger --part-rows"
                    )
                if existing:
                    names = {part_name(i, MAX_BLOCKS) for i in range(n)}
                    remove_leftovers(names)
                    for i in range(n):
                        name = part_name(i, MAX_BLOCKS)
                        if name not in existing:
                            continue
                        first = i * part_rows
                        record, why = check_part(
                            os.path.join(output, name),
                            schema=schema,
                            source=source,
                            first_row=first,
                            rows=min(part_rows, total - first),
                            errors=errors,
                        )
                        if record is None:
                            redo(name, why)
                        else:
                            records[i] = record
                kept = len(records)
                bar = _Bar(run.progress, n, kept, output)
                for block in Blocks(reader, part_rows):
                    if block.index >= MAX_BLOCKS:
                        fail(
                            f"--part-rows {part_rows:,} cuts {f} into more than {MAX_BLOCKS:,} parts; choose a larger "
                            f"--part-rows"
                        )
                    name = part_name(block.index, MAX_BLOCKS)
                    if block.index in records:
                        if block.skip() != records[block.index]["rows"]:
                            fail(
                                f"{f} changed while it was read (its block {block.index + 1:,} has other rows "
                                f"than when its size was taken)"
                            )
                        continue
                    records[block.index] = write(
                        reader, block, os.path.join(output, name), source, block.first_row, bar
                    )
            finally:
                reader.source.close()
    except KeyboardInterrupt as exc:
        # the parts in the folder, not the records: the interrupt may come after a part was renamed into
        # place and before its record was kept (every part-* name there is complete: written, then renamed)
        try:
            done = sum(1 for n in os.listdir(output) if n.startswith("part-") and n.endswith(".parquet"))
        except OSError:
            done = len(records)
        if done:
            exc.note = (
                f"{done:,} complete part{'s are' if done != 1 else ' is'} kept in {output}: "
                f"the same command with --resume finishes the run"
            )
        raise
    finally:
        if bar is not None:
            bar.close()
    return FolderSummary(
        len(records), kept, time.perf_counter() - started, **tallies(records[i] for i in sorted(records))
    )


@dataclass(frozen=True)
class FolderSummary:
    parts: int
    kept: int
    seconds: float
    rows: int
    written: int
    invalid: int
    first_problem: str | None

    def warning(self, consequence: str) -> str | None:
        return invalid_warning(self.invalid, self.rows, self.first_problem, consequence)

    def line(self, output: str) -> str:
        kept = ""
        if self.kept:
            kept = f"; {self.kept:,} of the {self.parts:,} parts were already complete and were kept"
        return f"wrote {self.written:,} rows in {self.parts:,} files to {output} in {self.seconds:.1f} s{kept}"
