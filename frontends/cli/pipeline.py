"""The command line's files and options turned into a job (:mod:`sortslice.jobs`): inputs opened and checked,
outputs opened with their metadata, and a file streamed through the engine into one output."""

from __future__ import annotations

import os
import warnings

import sortslice

from ..engine.featurisers import params_mismatch
from ..io.metadata import output_metadata
from ..io.readers import is_ids_file, open_input
from ..io.sinks import IDS, Fingerprints, open_output
from ..jobs import PIECE, Tally, computer, starter
from .errors import fail
from .options import FileChecks
from .run import convert, report


def metadata(command: str, ecfp: dict, featuriser=None, reader=None, inputs=None) -> dict:
    """Key-value metadata of Parquet outputs (:func:`sortslice.io.metadata.output_metadata`)."""
    smiles = reader.molecule_column if reader is not None and reader.kind == "smiles" else None
    return output_metadata(
        command,
        ecfp,
        featuriser,
        id_column=inputs.id_column if inputs else None,
        smiles_column=smiles if inputs is not None and smiles in inputs.carry else None,
    )


def payload(featuriser):
    """What each output row holds: unfolded ids (``featuriser`` None) or the featuriser's fingerprints."""
    if featuriser is None:
        return IDS
    return Fingerprints(int(featuriser.length), featuriser.output_dtype, bool(featuriser.counts))


def ecfp_for(input_path: str, ecfp):
    """The ECFP parameters to use: with an ids file as input, the file's, but for the options given."""
    if not is_ids_file(input_path):
        return ecfp
    try:
        with warnings.catch_warnings():  # the reader opening the file says it, once
            warnings.simplefilter("ignore", sortslice.VersionChangeWarning)
            stored = sortslice.open_ids(input_path).params.to_dict()
    except sortslice.IdsFileError as exc:
        fail(str(exc))
    return ecfp.for_ids(stored)


def check_ids_input(reader, command: str, ecfp: dict) -> None:
    """An ids file as input: usable by ``fit``, ``fold`` and ``transform`` if its parameters are theirs
    (closes the reader when it is not)."""
    if reader.kind != "ids":
        return
    try:
        if command == "ids":
            fail(f"{reader.source.name}: is already an ids file (use it as the input of fit, fold or transform)")
        want = sortslice.EcfpParams(**ecfp)
        if reader.info.params != want:
            user = "the model" if command == "transform" else "the command line"
            fail(f"{reader.source.name}: {params_mismatch(reader.info.params, want, user)}")
    except BaseException:
        reader.source.close()
        raise


def open_checked(path: str, command: str, ecfp: dict, inputs, run, carry, checks: FileChecks | None = None):
    """The reader of ``path`` for ``command`` (an ids file checked against ``ecfp``)."""
    reader = open_input(
        path,
        input_format=inputs.input_format,
        smiles_column=inputs.smiles_column,
        carry=carry,
        id_column=inputs.id_column,
        chunk_size=run.chunk_size,
        checks=(checks or FileChecks()).kwargs(),
    )
    check_ids_input(reader, command, ecfp)
    return reader


def stream_file(
    command: str,
    input_path: str,
    output: str,
    output_format: str | None,
    inputs,
    run,
    ecfp: dict,
    featuriser=None,
    quiet: bool = False,
    checks: FileChecks | None = None,
    piece: int = PIECE,
) -> Tally:
    """Shared body of ``ids``, ``fold`` and ``transform``: molecules (or an ids file) in, one row per molecule."""
    reader = open_checked(input_path, command, ecfp, inputs, run, inputs.carry, checks)
    try:
        sink = open_output(
            output,
            output_format,
            payload(featuriser),
            reader.carried_types(),
            error_column=run.errors == "null",
            metadata=metadata(command, ecfp, featuriser, reader, inputs),
        )
    except BaseException:
        reader.source.close()
        raise
    try:  # the temporary output goes on any failure, also one before the chunk loop starts
        if featuriser is not None:
            featuriser.set_params(sparse=sink.wants_sparse)
        tally = convert(
            reader,
            sink,
            computer(reader.kind, reader.carry, ecfp, featuriser, jobs=run.jobs, piece=piece),
            errors=run.errors,
            progress=run.progress,
            before_first=starter(reader.kind, run.jobs),
        )
    except BaseException:
        sink.abort()
        raise
    if not quiet:
        report(
            tally, run.errors, sink, nulls="their ids are null" if featuriser is None else "their fingerprints are null"
        )
    return tally


def load_model(path: str, checks: FileChecks | None = None):
    try:
        return sortslice.load(path, **(checks or FileChecks()).kwargs())
    except sortslice.ModelFileError as exc:
        fail(str(exc))


def check_writable(path: str) -> None:
    """Fail before any work when ``path`` cannot be created."""
    if path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        fail(f"cannot write {path}: it is a directory")
    if not os.path.isdir(folder):
        fail(f"cannot write {path}: {'Not a directory' if os.path.exists(folder) else 'No such file or directory'}")
    if not os.access(folder, os.W_OK):
        fail(f"cannot write {path}: Permission denied")
