"""``fit`` and ``transform`` on a Dask cluster (``--scheduler ADDRESS`` / ``--dask-local N``).

The commands hand their options to :mod:`sortslice.dask` unchanged; this module
only checks the combinations a cluster run cannot honour, connects, and turns
the module's errors into the CLI's one-line errors.  The output is what the
single-machine command writes: the same model JSON, or — for ``transform`` — a
folder of Parquet files (one per input file) with the same columns and metadata.
"""

from __future__ import annotations

import contextlib

import click

from ..engine.featurisers import METHODS
from .errors import fail


def _dask():
    try:
        import sortslice.dask as sd
    except ImportError as exc:
        fail(f"--scheduler/--dask-local need Dask ({exc.name} is not installed): pip install 'sortslice[dask]'")
    return sd


@contextlib.contextmanager
def _client(cluster):
    sd = _dask()
    try:
        with sd.connect(cluster.scheduler, cluster.local_workers, **_local_kwargs(cluster)) as client:
            yield client
    except OSError as exc:  # distributed raises OSError (TimeoutError) when the scheduler is unreachable
        where = cluster.scheduler or "the local cluster"
        fail(f"cannot connect to {where}: {exc}")


def _local_kwargs(cluster) -> dict:
    if cluster.scheduler is not None:
        return {}
    import logging

    # no dashboard (its port may be taken; nobody looks at it in a batch job); task errors reach the
    # user as the CLI's one-line error, so the workers' own tracebacks are not logged
    return {"dashboard_address": None, "silence_logs": logging.CRITICAL}


def _check(run, what: str) -> None:
    if run.jobs is not None:
        fail(
            f"--jobs does not apply to {what} on a Dask cluster: every worker process uses one core "
            f"(choose the workers with --dask-local N or on the cluster)"
        )


def _errors(sd, exc) -> None:
    from sortslice.engine.fingerprint import InvalidMoleculeError

    if isinstance(exc, (sd.InputError, InvalidMoleculeError)):
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, InvalidMoleculeError) and "errors='strict'" not in message:
            message += " (--errors strict)"
        fail(message)
    raise exc


def check_method(method: str) -> None:
    if not METHODS[method].partitioned:
        fail(
            f"--method {method} cannot be fitted on a Dask cluster: it needs every molecule and label at once "
            f"(use it without --scheduler/--dask-local)"
        )


def fit(input_path: str, *, model, inputs, run, cluster):
    """``sortslice fit`` on a cluster: Sort & Slice (or hash folding) over every partition of IN.

    Returns the fitted featuriser and the :class:`sortslice.dask.FitSummary`; the caller has
    already checked ``method`` with :func:`check_method`.
    """
    _check(run, "fit")
    sd = _dask()
    with _client(cluster) as client:
        try:
            return sd.fit_partitioned(
                model,
                input_path,
                smiles_column=inputs.smiles_column,
                input_format=inputs.input_format,
                chunk_size=run.chunk_size,
                client=client,
                return_summary=True,
                progress=_progress(run),
            )
        except Exception as exc:
            _errors(sd, exc)


def transform(
    model, input_path: str, output: str, output_format: str | None, *, inputs, run, cluster, resume: bool = False
) -> None:
    """``sortslice transform`` on a cluster: OUT is a folder of ``part-NNNNN.parquet`` files (as on one machine)."""
    from .folders import check_output_folder_options

    check_output_folder_options(output, output_format)
    _check(run, "transform")
    sd = _dask()
    with _client(cluster) as client:
        try:
            done = sd.transform_partitioned(
                model,
                input_path,
                output,
                smiles_column=inputs.smiles_column,
                input_format=inputs.input_format,
                id_column=inputs.id_column,
                keep=inputs.keep,
                errors=run.errors,
                chunk_size=run.chunk_size,
                client=client,
                resume=resume,
                progress=_progress(run),
                hint="use --resume",
            )
        except Exception as exc:
            _errors(sd, exc)
    for text in done.notes:
        click.echo(f"Note: {text}", err=True)
    consequence = "were left out" if run.errors == "skip" else "their fingerprints are null (the error column says why)"
    line = done.warning(consequence)
    if line:
        click.echo(line, err=True)
    kept = ""
    if done.kept:
        kept = f"; {done.kept:,} of the {len(done.paths):,} parts were already complete and were kept"
    click.echo(
        f"wrote {done.written:,} rows in {len(done.paths):,} files to {output} in {done.seconds:.1f} s{kept}", err=True
    )


def _progress(run) -> bool:
    import sys

    return sys.stderr.isatty() if run.progress is None else bool(run.progress)
