"""Regenerate the in-repository test fixtures from the shared data sets.

The default test suite runs on these files alone, so a bare clone of the repository can test itself.
They are drawn from the large sets with fixed seeds; ``tests/test_fixtures.py`` checks (under the
``data`` marker, where the large sets are present) that this script still reproduces them byte for byte.

Usage (from the repository root)::

    python tests/data/make_fixtures.py            # rewrite tests/data/ from $SORTSLICE_DATA or ../shared/data
    python tests/data/make_fixtures.py --check    # exit 1 if any fixture differs from what it would write
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import datasets  # noqa: E402  (tests/ on the path: the one data locator)

#: the paper's five sets, copied verbatim (about 1.1 MB)
PAPER_FILES = ("ames.csv", "aqsoldb.csv", "lipophilicity.csv", "lit_pcba_esr_ant.csv", "mpro.csv")

#: samples of the large sets: (fixture name, source in large/, rows kept, header line or None, seed)
SAMPLES = (
    ("moses_test_sample.csv", "moses_test.csv.gz", 10_000, "SMILES", 20261203),
    ("zinc_sample.smi", "zinc_50k.smi.gz", 5_000, None, 20261204),
    ("chembl20_chiral_sample.smi", "chembl20_chiral_10k.smi.gz", 3_000, None, 20261205),
)


def _sample_lines(source: Path, rows: int, header: str | None, seed: int) -> bytes:
    with gzip.open(source, "rb") as fh:
        lines = fh.read().splitlines()
    if header is not None:
        assert lines[0].decode() == header, f"{source}: header {lines[0]!r}, expected {header!r}"
        lines = lines[1:]
    # rows drawn without replacement, kept in the source's order
    keep = np.sort(np.random.default_rng(seed).choice(len(lines), rows, replace=False))
    body = [lines[i] for i in keep]
    if header is not None:
        body.insert(0, header.encode())
    return b"\n".join(body) + b"\n"


def fixtures(data: Path) -> dict[str, bytes]:
    """What each fixture file should hold, computed from the shared data folder ``data``."""
    out = {f"sortslice_paper/{name}": (data / "sortslice_paper" / name).read_bytes() for name in PAPER_FILES}
    for name, source, rows, header, seed in SAMPLES:
        out[name] = _sample_lines(data / "large" / source, rows, header, seed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare instead of writing")
    args = p.parse_args(argv)
    data = datasets.data_dir()
    if data is None:
        sys.exit(datasets.MISSING)
    differ = []
    for name, content in fixtures(data).items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_bytes() != content:
                differ.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        print(f"{name}: {len(content):,} bytes, sha256 {hashlib.sha256(content).hexdigest()[:16]}")
    if differ:
        print("differ from what make_fixtures.py would write: " + ", ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
