"""``sortslice fit``: a featuriser fitted on a file (streamed through :func:`sortslice.jobs.count_prevalence` for
Sort & Slice), or on a Dask cluster (:mod:`.cluster`), and saved."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import click
import numpy as np

import sortslice

from ..engine.featurisers import CLASSES, SortSlice
from ..engine.fingerprint import concat_results
from ..io.readers import Chunk, molecules_for_fit, open_input
from ..jobs import Tally, chunk_ids, chunk_jobs, count_prevalence
from .errors import fail
from .options import FileChecks
from .pipeline import check_writable, ecfp_for, open_checked
from .run import Progress


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
    """Row and reason of the first invalid molecule of a whole-set fit (run only when the fit saw some)."""
    fp = chunk_ids(chunk, kind, ecfp, jobs)
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
    vocabulary = df_params(method, min_df, max_df)
    check_writable(output)
    ecfp = ecfp_for(input_path, ecfp)
    reader = open_checked(input_path, "fit", ecfp, inputs, run, [label] if label else [], checks)
    model = CLASSES[method](length=length, counts=counts, **vocabulary, **ecfp)
    where = reader.source.name
    tally = Tally()
    bar = Progress(run.progress, reader)
    started = time.perf_counter()
    try:
        if method == "hash-fold":
            model.fit()  # folding learns nothing: the input is only checked to exist and have its columns
        elif method == "sort-slice":
            # streamed: only the prevalence table (distinct ids) is kept between chunks
            model = _fit_streamed(model, reader, input_path, inputs, run, ecfp, tally, bar)
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
    save_model(model, output)
    if not quiet:
        line = tally.warning("were left out of the fit")
        if line:
            click.echo(line, err=True)
        click.echo(fit_summary(model, method, tally, output), err=True)
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
    vocabulary = df_params(method, min_df, max_df)
    check_writable(output)
    model = CLASSES[method](length=length, counts=counts, strict=run.errors == "strict", **vocabulary, **ecfp)
    model, done = on_cluster.fit(input_path, model=model, inputs=inputs, run=run, cluster=cluster)
    model.set_params(strict=False)  # --errors strict is how this fit ran, not a property of the model
    save_model(model, output)
    tally = Tally(rows=done.rows, invalid=done.n_invalid, first_problem=done.first_problem, seconds=done.seconds)
    line = tally.warning("were left out of the fit")
    if line:
        click.echo(line, err=True)
    click.echo(fit_summary(model, method, tally, output) + f" ({done.n_partitions:,} partitions)", err=True)


def df_params(method: str, min_df, max_df) -> dict:
    """``min_df``/``max_df`` for a vocabulary method (hash folding has no vocabulary to bound)."""
    if method == "hash-fold":
        if (min_df, max_df) != (1, 1.0):
            fail("--min-df/--max-df bound a vocabulary: they apply to sort-slice, mim and filter, not hash-fold")
        return {}
    return {"min_df": min_df, "max_df": max_df}


def _fit_streamed(model, reader, input_path: str, inputs, run, ecfp: dict, tally: Tally, bar) -> SortSlice:
    """Sort & Slice over ``reader``'s chunks: the prevalence state counted chunk by chunk (each chunk's ids
    computed once), ranked as :meth:`SortSlice.fit` does, with each column's example from the data."""
    where = reader.source.name
    # standard input cannot be read again: its examples are recorded as the chunks pass, as a streamed
    # partial_fit records them (each column's from the first chunk holding its id while it is a column)
    streamed = SortSlice(**model.get_params()) if input_path == "-" and reader.kind != "ids" else None

    def record_examples(chunk, fp) -> None:
        if streamed is not None:
            streamed.partial_fit(replace(fp, smiles=np.asarray(chunk.molecules, dtype=object)))

    state = count_prevalence(
        reader,
        reader.kind,
        ecfp,
        source=where,
        errors=run.errors,
        tally=tally,
        jobs=run.jobs,
        on_chunk=bar.update,
        on_ids=record_examples,
    )
    if not state.n_molecules:
        return model
    params = model.get_params()
    try:  # the error fit() gives for bounds that conflict over the whole file
        model.document_frequency_range(state.n_molecules)
    except ValueError as exc:
        fail(f"{where}: {exc}")
    model = SortSlice.from_prevalence(state.ids, state.prevalence, state.n_molecules, state.n_invalid, **params)
    if streamed is not None:
        columns = set(model.vocabulary_.tolist())
        model.set_examples({i: e for i, e in streamed.examples_.items() if i in columns})
    elif input_path != "-":
        _examples_in_data_order(model, input_path, inputs, run, reader)
    return model


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


def save_model(model, output: str) -> None:
    if output == "-":
        from sortslice.engine.persist import to_document

        click.echo(json.dumps(to_document(model), indent=1))
        return
    try:
        model.save(output)  # atomic, with the usual umask permissions (never chmod a device such as /dev/null)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


def fit_summary(model, method: str, tally: Tally, output: str) -> str:
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
