"""Option decorators shared by the commands, so every command spells an option the same way.

Each decorator adds a group of options and hands the command one value for the
group (``ecfp`` = keyword arguments of :func:`sortslice.ecfp`, ``inputs``, ``run``),
so command bodies do not repeat a dozen parameters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click

from ..engine.config import DEFAULT_CHUNK_SIZE
from ..io.sinks import OUTPUT_FORMATS
from ..io.sniff import INPUT_FORMATS


def _apply(fn, options):
    for opt in reversed(options):
        fn = opt(fn)
    return fn


class EcfpOptions(dict):
    """Keyword arguments of :func:`sortslice.ecfp`, remembering which ones the user gave (``explicit``):
    with an ids file as input the others are taken from the file."""

    explicit: frozenset = frozenset()

    def for_ids(self, stored: dict) -> EcfpOptions:
        """The stored parameters, with the ones given on the command line in their place."""
        out = EcfpOptions({**stored, **{k: v for k, v in self.items() if k in self.explicit}})
        out.explicit = self.explicit
        return out


#: each ECFP flag and the ecfp() argument it sets
_ECFP_FLAGS = {
    "radius": "radius",
    "fcfp": "invariants",
    "chirality": "chirality",
    "bond_types": "bond_types",
    "ring_membership": "ring_membership",
    "redundant_environments": "redundant_environments",
}


def ecfp_options(fn):
    """``--radius --fcfp --chirality --no-bond-types --no-ring-membership --redundant-environments`` -> ``ecfp``."""
    options = [
        click.option(
            "--radius", type=click.IntRange(0, 64), default=2, show_default=True, help="Morgan radius (2 = ECFP4)."
        ),
        click.option("--fcfp", is_flag=True, help="FCFP: pharmacophoric feature invariants instead of ECFP's."),
        click.option(
            "--chirality/--no-chirality",
            default=False,
            show_default=True,
            help="Include chirality (RDKit includeChirality).",
        ),
        click.option("--bond-types/--no-bond-types", default=True, show_default=True, help="Distinguish bond orders."),
        click.option(
            "--ring-membership/--no-ring-membership",
            default=True,
            show_default=True,
            help="Atom invariants include ring membership (ECFP only).",
        ),
        click.option(
            "--redundant-environments/--no-redundant-environments",
            default=False,
            show_default=True,
            help="Keep environments that cover the same atoms as a smaller one.",
        ),
    ]

    @functools.wraps(fn)
    def wrapper(*args, radius, fcfp, chirality, bond_types, ring_membership, redundant_environments, **kwargs):
        ecfp = EcfpOptions(
            radius=radius,
            invariants="fcfp" if fcfp else "ecfp",
            chirality=chirality,
            bond_types=bond_types,
            ring_membership=ring_membership,
            redundant_environments=redundant_environments,
        )
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ecfp.explicit = frozenset(
                key
                for flag, key in _ECFP_FLAGS.items()
                if ctx.get_parameter_source(flag) not in (None, click.core.ParameterSource.DEFAULT)
            )
        return fn(*args, ecfp=ecfp, **kwargs)

    return _apply(wrapper, options)


@dataclass(frozen=True)
class InputOptions:
    input_format: str | None
    smiles_column: str | None
    id_column: str | None
    keep: tuple = ()

    @property
    def carry(self) -> list[str]:
        """Columns carried to the output: the id column first, then ``--keep`` in order."""
        out = [self.id_column] if self.id_column else []
        return list(dict.fromkeys(out + list(self.keep)))


def input_options(carry: bool = True):
    """``--input-format --smiles-column --id-column`` (and ``--keep`` when rows are written) -> ``inputs``."""

    def decorate(fn):
        options = [
            click.option(
                "--input-format",
                type=click.Choice(INPUT_FORMATS),
                default=None,
                help="Input format (default: from the extension, ignoring .gz; sniffed for stdin).",
            ),
            click.option(
                "--smiles-column",
                metavar="COL",
                default=None,
                help="Column holding SMILES (default: the one column named like 'smiles').",
            ),
            click.option(
                "--id-column",
                metavar="COL",
                default=None,
                help="Column naming each row: "
                + ("carried first into the output and " if carry else "")
                + "used in messages (.smi/SDF: the title).",
            ),
        ]
        if carry:
            options.append(
                click.option(
                    "--keep", metavar="COL", multiple=True, help="Carry this input column into the output (repeatable)."
                )
            )

        @functools.wraps(fn)
        def wrapper(*args, input_format, smiles_column, id_column, keep=(), **kwargs):
            return fn(*args, inputs=InputOptions(input_format, smiles_column, id_column, tuple(keep)), **kwargs)

        return _apply(wrapper, options)

    return decorate


def output_options(fn):
    """``-o/--output`` (default ``-``, stdout) and ``--format``."""
    options = [
        click.option(
            "-o",
            "--output",
            metavar="OUT",
            default="-",
            show_default=True,
            help="Output file; '-' is stdout. Written to a temporary file and renamed when complete.",
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            help="Output format (default: from the extension; Parquet for stdout).",
        ),
    ]
    return _apply(fn, options)


@dataclass(frozen=True)
class RunOptions:
    errors: str
    jobs: int | None
    chunk_size: int
    progress: bool | None


def run_options(fn):
    """``--errors -j/--jobs --chunk-size --progress/--no-progress`` -> ``run``."""
    options = [
        click.option(
            "--errors",
            type=click.Choice(["null", "skip", "strict"]),
            default="null",
            show_default=True,
            help="Invalid molecules: keep the row with a null fingerprint and a reason in the 'error' "
            "column (null), leave the row out (skip) or stop with an error (strict).",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            help="Parsing processes and kernel threads (default: all cores).",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(min=1),
            default=DEFAULT_CHUNK_SIZE,
            show_default=True,
            help="Molecules read, fingerprinted and written at a time (bounds memory).",
        ),
        click.option(
            "--progress/--no-progress",
            default=None,
            help="Progress bar with rate and ETA on stderr (default: when stderr is a terminal).",
        ),
    ]

    @functools.wraps(fn)
    def wrapper(*args, errors, jobs, chunk_size, progress, **kwargs):
        return fn(*args, run=RunOptions(errors, jobs, chunk_size, progress), **kwargs)

    return _apply(wrapper, options)


@dataclass(frozen=True)
class ClusterOptions:
    scheduler: str | None
    local_workers: int | None

    @property
    def enabled(self) -> bool:
        return self.scheduler is not None or self.local_workers is not None


def cluster_options(fn):
    """``--scheduler ADDRESS --dask-local N`` -> ``cluster`` (run the command on a Dask cluster)."""
    options = [
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="Run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786). IN may "
            "then be a folder, a glob or a file: one partition per file. Needs sortslice[dask].",
        ),
        click.option(
            "--dask-local",
            "local_workers",
            metavar="N",
            type=click.IntRange(min=1),
            default=None,
            help="Run on a local Dask cluster of N worker processes (one thread each).",
        ),
    ]

    @functools.wraps(fn)
    def wrapper(*args, scheduler, local_workers, **kwargs):
        if scheduler is not None and local_workers is not None:
            raise click.UsageError("give --scheduler or --dask-local, not both")
        return fn(*args, cluster=ClusterOptions(scheduler, local_workers), **kwargs)

    return _apply(wrapper, options)


@dataclass(frozen=True)
class FileChecks:
    """How model and ids files are checked on reading (``sortslice.load``'s and ``read_ids``' keywords)."""

    allow_edited: bool = False
    strict_versions: bool = False

    def kwargs(self) -> dict:
        return {"allow_edited": self.allow_edited, "strict_versions": self.strict_versions}


def check_options(fn):
    """``--allow-edited --strict-versions`` -> ``checks`` (how model and ids files are checked)."""
    options = [
        click.option(
            "--allow-edited",
            is_flag=True,
            help="Accept a model or ids file whose content digest does not match (edited on purpose); "
            "every other check still applies.",
        ),
        click.option(
            "--strict-versions",
            is_flag=True,
            help="A model or ids file written under another sortslice or RDKit version whose canary "
            "molecules now give other ids is an error (default: one warning).",
        ),
    ]

    @functools.wraps(fn)
    def wrapper(*args, allow_edited, strict_versions, **kwargs):
        return fn(*args, checks=FileChecks(allow_edited, strict_versions), **kwargs)

    return _apply(wrapper, options)


class DocumentFrequency(click.ParamType):
    """``--min-df/--max-df``: an integer is a number of molecules, a number with a point or exponent a fraction."""

    name = "N|F"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        text = str(value).strip()
        try:
            number = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            self.fail(f"{value!r} is neither an integer (molecules) nor a fraction such as 0.5", param, ctx)
        from ..engine.featurisers.state import check_df

        try:
            return check_df(number, param.name if param is not None else "value")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
