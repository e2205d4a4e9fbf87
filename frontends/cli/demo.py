"""``sortslice demo``: Sort & Slice at work on molecules that ship with RDKit, through the commands' own code."""

from __future__ import annotations

import os
import tempfile
import time

import click
import numpy as np

from ..io.sinks import write_bytes_atomic
from .errors import fail
from .fitting import fit_file
from .options import DEFAULT_CHUNK_SIZE, InputOptions, RunOptions
from .pipeline import stream_file


def _demo_data() -> str:
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")
    if not os.path.exists(path):
        fail(f"the demo molecules are missing from this RDKit installation ({path})")
    return path


@click.command()
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
    tally = stream_file("transform", test_path, fps_path, None, inputs, run, ecfp, model, quiet=True)
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
