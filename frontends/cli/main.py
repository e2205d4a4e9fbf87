"""``sortslice``: the command line over the library (file in, file out).

Every command is a thin translation of files and options into engine calls
(``sortslice.ecfp``, the featurisers, ``sortslice.load``); files are handled by
:mod:`.io` and streamed chunk by chunk by :mod:`.run`.  Every user error is a
:class:`click.ClickException`: exit status 1 and one line on stderr.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
import warnings

import click
import numpy as np

import sortslice

from ..engine.atomic import remove_temporaries
from ..engine.featurisers import params_mismatch
from ..engine.fingerprint import concat_results
from ..io.errors import FileError, InputNote
from ..io.metadata import output_dtype, output_metadata
from ..io.readers import Chunk, is_ids_file, molecules_for_fit, open_input
from ..io.sinks import IDS, Fingerprints, Part, open_output, write_bytes_atomic
from .errors import fail
from .options import (
    DocumentFrequency,
    FileChecks,
    check_options,
    cluster_options,
    ecfp_options,
    input_options,
    output_options,
    run_options,
)
from .run import PIECE, Progress, Tally, chunk_jobs, convert, report, start_workers

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP as an exception (like SIGINT's KeyboardInterrupt), so temporary outputs are removed on
    the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Interrupted(signum)


_show_warning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, sortslice.VersionChangeWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _show_warning(message, category, filename, lineno, file, line)


class _Commands(click.Group):
    """The command group: an interrupted command ends with one line and the shell's status, 128 + signal."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                # the commands count invalid rows and report them in their own words (``run.Tally``)
                warnings.simplefilter("ignore", sortslice.InvalidMoleculeWarning)
                # a model or ids file from another sortslice/RDKit whose canaries changed: one line on stderr
                warnings.simplefilter("always", sortslice.VersionChangeWarning)
                warnings.showwarning = _one_line_warning
                _notes_once()  # the input's notes, each once (other warnings go on to the line above)
                return super().invoke(ctx)
        except FileError as exc:  # the I/O layer's one-line errors become the command's
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt as exc:
            # a temporary output the interrupt reached before the code that would have removed it
            remove_temporaries()
            signum = getattr(exc, "signum", signal.SIGINT)
            note = getattr(exc, "note", None)  # e.g. the complete parts of a folder that --resume continues
            error = click.ClickException(
                f"interrupted by {signal.Signals(signum).name} "
                f"(incomplete outputs are not written{'; ' + note if note else ''})"
            )
            error.exit_code = 128 + signum
            raise error from None


