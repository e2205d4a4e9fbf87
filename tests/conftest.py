import collections
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

# The suite's processes (xdist workers, CLI and cache subprocesses) compile without helper processes and
# without the one-line compile notice on stderr: a CLI test may be the first to compile a kernel, and its
# stderr is asserted on. tests/test_coldstart.py turns both on where they are what is tested.
os.environ.setdefault("SORTSLICE_COMPILE_JOBS", "1")
os.environ.setdefault("SORTSLICE_COMPILE_NOTICE", "0")

# make tests/ importable as plain modules (datasets, reference, strategies)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdkit import RDLogger  # noqa: E402

import datasets  # noqa: E402

RDLogger.DisableLog("rdApp.*")

#: what this process saw of the run; an xdist controller, which collects nothing itself (``-n``, the
#: default), merges its workers' into it (every worker collects the same tests: sets are unions)
_SEEN: dict = {
    "deselected": set(),  # every deselected node id (the summary's "N deselected" under xdist)
    "data": set(),  # ``data`` tests not run: by the -m expression, or for want of the data
    "absent": set(),  # ... of those, the ones deselected for want of the data
    "slow": set(),  # ``slow`` tests (whole-set loops) the -m expression left out
    "ci_missing": [],  # under CI=true, data tests selected but no data: the one-line error
    "fuzz": collections.Counter(),  # generated inputs tried per route (``tests/test_fuzz.py``)
}


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_deselected(items):
    _SEEN["deselected"].update(i.nodeid for i in items)
    _SEEN["data"].update(i.nodeid for i in items if i.get_closest_marker("data"))
    _SEEN["slow"].update(i.nodeid for i in items if i.get_closest_marker("slow") and not i.get_closest_marker("data"))


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
        _SEEN["ci_missing"].append(message)
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    _SEEN["absent"].update(i.nodeid for i in wanted)
    items[:] = [i for i in items if not i.get_closest_marker("data")]
    config.hook.pytest_deselected(items=wanted)


def pytest_sessionfinish(session, exitstatus):
    fuzz = sys.modules.get("test_fuzz")
    _SEEN["fuzz"].update(getattr(fuzz, "TRIED", None) or {})
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the controller what its summary prints
        # plain lists and dicts: what execnet can send
        workeroutput["sortslice"] = {k: dict(v) if isinstance(v, dict) else list(v) for k, v in _SEEN.items()}
    if _SEEN["ci_missing"] and workeroutput is None:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"ERROR: {_SEEN['ci_missing'][0]}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    # `pytest -m data` on a clone without the data: nothing left to run is not a failure
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _SEEN["absent"]:
        session.exitstatus = pytest.ExitCode.OK


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller of an xdist run takes in what one worker saw."""
    got = getattr(node, "workeroutput", {}).get("sortslice")
    if not got:
        return
    new = set(got["deselected"]) - _SEEN["deselected"]
    for key in ("deselected", "data", "absent", "slow"):
        _SEEN[key].update(got[key])
    _SEEN["ci_missing"].extend(got["ci_missing"])
    _SEEN["fuzz"].update(got["fuzz"])
    # the "N deselected" of the last summary line, as a run without -n prints it
    reporter = node.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and new:
        reporter.stats.setdefault("deselected", []).extend(SimpleNamespace(nodeid=i) for i in sorted(new))


def pytest_terminal_summary(terminalreporter):
    n = len(_SEEN["data"])
    if n and not _SEEN["ci_missing"]:
        folder = datasets.data_dir()
        expr = terminalreporter.config.option.markexpr
        why = (
            datasets.MISSING + " (CI runs them)"
            if folder is None
            else f"-m {expr!r} leaves them out; `python -m pytest -m data` runs them on {folder}"
        )
        terminalreporter.write_line(f"{n} tests marked `data` deselected: {why}")
    if _SEEN["slow"]:
        terminalreporter.write_line(
            f"{len(_SEEN['slow'])} tests marked `slow` deselected: whole-set loops over the "
            "in-repository data (a sample of each runs by default); `python -m pytest -m slow` "
            "runs them"
        )
    # how many generated inputs the fuzz suite tried, per route (``tests/test_fuzz.py``)
    tried = _SEEN["fuzz"]
    if tried:
        routes = ", ".join(f"{k}: {v:,}" for k, v in sorted(tried.items()))
        terminalreporter.write_line(f"fuzz inputs tried: {sum(tried.values()):,} ({routes})")
