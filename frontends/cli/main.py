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
import threading
import warnings

import click

import sortslice

from .. import jobs
from ..engine.atomic import remove_temporaries
from ..engine.fastpath import set_session_parser
from ..engine.featurisers import CLASSES
from ..engine.fingerprint import InvalidMoleculeError
from ..io.errors import FileError, InputNote
from ..io.sinks import write_bytes_atomic
from ..jobs import PIECE
from . import cluster as on_cluster
from .demo import demo
from .describe import describe_model, model_document
from .errors import fail
from .fitting import fit_file, fit_on_cluster
from .folders import transform_folder
from .options import (
    DocumentFrequency,
    check_options,
    cluster_options,
    ecfp_options,
    input_options,
    output_options,
    run_options,
)
from .pipeline import check_writable, ecfp_for, load_model, stream_file

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP as an exception (like SIGINT's KeyboardInterrupt), so temporary outputs are removed on
    the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    exc = Interrupted(signum)
    jobs.INTERRUPTS.append(exc)  # raised again by the chunk loop if Python swallows it (a weakref callback)
    raise exc


_show_warning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, sortslice.VersionChangeWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _show_warning(message, category, filename, lineno, file, line)


class _Commands(click.Group):
    """The command group: an interrupted command ends with one line and the shell's status, 128 + signal."""

    def invoke(self, ctx):
        jobs.INTERRUPTS.clear()  # a new command (in-process runs share the module)
        try:
            with warnings.catch_warnings():
                # the commands count invalid rows and report them in their own words (``run.Tally``)
                warnings.simplefilter("ignore", sortslice.InvalidMoleculeWarning)
                # a model or ids file from another sortslice/RDKit whose canaries changed: one line on stderr
                warnings.simplefilter("always", sortslice.VersionChangeWarning)
                warnings.showwarning = _one_line_warning
                _notes_once()  # the input's notes, each once (other warnings go on to the line above)
                return super().invoke(ctx)
        except (FileError, InvalidMoleculeError) as exc:  # the jobs' one-line errors become the command's
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
        finally:
            set_session_parser("auto")  # --parser is the command's: not left on for the process


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
@click.option(
    "--parser",
    type=click.Choice(["auto", "rdkit"]),
    default="auto",
    show_default=True,
    help="How SMILES are parsed: 'auto' takes the certified fast path where it serves (identical results), "
    "'rdkit' parses every molecule with RDKit. Goes before the command: sortslice --parser rdkit transform ...",
)
def main(parser):
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
    set_session_parser(parser)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            signal.signal(signal.SIGHUP, _terminate)  # the terminal closed (not under nohup, which ignores it)
        if hasattr(signal, "SIGXFSZ"):
            # past a file size limit (ulimit -f) a write then fails with EFBIG, reported as one line,
            # instead of the signal killing the process (CPython ignores it too, an embedding host may not)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


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
    stream_file("ids", input_path, output, output_format, inputs, run, ecfp, piece=PIECE)


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
    ecfp = ecfp_for(input_path, ecfp)
    featuriser = sortslice.HashFold(length=length, counts=counts, **ecfp).fit()
    stream_file("fold", input_path, output, output_format, inputs, run, ecfp, featuriser, checks=checks, piece=PIECE)


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
    type=click.Choice(list(CLASSES)),
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
    model = load_model(model_path, checks)
    if cluster.enabled:
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
        done = transform_folder(
            model,
            input_path,
            output,
            output_format,
            inputs=inputs,
            run=run,
            part_rows=part_rows,
            resume=resume,
            piece=PIECE,
        )
        line = done.warning(
            "were left out" if run.errors == "skip" else "their fingerprints are null (the error column says why)"
        )
        if line:
            click.echo(line, err=True)
        click.echo(done.line(output), err=True)
        return
    stream_file(
        "transform",
        input_path,
        output,
        output_format,
        inputs,
        run,
        model.ecfp_params.to_dict(),
        model,
        checks=checks,
        piece=PIECE,
    )


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
        load_model(model_path, checks)  # validates
        doc = model_document(model_path)
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
    model = load_model(model_path, checks)
    rows = _explain_rows(model, top)
    if output is not None:
        fmt = image_format or os.path.splitext(output)[1].lower().lstrip(".")
        if fmt not in ("svg", "png"):
            fail(f"cannot tell the drawing format of {output}; use a .svg or .png name or --format")
        check_writable(output)
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


main.add_command(demo)
