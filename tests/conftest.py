import sys
from pathlib import Path

# make tests/ importable as plain modules (datasets, reference, strategies)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rdkit import RDLogger  # noqa: E402

RDLogger.DisableLog("rdApp.*")


def pytest_terminal_summary(terminalreporter):
    """How many generated inputs the fuzz suite tried, per route (``tests/test_fuzz.py``)."""
    fuzz = sys.modules.get("test_fuzz")
    tried = getattr(fuzz, "TRIED", None)
    if tried:
        routes = ", ".join(f"{k}: {v:,}" for k, v in sorted(tried.items()))
        terminalreporter.write_line(f"fuzz inputs tried: {sum(tried.values()):,} ({routes})")