def _notes_once() -> None:
    """Show the I/O layer's notes (:class:`~sortslice.io.InputNote`) as ``Note:`` lines, each once per command
    (an input may be opened more than once, e.g. read again for examples); other warnings as Python shows them.
    Call inside ``warnings.catch_warnings()``, which puts the previous handler back."""
    shown: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputNote):
            text = str(message)
            if text not in shown:
                shown.add(text)
                click.echo(f"Note: {text}", err=True)
            return
        previous(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", InputNote)
    warnings.showwarning = show


@click.group(cls=_Commands, context_settings=_CONTEXT)
@click.version_option(sortslice.__version__, prog_name="sortslice")
def main():
    """sortslice: collision-free ECFP fingerprints with Sort & Slice.

    Convert molecule files (CSV, TSV, .smi, SDF, Parquet; gzip-compressed or not;
    '-' for stdin) into fingerprint tables (Parquet, CSV, .npy, .npz). Files are
    streamed in chunks, and an output is only put in place once it is complete.

    \b
    Examples:
      sortslice demo
      sortslice fit train.csv -o model.json --length 1024
      sortslice transform model.json molecules.csv.gz -o fingerprints.parquet
      sortslice info model.json
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            signal.signal(signal.SIGHUP, _terminate)  # the terminal closed (not under nohup, which ignores it)
        if hasattr(signal, "SIGXFSZ"):
            # past a file size limit (ulimit -f) a write then fails with EFBIG, reported as one line,
            # instead of the signal killing the process (CPython ignores it too, an embedding host may not)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


# ------------------------------------------------------------------------ helpers
def _metadata(command: str, ecfp: dict, featuriser=None, reader=None, inputs=None) -> dict:
    """Key-value metadata of Parquet outputs (:func:`sortslice.io.metadata.output_metadata`)."""
    smiles = reader.molecule_column if reader is not None and reader.kind == "smiles" else None
    return output_metadata(
        command,
        ecfp,
        featuriser,
        id_column=inputs.id_column if inputs else None,
        smiles_column=smiles if inputs is not None and smiles in inputs.carry else None,
    )


def _ecfp_for(input_path: str, ecfp):
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


def _check_ids_input(reader, command: str, ecfp: dict) -> None:
    """An ids file as input: usable by ``fit``, ``fold`` and ``transform`` if its parameters are theirs."""
    if command == "ids":
        fail(f"{reader.source.name}: is already an ids file (use it as the input of fit, fold or transform)")
    want = sortslice.EcfpParams(**ecfp)
    if reader.info.params != want:
        user = "the model" if command == "transform" else "the command line"
        fail(f"{reader.source.name}: {params_mismatch(reader.info.params, want, user)}")


def _computer(reader, ecfp: dict, featuriser, jobs):
    """``chunk -> Part`` for ``reader``'s chunks: ids (``featuriser`` None) or the featuriser's output."""
    kind, carry = reader.kind, reader.carry

    def compute(chunk, tick=None) -> Part:
        if kind == "ids":
            fp = chunk.molecules  # stored ids: nothing to parse
        else:
            n_jobs = chunk_jobs(jobs, len(chunk))
            fp = sortslice.ecfp(
                chunk.molecules,
                **ecfp,
                n_jobs=n_jobs,
                kind=kind,
                # in this process, parse in pieces so the bar moves and Ctrl-C stops within one
                chunk_size=PIECE if n_jobs == 1 else None,
                progress=tick,
            )
        columns = {c: chunk.columns[c] for c in carry}
        if featuriser is None:
            return Part(columns, fp.valid, fp.errors, indptr=fp.indptr, ids=fp.ids, counts=fp.counts)
        out = featuriser.featurise(fp)
        return Part(columns, out.valid, out.errors, X=out.X)

    return compute


def _starter(reader, jobs):
    """What :func:`convert` runs before the first chunk: start the parsing processes from this thread."""
    if reader.kind == "ids":
        return None
    return lambda chunk: start_workers(chunk_jobs(jobs, len(chunk)))


def _stream(
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
) -> Tally:
    """Shared body of ``ids``, ``fold`` and ``transform``: molecules (or an ids file) in, one row per molecule."""
    reader = open_input(
        input_path,
        input_format=inputs.input_format,
        smiles_column=inputs.smiles_column,
        carry=inputs.carry,
        id_column=inputs.id_column,
        chunk_size=run.chunk_size,
        checks=(checks or FileChecks()).kwargs(),
    )
    try:
        if reader.kind == "ids":
            _check_ids_input(reader, command, ecfp)
        if featuriser is None:
            payload = IDS
        else:
            payload = Fingerprints(int(featuriser.length), output_dtype(featuriser, ecfp), bool(featuriser.counts))
        sink = open_output(
            output,
            output_format,
            payload,
            reader.carried_types(),
            error_column=run.errors == "null",
            metadata=_metadata(command, ecfp, featuriser, reader, inputs),
        )
    except BaseException:
        reader.source.close()
        raise
    if featuriser is not None:
        featuriser.set_params(sparse=sink.wants_sparse)
    tally = convert(
        reader,
        sink,
        _computer(reader, ecfp, featuriser, run.jobs),
        errors=run.errors,
        progress=run.progress,
        before_first=_starter(reader, run.jobs),
    )
    if not quiet:
        report(
            tally, run.errors, sink, nulls="their ids are null" if featuriser is None else "their fingerprints are null"
        )
    return tally


def _load_model(path: str, checks: FileChecks | None = None):
    try:
        return sortslice.load(path, **(checks or FileChecks()).kwargs())
    except sortslice.ModelFileError as exc:
        fail(str(exc))


def _check_writable(path: str) -> None:
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


# ----------------------------------------------------------------------- commands
@main.command()
@click.argument("input_path", metavar="IN")
@output_options
@input_options()
@ecfp_options
@run_options
def ids(input_path, output, output_format, inputs, ecfp, run):
    """Unfolded ECFP ids and counts of every molecule in IN.

    One row per molecule, in input order: Parquet columns 'ids' and 'counts'
    (List(UInt32); ids ascending) — the RDKit Morgan identifiers, not folded. CSV
    writes them space-separated; .npz writes a sparse matrix whose column is the id.
    The ECFP parameters are stored in the Parquet file's key-value metadata, and
    'fit', 'fold' and 'transform' read such a file instead of molecules (no parsing;
    --keep the SMILES column so a model fitted on it has example fragments).

    \b
    Examples:
      sortslice ids molecules.csv -o ids.parquet
      sortslice ids train.csv --id-column id --keep SMILES -o ids.parquet && sortslice fit ids.parquet -o m.json
      sortslice ids compounds.sdf.gz --radius 3 --chirality --id-column name -o ids.parquet
      cat molecules.smi | sortslice ids - --format csv > ids.csv
    """
    _stream("ids", input_path, output, output_format, inputs, run, ecfp)


@main.command()
@click.argument("input_path", metavar="IN")
@output_options
@click.option(
    "--length", "-L", type=click.IntRange(min=1), default=1024, show_default=True, help="Number of bits (columns)."
)
@click.option("--counts", is_flag=True, help="Count fingerprints (UInt32) instead of 0/1 bits.")
@input_options()
@ecfp_options
@run_options
@check_options
def fold(input_path, output, output_format, length, counts, inputs, ecfp, run, checks):
    """Hash-folded ECFP fingerprints (column = id modulo LENGTH).

    Identical to RDKit's Morgan fingerprint with fpSize=LENGTH. Parquet column
    'fingerprint' is Array(UInt8, LENGTH) (counts: Array(UInt32, LENGTH)); CSV
    writes it as a 0/1 string (counts space-separated); .npy is dense, .npz sparse.

    \b
    Examples:
      sortslice fold molecules.csv --length 2048 -o folded.parquet
      sortslice fold molecules.smi.gz --counts --fcfp -o folded.npz
    """
    ecfp = _ecfp_for(input_path, ecfp)
    featuriser = sortslice.HashFold(length=length, counts=counts, **ecfp).fit()
    _stream("fold", input_path, output, output_format, inputs, run, ecfp, featuriser, checks=checks)


_METHODS = {"sort-slice": "SortSlice", "mim": "MIM", "filter": "Filtering", "hash-fold": "HashFold"}


def _labels(values: list, column: str, where: str, names) -> np.ndarray:
    """Label values as floats when they all are numbers, else as class names."""
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v):
            name = f" ({names[i]})" if names is not None and names[i] not in (None, "") else ""
            fail(f"{where}: row {i + 1}{name} has no value in the label column {column!r}")
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray([str(v) for v in values], dtype=object)


def _first_invalid(chunk, kind: str, ecfp: dict, jobs) -> tuple[int, str]:
    """Row and reason of a chunk's first invalid molecule (run only when a fit saw some)."""
    if kind == "ids":
        fp = chunk.molecules
    else:
        fp = sortslice.ecfp(chunk.molecules, **ecfp, n_jobs=chunk_jobs(jobs, len(chunk)), kind=kind)
    i = int(np.flatnonzero(~fp.valid)[0])
    return i, str(fp.errors[i])


def fit_file(
    input_path: str,
    output: str,
    *,
    length: int,
    method: str,
    label: str | None,
    counts: bool,
    inputs,
    ecfp: dict,
    run,
    quiet: bool = False,
    min_df=1,
    max_df=1.0,
    checks: FileChecks | None = None,
):
    """Fit a featuriser on a file and save it; returns the fitted featuriser."""
    if method in ("mim", "filter") and label is None:
        fail(f"--method {method} needs --label COL (the property the columns are chosen for)")
    if method not in ("mim", "filter") and label is not None:
        fail(f"--label is only used by --method mim and --method filter, not {method}")
    vocabulary = _df_params(method, min_df, max_df)
    _check_writable(output)
    ecfp = _ecfp_for(input_path, ecfp)
    reader = open_input(
        input_path,
        input_format=inputs.input_format,
        smiles_column=inputs.smiles_column,
        carry=[label] if label else [],
        id_column=inputs.id_column,
        chunk_size=run.chunk_size,
        checks=(checks or FileChecks()).kwargs(),
    )
    if reader.kind == "ids":
        try:
            _check_ids_input(reader, "fit", ecfp)
        except BaseException:
            reader.source.close()
            raise
    cls = getattr(sortslice, _METHODS[method])
    model = cls(length=length, counts=counts, **vocabulary, **ecfp)
    where = reader.source.name
    tally = Tally()
    bar = Progress(run.progress, reader)
    started = time.perf_counter()
    try:
        if method == "hash-fold":
            model.fit()  # folding learns nothing: the input is only checked to exist and have its columns
        elif method == "sort-slice":
            # streamed: only the prevalence table (distinct ids) is kept between chunks
            for chunk in reader:
                before = getattr(model, "n_invalid_", 0)
                model.n_jobs = chunk_jobs(run.jobs, len(chunk))
                model.partial_fit(molecules_for_fit(chunk, reader.kind))
                _note_fit_chunk(tally, chunk, model.n_invalid_ - before, reader.kind, ecfp, run, where)
                bar.update(len(chunk))
            if getattr(model, "n_molecules_", 0):
                try:  # the error fit() gives for bounds that conflict over the whole file
                    model.document_frequency_range()
                except ValueError as exc:
                    fail(f"{where}: {exc}")
            if input_path != "-" and getattr(model, "n_molecules_", 0):
                _examples_in_data_order(model, input_path, inputs, run, reader)
        else:
            chunks = []
            for chunk in reader:
                chunks.append(chunk)
                bar.update(len(chunk))
            if reader.kind == "ids":
                molecules = concat_results([c.molecules for c in chunks], reader.info.params)
            else:
                molecules = [m for c in chunks for m in c.molecules]
            whole = Chunk(
                0, molecules, names=None if reader.name_column is None else [n for c in chunks for n in c.names]
            )
            if label:
                values = [v for c in chunks for v in c.columns[label].to_pylist()]
                y = _labels(values, label, where, whole.names)
            else:
                y = None
            if whole.molecules:
                model.n_jobs = chunk_jobs(run.jobs, len(whole))
                try:
                    model.fit(molecules_for_fit(whole, reader.kind), y)
                except ValueError as exc:
                    if "max_df" not in str(exc):
                        raise
                    fail(f"{where}: {exc}")
                _note_fit_chunk(tally, whole, getattr(model, "n_invalid_", 0), reader.kind, ecfp, run, where)
    finally:
        bar.close()
        reader.source.close()
    tally.seconds = time.perf_counter() - started
    if tally.rows == 0 and method != "hash-fold":
        fail(f"{where}: no molecules to fit on")
    if method != "hash-fold" and tally.rows == tally.invalid:
        fail(f"{where}: none of the {tally.rows:,} molecules is valid; first: {tally.first_problem}")
    _save_model(model, output)
    if not quiet:
        line = tally.warning("were left out of the fit")
        if line:
            click.echo(line, err=True)
        click.echo(_fit_summary(model, method, tally, output), err=True)
        if reader.kind == "ids" and method != "hash-fold" and reader.info.smiles_column is None:
            click.echo(
                f"Note: {where} keeps no SMILES, so the model has no example fragments for explain "
                "(`sortslice ids IN --keep <SMILES column>` keeps them)",
                err=True,
            )
    return model


def fit_on_cluster(
    input_path: str,
    output: str,
    *,
    length: int,
    method: str,
    label: str | None,
    counts: bool,
    inputs,
    ecfp: dict,
    run,
    cluster,
    min_df=1,
    max_df=1.0,
):
    """``fit`` with ``--scheduler``/``--dask-local``: partitions fitted on the workers, merged, saved here."""
    from . import cluster as on_cluster

    on_cluster.check_method(method)
    if label is not None:
        fail(f"--label is only used by --method mim and --method filter, not {method}")
    vocabulary = _df_params(method, min_df, max_df)
    _check_writable(output)
    model = getattr(sortslice, _METHODS[method])(
        length=length, counts=counts, strict=run.errors == "strict", **vocabulary, **ecfp
    )
    model, done = on_cluster.fit(input_path, model=model, inputs=inputs, run=run, cluster=cluster)
    model.set_params(strict=False)  # --errors strict is how this fit ran, not a property of the model
    _save_model(model, output)
    tally = Tally(rows=done.rows, invalid=done.n_invalid, first_problem=done.first_problem, seconds=done.seconds)
    line = tally.warning("were left out of the fit")
    if line:
        click.echo(line, err=True)
    click.echo(_fit_summary(model, method, tally, output) + f" ({done.n_partitions:,} partitions)", err=True)


def _df_params(method: str, min_df, max_df) -> dict:
    """``min_df``/``max_df`` for a vocabulary method (hash folding has no vocabulary to bound)."""
    if method == "hash-fold":
        if (min_df, max_df) != (1, 1.0):
            fail("--min-df/--max-df bound a vocabulary: they apply to sort-slice, mim and filter, not hash-fold")
        return {}
    return {"min_df": min_df, "max_df": max_df}


def _examples_in_data_order(model, input_path: str, inputs, run, reader) -> None:
    """Read the file again from the start so each column's example is its id's first molecule.

    A streamed fit records examples chunk by chunk, which depends on the chunk size;
    this makes the model file the same as a fit on all molecules at once (and as a
    Dask fit).  Reading stops once every column has an example, usually after a few
    hundred molecules.  Standard input cannot be read twice and keeps the streamed ones.
    An ids file gives its SMILES column, if it keeps one.
    """
    if reader.kind == "ids":
        if reader.info.smiles_column is not None:
            model.find_examples(b.fp.smiles.tolist() for b in sortslice.iter_ids(reader.info, columns=False))
        return
    again = open_input(
        input_path,
        input_format=inputs.input_format,
        smiles_column=inputs.smiles_column,
        carry=[],
        id_column=inputs.id_column,
        chunk_size=run.chunk_size,
    )
    try:
        model.find_examples(molecules_for_fit(chunk, again.kind) for chunk in again)
    finally:
        again.source.close()


def _note_fit_chunk(tally: Tally, chunk, n_invalid: int, kind, ecfp, run, where) -> None:
    valid = np.ones(len(chunk), dtype=bool)
    errors = np.full(len(chunk), None, dtype=object)
    if n_invalid and (run.errors == "strict" or tally.first_problem is None):
        i, reason = _first_invalid(chunk, kind, ecfp, run.jobs)
        valid[i], errors[i] = False, reason
    tally.note(chunk, valid, errors, where, run.errors)
    tally.invalid += max(0, n_invalid - int((~valid).sum()))


def _save_model(model, output: str) -> None:
    if output == "-":
        from sortslice.engine.persist import to_document

        click.echo(json.dumps(to_document(model), indent=1))
        return
    try:
        model.save(output)  # atomic, with the usual umask permissions (never chmod a device such as /dev/null)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


def _fit_summary(model, method: str, tally: Tally, output: str) -> str:
    where = "stdout" if output == "-" else output
    valid = tally.rows - tally.invalid
    if method == "hash-fold":
        return f"hash-fold, {model.length:,} columns: nothing to learn; wrote {where}"
    n_vocab = len(model.vocabulary_)
    kept = f"kept {n_vocab:,} of {model.n_distinct_ids_:,} distinct ids"
    if n_vocab < model.length:
        kept += f" (columns {n_vocab:,}..{model.length - 1:,} are always 0)"
    prev = model.prevalence_
    span = f"prevalence {int(prev.max()):,}..{int(prev.min()):,}" if n_vocab else "no ids"
    return f"fitted {method} on {valid:,} molecules in {tally.seconds:.1f} s: {kept}, {span}; wrote {where}"


@main.command()
@click.argument("input_path", metavar="IN")
@click.option(
    "-o",
    "--output",
    metavar="MODEL.json",
    required=True,
    help="Where to save the fitted featuriser (JSON; written atomically; '-' is stdout).",
)
@click.option(
    "--length",
    "-L",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Number of columns of the fingerprints.",
)
@click.option(
    "--method",
    type=click.Choice(list(_METHODS)),
    default="sort-slice",
    show_default=True,
    help="sort-slice: the most prevalent ids; mim: highest mutual information with --label; "
    "filter: Gütlein & Kramer's filters with --label; hash-fold: plain folding.",
)
@click.option(
    "--label",
    metavar="COL",
    default=None,
    help="Column with the property (numbers: regression; text: classes) for mim and filter.",
)
@click.option("--counts", is_flag=True, help="Transform to counts (UInt32) instead of 0/1.")
@click.option(
    "--min-df",
    type=DocumentFrequency(),
    default="1",
    show_default=True,
    help="Only ids in at least this many training molecules (an integer) or this fraction of them "
    "(a number with a point, e.g. 0.01) become columns (scikit-learn CountVectorizer's min_df).",
)
@click.option(
    "--max-df",
    type=DocumentFrequency(),
    default="1.0",
    show_default=True,
    help="Only ids in at most this many training molecules (an integer) or this fraction of them "
    "(e.g. 0.9: leave out ids in more than 90%) become columns (CountVectorizer's max_df).",
)
@input_options(carry=False)
@ecfp_options
@run_options
@cluster_options
@check_options
def fit(input_path, output, length, method, label, counts, min_df, max_df, inputs, ecfp, run, cluster, checks):
    """Fit a featuriser on the molecules in IN and save it as JSON.

    Sort & Slice (the default) streams IN chunk by chunk through partial_fit, so
    memory grows with the number of distinct substructures, not with the file.
    mim and filter need every molecule and label at once. Invalid molecules are
    left out of the fit (--errors strict stops instead).

    \b
    Examples:
      sortslice fit train.csv -o model.json --length 1024
      sortslice fit train.smi.gz -o model.json --radius 3 --chirality
      sortslice fit assay.csv --method mim --label pIC50 -o model.json
      sortslice fit 'corpus/*.parquet' -o model.json --dask-local 8
    """
    if cluster.enabled:
        fit_on_cluster(
            input_path,
            output,
            length=length,
            method=method,
            label=label,
            counts=counts,
            inputs=inputs,
            ecfp=ecfp,
            run=run,
            cluster=cluster,
            min_df=min_df,
            max_df=max_df,
        )
        return
    fit_file(
        input_path,
        output,
        length=length,
        method=method,
        label=label,
        counts=counts,
        inputs=inputs,
        ecfp=ecfp,
        run=run,
        min_df=min_df,
        max_df=max_df,
        checks=checks,
    )


def _folder_output(input_path: str, output: str, part_rows, resume: bool) -> bool:
    """Whether ``transform`` writes a folder of parts: IN is several files, or -o ends with '/', or the options ask."""
    from ..io.parts import has_glob

    if resume or part_rows is not None or output.endswith(("/", os.sep)):
        return True
    return input_path != "-" and (has_glob(input_path) or os.path.isdir(input_path))


@main.command()
@click.argument("model_path", metavar="MODEL.json")
@click.argument("input_path", metavar="IN")
@output_options
@input_options()
@run_options
@click.option(
    "--part-rows",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Write a folder of parts (-o DIR/), one per N rows of the single input file.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Complete an interrupted folder of parts: parts that are complete and made by this run's model "
    "from the same input are kept, any other is written again.",
)
@cluster_options
@check_options
def transform(model_path, input_path, output, output_format, inputs, run, part_rows, resume, cluster, checks):
    """Fingerprints of the molecules in IN from a fitted model.

    Applies a featuriser saved by 'sortslice fit'. The ECFP parameters and columns come from MODEL.json. Parquet column
    'fingerprint' is Array(UInt8, LENGTH) (counts: Array(UInt32, LENGTH)), null for
    invalid molecules (see --errors); the ECFP and pooling parameters, including the
    vocabulary, are stored in the file's key-value metadata.

    \b
    Examples:
      sortslice transform model.json molecules.csv -o fingerprints.parquet
      sortslice transform model.json big.csv.gz --id-column id --keep label -o fps.parquet --progress
      sortslice transform model.json test.smi -o X.npy --errors strict
      sortslice transform model.json 'corpus/*.csv' -o fps/                # one part per file
      sortslice transform model.json big.csv.gz -o fps/ --part-rows 1000000
      sortslice transform model.json 'corpus/*.csv' -o fps/ --resume       # after an interruption
      sortslice transform model.json 'corpus/*.parquet' -o fps/ --scheduler tcp://head:8786

    \b
    Folders of parts: when IN is a folder or a glob (one part per file), with
    --part-rows N (one part per N rows of one file) or when -o ends with '/',
    OUT is a folder of Parquet files part-00000.parquet, ... in input order, each
    with the columns and metadata above. Each part is renamed into place when
    complete, and its footer records the input it was made from, so after an
    interruption (Ctrl-C, a kill, a lost machine) --resume checks the parts there
    and writes only the missing, damaged or foreign ones: the result is the same
    bytes as an uninterrupted run. Without --resume the folder must be empty. With
    --scheduler or --dask-local the parts are written by the Dask workers.
    """
    model = _load_model(model_path, checks)
    if cluster.enabled:
        from . import cluster as on_cluster

        if part_rows is not None:
            fail(
                "--part-rows does not apply on a Dask cluster: each input file is one partition (split the input "
                "into files)"
            )
        on_cluster.transform(
            model, input_path, output, output_format, inputs=inputs, run=run, cluster=cluster, resume=resume
        )
        return
    if _folder_output(input_path, output, part_rows, resume):
        from .folders import transform_folder

        done = transform_folder(
            model, input_path, output, output_format, inputs=inputs, run=run, part_rows=part_rows, resume=resume
        )
        line = done.warning(
            "were left out" if run.errors == "skip" else "their fingerprints are null (the error column says why)"
        )
        if line:
            click.echo(line, err=True)
        click.echo(done.line(output), err=True)
        return
    _stream(
        "transform", input_path, output, output_format, inputs, run, model.ecfp_params.to_dict(), model, checks=checks
    )


def _model_document(path: str) -> dict:
    with open(path, "rb") as fh:
        return json.loads(fh.read())


_METHOD_WORDS = {
    "sort-slice": "Sort & Slice (the most prevalent training ids)",
    "hash-fold": "hash folding (id modulo length)",
    "mim": "mutual-information maximisation",
    "filter": "filtered circular fingerprints",
}


def describe_model(path: str, checks: FileChecks | None = None) -> list[tuple[str, str]]:
    """``(field, value)`` lines of ``sortslice info``."""
    _load_model(path, checks)  # validates the file (one-line error if it is not a usable model)
    doc = _model_document(path)
    e, p, t, v = doc["ecfp"], doc["params"], doc["training"], doc["vocabulary"]
    yes = {True: "yes", False: "no"}
    dtype = np.dtype(p["dtype"] or ("uint32" if p["counts"] else "uint8")).name
    rows = [
        ("file", path),
        ("method", f"{doc['method']}: {_METHOD_WORDS[doc['method']]}"),
        ("length", f"{p['length']:,} columns of {'counts' if p['counts'] else '0/1'} ({dtype})"),
        (
            "ecfp",
            f"radius {e['radius']} ({e['invariants'].upper()}{2 * e['radius']}), "
            f"chirality {yes[e['chirality']]}, bond types {yes[e['bond_types']]}, "
            f"ring membership {yes[e['ring_membership']]}, "
            f"redundant environments {yes[e['redundant_environments']]}",
        ),
    ]
    n_mol = t["n_molecules"]
    if doc["method"] != "hash-fold":
        n_vocab = len(v["ids"])
        distinct = t.get("n_distinct_ids")
        rows.append(
            (
                "vocabulary",
                f"{n_vocab:,} ids" + (f" of {distinct:,} distinct in training" if distinct is not None else ""),
            )
        )
        if n_vocab:
            hi, lo = max(v["prevalence"]), min(v["prevalence"])
            pct = (lambda x: f" ({100 * x / n_mol:.1f}%)") if n_mol else (lambda x: "")
            rows.append(("prevalence", f"{hi:,}{pct(hi)} .. {lo:,}{pct(lo)} training molecules per column"))
            if v["score_name"] not in ("prevalence", "none"):
                rows.append((v["score_name"].replace("_", " "), f"{max(v['scores']):.4g} .. {min(v['scores']):.4g}"))
        if "min_df" in p or "max_df" in p:
            rows.append(("document frequency", _df_line(p.get("min_df", 1), p.get("max_df", 1.0), n_mol)))
        if "task" in t:
            task = t["task"] + (
                f" (classes split at the median {t['median']:.4g})" if t.get("median") is not None else ""
            )
            rows.append(("task", task))
    if doc["method"] == "hash-fold":
        rows.append(("training set", "none (folding learns nothing)"))
    else:
        rows.append(("training set", f"{n_mol:,} molecules ({t['n_invalid']:,} invalid, left out)"))
    rows.append(("versions", ", ".join(f"{k} {val}" for k, val in doc["versions"].items())))
    if doc.get("canaries") is not None:
        rows.append(
            ("canaries", f"{len(doc['canaries']['smiles'])} molecules, recomputed when loaded under other versions")
        )
    rows.append(("digest", doc.get("digest") or "none (format version 1)"))
    if doc.get("created"):
        rows.append(("created", doc["created"]))
    return rows


def _df_line(min_df, max_df, n: int) -> str:
    def one(v, word):
        if isinstance(v, int):
            return f"{word} {v:,} molecules"
        return f"{word} {v:g} of the molecules" + (f" ({v * n:,.6g} of {n:,})" if n else "")

    if (min_df, max_df) == (1, 1.0) and isinstance(min_df, int) and isinstance(max_df, float):
        return "no bounds (min_df 1, max_df 1.0)"
    return f"min_df {min_df!r}: {one(min_df, 'at least')}; max_df {max_df!r}: {one(max_df, 'at most')}"


@main.command()
@click.argument("model_path", metavar="MODEL.json")
@click.option("--json", "as_json", is_flag=True, help="Print the model's parameters and training summary as JSON.")
@check_options
def info(model_path, as_json, checks):
    """Describe a fitted model.

    Parameters, vocabulary size, training-set size, prevalence range and versions.

    \b
    Examples:
      sortslice info model.json
      sortslice info model.json --json
    """
    if as_json:
        _load_model(model_path, checks)  # validates
        doc = _model_document(model_path)
        doc["vocabulary"] = {"size": len(doc["vocabulary"]["ids"]), "score_name": doc["vocabulary"]["score_name"]}
        click.echo(json.dumps(doc, indent=1))
        return
    rows = describe_model(model_path, checks)
    width = max(len(k) for k, _ in rows)
    for k, val in rows:
        click.echo(f"{k + ':':<{width + 2}}{val}")


def _explain_rows(model, top: int) -> list[dict]:
    if isinstance(model, sortslice.HashFold):
        fail("a hash-fold model has no vocabulary to explain: column j is every id with id % length == j")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        rows = model.explain(top)
    for w in caught:  # e.g. a model fitted on stored ids without SMILES: one line, not a Python warning
        click.echo(f"Note: {w.message}", err=True)
    return rows


@main.command()
@click.argument("model_path", metavar="MODEL.json")
@click.option(
    "--top",
    "-k",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Number of columns (the first K) to explain.",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default=None,
    help="Also draw the columns' substructures as a grid (.svg or .png).",
)
@click.option(
    "--format",
    "image_format",
    type=click.Choice(["svg", "png"]),
    default=None,
    help="Drawing format (default: from the extension of -o).",
)
@click.option("--per-row", type=click.IntRange(min=1), default=5, show_default=True, help="Drawings per row.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@check_options
def explain(model_path, top, output, image_format, per_row, as_json, checks):
    """Explain (and draw) the first K columns of a model.

    For each column: its ECFP id, score, prevalence and substructure (as a SMILES
    fragment of an example training molecule), one line per column; with -o, the
    substructures are drawn as an SVG or PNG grid.

    \b
    Examples:
      sortslice explain model.json --top 10
      sortslice explain model.json --top 20 -o top20.svg
      sortslice explain model.json -k 12 -o grid.png --per-row 4
    """
    model = _load_model(model_path, checks)
    rows = _explain_rows(model, top)
    if output is not None:
        fmt = image_format or os.path.splitext(output)[1].lower().lstrip(".")
        if fmt not in ("svg", "png"):
            fail(f"cannot tell the drawing format of {output}; use a .svg or .png name or --format")
        _check_writable(output)
        try:
            image = model.draw(top, fmt=fmt, per_row=per_row)
        except ValueError as exc:
            fail(f"{model_path}: {exc}")
        write_bytes_atomic(output, image.encode() if isinstance(image, str) else image)
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    fixed = {"column", "id", "prevalence", "radius", "example", "fragment"}
    score = next((k for k in (rows[0] if rows else {}) if k not in fixed), None)
    head = f"{'column':>6}  {'id':>10}  " + (f"{score.replace('_', ' '):>18}  " if score else "")
    click.echo(head + f"{'prevalence':>10}  {'radius':>6}  fragment")
    for r in rows:
        line = f"{r['column']:>6}  {r['id']:>10}  "
        if score:
            line += f"{r[score]:>18.4g}  "
        rad = "" if r["radius"] is None else str(r["radius"])
        click.echo(line + f"{r['prevalence']:>10,}  {rad:>6}  {r['fragment'] or ''}")
    if output is not None:
        click.echo(f"drew {len(rows)} columns to {output}", err=True)


# ------------------------------------------------------------------ demo, warmup
def _demo_data() -> str:
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
    if not os.path.exists(path):
        fail(f"the demo molecules are missing from this RDKit installation ({path})")
    return path


@main.command()
@click.option(
    "--output-dir",
    "-d",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write the demo's files and keep them (default: a temporary folder, removed at the end).",
)
@click.option("--length", "-L", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option("--radius", type=click.IntRange(0, 64), default=2, show_default=True)
@click.option(
    "--train",
    type=click.IntRange(min=1),
    default=4000,
    show_default=True,
    help="Molecules to fit on; the rest are transformed.",
)
def demo(output_dir, length, radius, train):
    """Show Sort & Slice at work on molecules that ship with RDKit.

    Uses RDKit's NCI sample (4,999 molecules): fits Sort & Slice on the first
    --train, writes the model, transforms the rest to Parquet, explains the top
    columns and compares with hash folding, saying what happened at each step.
    Every step runs the same code as the matching command.

    \b
    Examples:
      sortslice demo
      sortslice demo --output-dir demo-out --length 2048
    """
    source = _demo_data()
    if output_dir is None:
        # a temporary folder, removed on the way out (however the demo ends): nothing is left behind
        with tempfile.TemporaryDirectory(prefix="sortslice-demo-") as out:
            _demo(source, out, length, radius, train, kept=False)
    else:
        os.makedirs(output_dir, exist_ok=True)
        _demo(source, output_dir, length, radius, train, kept=True)


def _demo(source: str, out: str, length: int, radius: int, train: int, kept: bool) -> None:
    """The demo's steps, writing into the folder ``out`` (``kept``: the user's, else removed afterwards)."""
    from .options import DEFAULT_CHUNK_SIZE, InputOptions, RunOptions

    with open(source) as fh:
        lines = [line for line in fh if line.strip()]
    if train >= len(lines):
        fail(f"--train {train} leaves no molecules to transform (the demo set has {len(lines):,})")
    train_path, test_path = os.path.join(out, "train.smi"), os.path.join(out, "test.smi")
    for path, part in ((train_path, lines[:train]), (test_path, lines[train:])):
        write_bytes_atomic(path, "".join(part).encode("utf-8"))  # complete or absent, like every output
    model_path = os.path.join(out, "model.json")
    fps_path = os.path.join(out, "fingerprints.parquet")
    svg_path = os.path.join(out, "top_columns.svg")
    ecfp = dict(
        radius=radius,
        invariants="ecfp",
        chirality=False,
        bond_types=True,
        ring_membership=True,
        redundant_environments=False,
    )
    inputs = InputOptions(None, None, None, ("name",))
    run = RunOptions("null", None, DEFAULT_CHUNK_SIZE, False)
    echo = click.echo
    echo(f"Sort & Slice demo: {len(lines):,} NCI molecules that ship with RDKit ({source})")
    echo(
        f"files in {os.path.abspath(out)}"
        if kept
        else "files in a temporary folder, removed at the end (--output-dir DIR keeps them)"
    )
    echo("")
    echo(f"1. fit: Sort & Slice, {length:,} columns, ECFP{2 * radius}, on the first {train:,} molecules")
    t = time.perf_counter()
    model = fit_file(
        train_path,
        model_path,
        length=length,
        method="sort-slice",
        label=None,
        counts=False,
        inputs=InputOptions(None, None, None),
        ecfp=ecfp,
        run=run,
        quiet=True,
    )
    distinct = model.n_distinct_ids_
    left_out = f" ({model.n_invalid_:,} invalid, left out)" if model.n_invalid_ else ""
    echo(
        f"   {model.n_molecules_:,} molecules{left_out} have {distinct:,} distinct substructure ids; kept the "
        f"{len(model.vocabulary_):,} most prevalent ({int(model.prevalence_.max()):,} .. "
        f"{int(model.prevalence_.min()):,} molecules each) in {time.perf_counter() - t:.1f} s"
    )
    echo(f"   -> {model_path}")
    bits = model.state_ids_.astype(np.int64) % length
    occupancy = np.bincount(bits, minlength=length)
    shared = occupancy[model.vocabulary_.astype(np.int64) % length] > 1
    echo(
        f"   hash folding these {distinct:,} ids into {length:,} bits would mix {distinct / length:.1f} "
        f"substructures per bit on average ({int(shared.sum()):,} of the {len(model.vocabulary_):,} most "
        f"prevalent would share their bit); Sort & Slice gives each its own column"
    )
    echo("")
    n_test = len(lines) - train
    echo(f"2. transform: the other {n_test:,} molecules")
    t = time.perf_counter()
    tally = _stream("transform", test_path, fps_path, None, inputs, run, ecfp, model, quiet=True)
    import pyarrow.parquet as pq

    table = pq.read_table(fps_path)
    valid = table.column("fingerprint").drop_null()
    on = (np.asarray(valid.combine_chunks().flatten()).reshape(len(valid), -1) != 0).sum(1)
    echo(
        f"   {table.num_rows:,} rows ({tally.invalid:,} invalid: null fingerprint, reason in 'error') in "
        f"{time.perf_counter() - t:.1f} s; {on.mean():.1f} of {length:,} columns set per molecule on average"
    )
    schema = ", ".join(f"{f.name} ({f.type})" for f in table.schema)
    echo(f"   -> {fps_path}: {schema}")
    echo("")
    echo("3. explain: the most prevalent columns")
    for r in model.explain(5):
        echo(
            f"   column {r['column']}: id {r['id']}, in {r['prevalence']:,} of {model.n_molecules_:,} "
            f"training molecules: {r['fragment']}"
        )
    write_bytes_atomic(svg_path, model.draw(12, fmt="svg").encode())
    echo(f"   -> {svg_path} (the top 12 drawn)")
    echo("")
    echo("The same with the command line, on your own files:")
    if not kept:  # the temporary folder is about to go: name the files as the user's own
        train_path, test_path, model_path, fps_path, svg_path = (
            os.path.basename(p) for p in (train_path, test_path, model_path, fps_path, svg_path)
        )
    echo(f"   sortslice fit {train_path} -o {model_path} --length {length} --radius {radius}")
    echo(f"   sortslice transform {model_path} {test_path} --keep name -o {fps_path}")
    echo(f"   sortslice explain {model_path} --top 12 -o {svg_path}")


@main.command()
@click.option("--quiet", "-q", is_flag=True, help="Print nothing.")
def warmup(quiet):
    """Compile (or load) the Numba kernels and report the time.

    The first use of each kernel after installing compiles it (seconds); later
    processes load it from the cache. Run this once after installing, or in a
    container build step, so the first real command starts at full speed.

    \b
    Examples:
      sortslice warmup
      SORTSLICE_CACHE_DIR=/opt/cache sortslice warmup
    """
    report = sortslice.warmup()
    if not quiet:
        click.echo(str(report))
