"""What the benchmark scripts share: what their reports' headers say about the run (the load average, the
commit, the CPU, the versions of the libraries measured) and the ``sortslice`` command they start.

The scripts import it as a sibling module: ``python perf/NAME.py`` puts ``perf/`` on ``sys.path``, and so
do ``perf/conftest.py`` and ``tests/datasets.py``'s ``perf_script`` (the tests that load a script).
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the ``sortslice`` command as a process of this interpreter (not whichever ``sortslice`` is first on PATH)
CLI = [sys.executable, "-c", "from sortslice.cli import main; main(prog_name='sortslice')"]

#: what ``git_commit(dirty=True)`` appends when tracked files differ from the commit
UNCOMMITTED = " (uncommitted changes in the working tree)"

#: the name a report gives a library -> the module whose ``__version__`` it prints
MODULES = {
    "RDKit": "rdkit",
    "Numba": "numba",
    "NumPy": "numpy",
    "SciPy": "scipy",
    "pyarrow": "pyarrow",
    "Polars": "polars",
    "Dask": "dask",
    "distributed": "distributed",
    "scikit-learn": "sklearn",
    "sortslice": "sortslice",
}


def load_average(one_minute: bool = False, unknown: str = "n/a") -> str:
    """The 1-, 5- and 15-minute load averages, two decimals each (``"1.71 1.88 2.34"``), or only the
    1-minute one; ``unknown`` where the system keeps none."""
    try:
        loads = os.getloadavg()
    except (AttributeError, OSError):
        return unknown
    return " ".join(f"{x:.2f}" for x in (loads[:1] if one_minute else loads))


def git_commit(dirty: bool | str = False, unknown: str = "unknown") -> str:
    """The short hash of the repository's HEAD; ``unknown`` outside a checkout or without git.

    With ``dirty`` (True: ``UNCOMMITTED``; a string: that note), the note is appended when tracked files
    have uncommitted changes.
    """
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        if rev and dirty:
            changed = subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            if changed:
                rev += UNCOMMITTED if dirty is True else dirty
    except (OSError, subprocess.SubprocessError):
        return unknown
    return rev or unknown


def cpu_name(unknown: str | None = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``); where that cannot be read, ``platform.processor()``, and
    where that is empty ``unknown`` (default: ``platform.machine()``, e.g. ``x86_64``)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or (platform.machine() if unknown is None else unknown)


def versions(*names: str, python: bool = True) -> str:
    """``"Python 3.11.9, RDKit 2024.09.6, Numba 0.61.0"``: Python's version (unless ``python=False``), then
    each named library's (a name of ``MODULES``, or a module's own name), in the order given."""
    parts = [f"Python {platform.python_version()}"] if python else []
    for name in names:
        parts.append(f"{name} {importlib.import_module(MODULES.get(name, name)).__version__}")
    return ", ".join(parts)
