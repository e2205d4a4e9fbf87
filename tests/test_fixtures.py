"""The in-repository fixtures and the one data locator (``tests/datasets.py``, ``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import datasets

HERE = datasets.ROOT / "tests"


def test_fixtures_are_small_and_whole():
    files = [p for p in datasets.FIXTURES.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 3 * 2**20
    rows = {name: len(datasets.paper_smiles(name)) for name in datasets.PAPER}
    assert rows == {"lipophilicity": 4200, "aqsoldb": 9335, "mpro": 1924, "ames": 6505, "lit_pcba_esr_ant": 3921}
    sizes = {name: len(datasets.sample(name)) for name in datasets.SAMPLES}
    assert sizes == {"moses": 10_000, "zinc": 5_000, "chembl_chiral": 3_000}
    assert len(set(datasets.sample("moses"))) == 10_000  # drawn without replacement
    assert all("@" in s for s in datasets.sample("chembl_chiral"))
    assert len(datasets.rdkit_nci()) == 4999 and len(datasets.rdkit_wehi()) > 1000


@pytest.mark.data
def test_make_fixtures_reproduces_every_file():
    res = subprocess.run(
        [sys.executable, str(datasets.FIXTURES / "make_fixtures.py"), "--check"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.data
def test_data_tests_find_the_large_sets():
    assert datasets.data_dir() is not None
    assert len(datasets.moses("test", 10)) == 10


def _bare_clone(tmp_path):
    """tests/ and pyproject.toml in a folder with no shared/ beside it (as a clone elsewhere has)."""
    root = tmp_path / "clone"
    shutil.copytree(HERE, root / "tests", ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy(datasets.ROOT / "pyproject.toml", root)
    assert not (tmp_path / "shared").exists()
    return root


def _pytest(root, *args, workers=(), **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("SORTSLICE_DATA", "CI")} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *workers, "tests/test_fixtures.py", *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("workers", [(), ("-n", "0")], ids=["xdist workers (the default)", "one process"])
def test_without_the_data_data_tests_are_deselected_with_one_line(tmp_path, workers):
    root = _bare_clone(tmp_path)
    line = "2 tests marked `data` deselected: the large data sets are not here"
    # the default run: deselected by the marker expression, and the reason is that the data are absent
    res = _pytest(root, "-k", "small_and_whole", workers=workers)
    assert res.returncode == 0, res.stdout[-3000:]
    assert sum(line in x for x in res.stdout.splitlines()) == 1, res.stdout[-3000:]
    # (the runs below take the same path through one xdist worker as through several)
    workers = workers or ("-n", "1")
    # asked for explicitly: still deselected with the line, and the run does not fail
    res = _pytest(root, "-m", "data", workers=workers)
    assert res.returncode == 0, res.stdout[-3000:]
    assert line in res.stdout and "6 deselected" in res.stdout  # 4 by -m, 2 for want of the data
    # where the data are expected (CI=true), asking for them without them is an error
    res = _pytest(root, "-m", "data", CI="true", workers=workers)
    assert res.returncode != 0 and "tests marked `data` were selected and the large data sets are not here" in (
        res.stdout + res.stderr
    )


def test_sortslice_data_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SORTSLICE_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    with pytest.raises(datasets.DataMissing, match="moses_test.csv.gz is missing"):
        datasets.moses("test", 1)
    monkeypatch.delenv("SORTSLICE_DATA")
    expected = datasets.ROOT.parent / "shared" / "data"
    assert datasets.data_dir() == (expected if expected.is_dir() else None)
