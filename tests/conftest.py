import sys
from pathlib import Path

# make tests/ importable as plain modules (datasets, reference, strategies)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdkit import RDLogger  # noqa: E402

RDLogger.DisableLog("rdApp.*")
