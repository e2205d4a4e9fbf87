"""Readers for the shared data sets (read in place from ../shared/data; never copied)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

PAPER = {
    "lipophilicity": ("lipophilicity.csv", "exp"),
    "aqsoldb": ("aqsoldb.csv", "Solubility"),
    "mpro": ("mpro.csv", "f_avg_IC50"),
    "ames": ("ames.csv", "Activity"),
    "lit_pcba_esr_ant": ("lit_pcba_esr_ant.csv", "Activity"),
}


def require(path: Path) -> Path:
    """Fail loudly (never skip) when the shared data are missing."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: tests read the shared data sets from ../shared/data beside the repository")
    return path


def paper_smiles(name: str) -> list[str]:
    path = require(DATA / "sortslice_paper" / PAPER[name][0])
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    col = next(i for i, h in enumerate(header) if "smiles" in h.lower())
    return [r[col] for r in rows[1:]]


def paper_table(name: str) -> tuple[list[str], list[float]]:
    path = require(DATA / "sortslice_paper" / PAPER[name][0])
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    smiles_col = next(h for h in rows[0] if "smiles" in h.lower())
    return [r[smiles_col] for r in rows], [float(r[PAPER[name][1]]) for r in rows]


def smi_gz(name: str, limit: int | None = None) -> list[str]:
    path = require(DATA / "large" / name)
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.strip():
                out.append(line.split()[0])
            if limit and len(out) >= limit:
                break
    return out


def moses(split: str = "test", limit: int | None = None) -> list[str]:
    path = require(DATA / "large" / f"moses_{split}.csv.gz")
    out = []
    with gzip.open(path, "rt") as fh:
        next(fh)
        for line in fh:
            out.append(line.strip())
            if limit and len(out) >= limit:
                break
    return out


def perf_script(name: str):
    """A script of ``perf/`` imported as a module (``perf`` is not a package), registered in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "perf" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module       # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
