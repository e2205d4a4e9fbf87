import os
import sys
from pathlib import Path

import pytest

# make tests/ importable as plain modules (datasets, reference, strategies)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdkit import RDLogger  # noqa: E402

import datasets  # noqa: E402

RDLogger.DisableLog("rdApp.*")

#: node ids of the collected ``data`` tests that were not run: by the -m expression, or for want of the data
_DATA_DESELECTED: set[str] = set()
_DATA_ABSENT: list[str] = []
#: node ids of the collected ``slow`` tests (whole-set loops) the -m expression left out
_SLOW_DESELECTED: set[str] = set()


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_deselected(items):
    _DATA_DESELECTED.update(i.nodeid for i in items if i.get_closest_marker("data"))
    _SLOW_DESELECTED.update(
        i.nodeid for i in items if i.get_closest_marker("slow") and not i.get_closest_marker("data")
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After -m has chosen: the chosen ``data`` tests need the large sets; without them they are deselected
    with one line in the summary (an error under CI=true, where the data are expected)."""
    if datasets.data_dir() is not None:
        return
    wanted = [i for i in items if i.get_closest_marker("data")]
    if not wanted:
        return
    if _ci():
        raise pytest.UsageError(f"{len(wanted)} tests marked `data` were selected and {datasets.MISSING} (CI=true)")
    _DATA_ABSENT.extend(i.nodeid for i in wanted)
    items[:] = [i for i in items if not i.get_closest_marker("data")]
    config.hook.pytest_deselected(items=wanted)


def pytest_sessionfinish(session, exitstatus):
    # `pytest -m data` on a clone without the data: nothing left to run is not a failure
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _DATA_ABSENT:
        session.exitstatus = pytest.ExitCode.OK


def pytest_terminal_summary(terminalreporter):
    n = len(_DATA_DESELECTED)
    if n:
        folder = datasets.data_dir()
        expr = terminalreporter.config.option.markexpr
        why = (
            datasets.MISSING + " (CI runs them)"
            if folder is None
            else f"-m {expr!r} leaves them out; `python -m pytest -m data` runs them on {folder}"
        )
        terminalreporter.write_line(f"{n} tests marked `data` deselected: {why}")
    if _SLOW_DESELECTED:
        terminalreporter.write_line(
            f"{len(_SLOW_DESELECTED)} tests marked `slow` deselected: whole-set loops over the "
            "in-repository data (a sample of each runs by default); `python -m pytest -m slow` "
            "runs them"
        )
    # how many generated inputs the fuzz suite tried, per route (``tests/test_fuzz.py``)
    fuzz = sys.modules.get("test_fuzz")
    tried = getattr(fuzz, "TRIED", None)
    if tried:
        routes = ", ".join(f"{k}: {v:,}" for k, v in sorted(tried.items()))
        terminalreporter.write_line(f"fuzz inputs tried: {sum(tried.values()):,} ({routes})")
