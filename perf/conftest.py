"""Fixtures for the pytest-benchmark versions of ``perf/bench_ecfp.py``.

Run with ``pytest perf/ --benchmark-only`` from the repository root.  A plain
``pytest`` there collects only ``tests/`` (``testpaths``), never this folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdkit import RDLogger  # noqa: E402

import bench_ecfp  # noqa: E402

RDLogger.DisableLog("rdApp.*")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """A benchmark times one process on a quiet machine: the tests' defaults (``-n auto`` workers and
    ``--benchmark-disable``, in pyproject.toml) are turned off here."""
    config.option.numprocesses = 0
    config.option.benchmark_disable = False


#: smaller samples than the script (which uses 20k Mols and 100k SMILES)
N_MOLS = 2_000
N_SMILES = 10_000


@pytest.fixture(scope="session")
def cores() -> int:
    from sortslice.engine.parallel import cpu_count

    return cpu_count()


@pytest.fixture(scope="session")
def rdkit_gen():
    return bench_ecfp.rdkit_generator()


@pytest.fixture(scope="session")
def mols_a() -> list:
    """MOSES test molecules as RDKit Mols (section (a))."""
    return bench_ecfp.parse_mols(bench_ecfp.read_smiles("moses_test.csv.gz", N_MOLS))


@pytest.fixture(scope="session")
def graph_a(mols_a):
    from sortslice.engine.fingerprint import flatten

    return flatten(mols_a, n_jobs=1).graph


@pytest.fixture(scope="session")
def smiles_b() -> list[str]:
    """MOSES train SMILES (section (b))."""
    return bench_ecfp.read_smiles("moses_train.csv.gz", N_SMILES)


@pytest.fixture(scope="session")
def warm_pool(smiles_b, cores):
    """Our worker pool, forked and warmed by a small call (untimed)."""
    import sortslice
    from sortslice.engine import processes as pool

    sortslice.ecfp(smiles_b[:1000], n_jobs=cores)
    yield cores
    pool.shutdown()


@pytest.fixture(scope="session")
def floor_pool(smiles_b, cores):
    """The parse floor's fork Pool, created once and warmed."""
    p = bench_ecfp.parse_floor_pool(cores)
    bench_ecfp.parse_floor(p, bench_ecfp.chunks_of(smiles_b[:1000], 500))
    yield p
    p.close()
    p.join()
