import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# Bytecode caches are written even under PYTHONDONTWRITEBYTECODE=1 (set on some machines and images): the
# suite starts about a hundred Python processes (CLI runs, signal and cache tests), each of which would
# otherwise compile the package again, and pytest would rewrite every test module in every xdist worker.
# The caches go to __pycache__ folders, which git ignores.
sys.dont_write_bytecode = False

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
#: under CI=true, data tests selected but no data: the one-line error an xdist worker hands the controller
_CI_MISSING: list[str] = []


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


#: every deselected node id (an xdist worker reports them: the controller's summary counts them)
_ALL_DESELECTED: set[str] = set()


def pytest_deselected(items):
    _ALL_DESELECTED.update(i.nodeid for i in items)
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
        message = f"{len(wanted)} tests marked `data` were selected and {datasets.MISSING} (CI=true)"
        if not hasattr(config, "workeroutput"):
            raise pytest.UsageError(message)
        # an xdist worker: run nothing, and the controller fails the run with this line
        _CI_MISSING.append(message)
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    _DATA_ABSENT.extend(i.nodeid for i in wanted)
    items[:] = [i for i in items if not i.get_closest_marker("data")]
    config.hook.pytest_deselected(items=wanted)


#: what the xdist workers report to the controller, which collects nothing itself (``-n``, the default)
_FROM_WORKERS: dict = {"data": set(), "slow": set(), "absent": set(), "all": set(), "ci_missing": [], "fuzz": {}}


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the controller what its summary prints
        fuzz = sys.modules.get("test_fuzz")
        workeroutput["sortslice"] = {
            "data": sorted(_DATA_DESELECTED),
            "slow": sorted(_SLOW_DESELECTED),
            "absent": sorted(_DATA_ABSENT),
            "all": sorted(_ALL_DESELECTED),
            "ci_missing": list(_CI_MISSING),
            "fuzz": dict(getattr(fuzz, "TRIED", {}) or {}),
        }
    if _FROM_WORKERS["ci_missing"]:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: {_FROM_WORKERS['ci_missing'][0]}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    # `pytest -m data` on a clone without the data: nothing left to run is not a failure
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and (_DATA_ABSENT or _FROM_WORKERS["absent"]):
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller of an xdist run: every worker collects the same tests (the sets are the union); the
    fuzz inputs each one tried add up."""
    got = getattr(node, "workeroutput", {}).get("sortslice")
    if not got:
        return
    new = set(got["all"]) - _FROM_WORKERS["all"]
    for key in ("data", "slow", "absent", "all"):
        _FROM_WORKERS[key].update(got[key])
    # the "N deselected" of the last summary line, as a run without -n prints it
    reporter = node.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and new:
        reporter.stats.setdefault("deselected", []).extend(SimpleNamespace(nodeid=i) for i in sorted(new))
    _FROM_WORKERS["ci_missing"].extend(got["ci_missing"])
    for route, n in got["fuzz"].items():
        _FROM_WORKERS["fuzz"][route] = _FROM_WORKERS["fuzz"].get(route, 0) + n


def pytest_terminal_summary(terminalreporter):
    data = _DATA_DESELECTED | _FROM_WORKERS["data"]
    slow = _SLOW_DESELECTED | _FROM_WORKERS["slow"]
    n = len(data)
    if n and not _FROM_WORKERS["ci_missing"]:
        folder = datasets.data_dir()
        expr = terminalreporter.config.option.markexpr
        why = (
            datasets.MISSING + " (CI runs them)"
            if folder is None
            else f"-m {expr!r} leaves them out; `python -m pytest -m data` runs them on {folder}"
        )
        terminalreporter.write_line(f"{n} tests marked `data` deselected: {why}")
    if slow:
        terminalreporter.write_line(
            f"{len(slow)} tests marked `slow` deselected: whole-set loops over the "
            "in-repository data (a sample of each runs by default); `python -m pytest -m slow` "
            "runs them"
        )
    # how many generated inputs the fuzz suite tried, per route (``tests/test_fuzz.py``)
    fuzz = sys.modules.get("test_fuzz")
    tried = dict(getattr(fuzz, "TRIED", {}) or {})
    for route, k in _FROM_WORKERS["fuzz"].items():
        tried[route] = tried.get(route, 0) + k
    if tried:
        routes = ", ".join(f"{k}: {v:,}" for k, v in sorted(tried.items()))
        terminalreporter.write_line(f"fuzz inputs tried: {sum(tried.values()):,} ({routes})")
