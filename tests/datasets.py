"""The data the tests and benchmarks read: small in-repository fixtures, and the one locator of the large sets.

* **Fixtures** (``tests/data/``, credited in its README): the five Sort & Slice paper sets verbatim,
  fixed-seed samples of MOSES, ZINC and ChEMBL (``sample()``), and RDKit's own bundled molecules
  (``rdkit_nci()``, ``rdkit_wehi()``).  The default suite reads nothing else, so a bare clone tests itself.
* **The large sets** (MOSES 1.58M and the whole ZINC/ChEMBL files) are read in place, never copied, from
  the folder ``data_dir()`` names: ``$SORTSLICE_DATA`` if set, else ``../shared/data`` beside the
  repository if it exists.  Tests that read them carry the ``data`` marker; without the folder they are
  deselected with one printed line (``tests/conftest.py``).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data"
PAPER_DIR = FIXTURES / "sortslice_paper"

#: the one-line reason printed (and raised) when the large data sets are not here
MISSING = (
    "the large data sets are not here: set SORTSLICE_DATA to a folder holding large/ and "
    "sortslice_paper/, or put shared/data beside the repository"
)

PAPER = {
    "lipophilicity": ("lipophilicity.csv", "exp"),
    "aqsoldb": ("aqsoldb.csv", "Solubility"),
    "mpro": ("mpro.csv", "f_avg_IC50"),
    "ames": ("ames.csv", "Activity"),
    "lit_pcba_esr_ant": ("lit_pcba_esr_ant.csv", "Activity"),
}

#: in-repository samples of the large sets (``tests/data/make_fixtures.py`` draws them)
SAMPLES = {
    "moses": "moses_test_sample.csv",  # 10,000 of MOSES test
    "zinc": "zinc_sample.smi",  # 5,000 of RDKit's ZINC 50k
    "chembl_chiral": "chembl20_chiral_sample.smi",  # 3,000 of RDKit's ChEMBL 20 chiral 10k
}


class DataMissing(FileNotFoundError):
    """The large data sets were asked for and are not here (a test that reads them needs ``@pytest.mark.data``)."""


def data_dir() -> Path | None:
    """The folder of the large data sets: ``$SORTSLICE_DATA``, else ``../shared/data``, else None."""
    env = os.environ.get("SORTSLICE_DATA")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def large_path(name: str) -> Path:
    """``large/<name>`` of the data folder; DataMissing (one line) when it is not there."""
    folder = data_dir()
    if folder is None:
        raise DataMissing(MISSING)
    path = folder / "large" / name
    if not path.exists():
        raise DataMissing(
            f"{path} is missing ({'SORTSLICE_DATA' if os.environ.get('SORTSLICE_DATA') else '../shared/data'} "
            "should hold large/ with the MOSES, ZINC and ChEMBL files)"
        )
    return path


# ------------------------------------------------------------------------------ in the repository
def _paper_rows(name: str) -> list[dict[str, str]]:
    with open(PAPER_DIR / PAPER[name][0], newline="") as fh:
        return list(csv.DictReader(fh))


def paper_smiles(name: str) -> list[str]:
    rows = _paper_rows(name)
    col = next(h for h in rows[0] if "smiles" in h.lower())
    return [r[col] for r in rows]


def paper_table(name: str) -> tuple[list[str], list[float]]:
    rows = _paper_rows(name)
    col = next(h for h in rows[0] if "smiles" in h.lower())
    return [r[col] for r in rows], [float(r[PAPER[name][1]]) for r in rows]


def _first_field(lines, limit: int | None) -> list[str]:
    out = []
    for line in lines:
        if line.strip():
            out.append(line.split()[0])
            if limit and len(out) >= limit:
                break
    return out


def sample(name: str, limit: int | None = None) -> list[str]:
    """SMILES of an in-repository sample (``SAMPLES``), in file order."""
    path = FIXTURES / SAMPLES[name]
    with open(path) as fh:
        if path.suffix == ".csv":
            next(fh)
        return _first_field(fh, limit)


def _rdkit_file(*parts: str) -> Path:
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir, *parts)


def rdkit_nci(limit: int | None = None) -> list[str]:
    """The 4,999 NCI molecules every RDKit install ships (``Data/NCI/first_5K.smi``)."""
    with open(_rdkit_file("NCI", "first_5K.smi")) as fh:
        return _first_field(fh, limit)


def rdkit_wehi(limit: int | None = None) -> list[str]:
    """The WEHI PAINS test molecules RDKit ships (``Data/Pains/test_data/wehi_mols.csv``: SMILES first)."""
    with open(_rdkit_file("Pains", "test_data", "wehi_mols.csv"), newline="") as fh:
        rows = csv.reader(fh)
        return [r[0] for r in rows if r and r[0].strip()][:limit]


# ------------------------------------------------------------------------------ the large sets (data marker)
def smi_gz(name: str, limit: int | None = None) -> list[str]:
    with gzip.open(large_path(name), "rt") as fh:
        return _first_field(fh, limit)


def moses(split: str = "test", limit: int | None = None) -> list[str]:
    out = []
    with gzip.open(large_path(f"moses_{split}.csv.gz"), "rt") as fh:
        next(fh)
        for line in fh:
            out.append(line.strip())
            if limit and len(out) >= limit:
                break
    return out


def perf_script(name: str):
    """A script of ``perf/`` imported as a module (``perf`` is not a package), registered in ``sys.modules``.

    ``perf/`` goes on ``sys.path`` (at the end), as ``python perf/NAME.py`` has it, for the script's imports
    of its siblings (``_harness``).
    """
    folder = str(ROOT / "perf")
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, ROOT / "perf" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
