"""MkDocs hooks: make the tutorial's figure when the site is built, and publish the paper reproduction's.

The tutorial's Python blocks are run as written (in a temporary folder holding the data set it reads), so
the figure on the page is the one its code makes today; ``tests/test_docs_examples.py`` runs the same blocks.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FIGURE = "sort-slice-vs-folding.png"
DATA = ROOT / "tests" / "data" / "sortslice_paper" / "lipophilicity.csv"


def python_blocks(text: str) -> list[str]:
    """The ```python fenced blocks of a Markdown page, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def run_tutorial(folder: Path) -> bytes:
    """Run the tutorial's code in ``folder`` (holding ``lipophilicity.csv``) and return its figure."""
    shutil.copy(DATA, folder / "lipophilicity.csv")
    here = os.getcwd()
    os.chdir(folder)
    try:
        import matplotlib

        matplotlib.use("Agg")
        namespace: dict = {"__name__": "__tutorial__"}
        for block in python_blocks(TUTORIAL.read_text()):
            exec(compile(block, str(TUTORIAL), "exec"), namespace)  # noqa: S102 - the project's own page
    finally:
        os.chdir(here)
    return (folder / FIGURE).read_bytes()


#: the installed package's layout (pyproject.toml's package-dir), for the API reference's static analysis
LAYOUT = {"": "frontends", "engine": "engine", "schemas": "schemas"}


def lay_out_the_package() -> None:
    """Lay ``sortslice`` out under ``build/docs-api`` as it is installed (links to the source folders).

    Run when MkDocs loads this file, before any plugin reads its configuration (mkdocstrings' ``paths``)."""
    package = ROOT / "build" / "docs-api" / "sortslice"
    shutil.rmtree(package.parent, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in (ROOT / LAYOUT[""]).iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in LAYOUT.items():
        if name:
            (package / name).symlink_to(ROOT / folder, target_is_directory=True)


lay_out_the_package()


def on_files(files, config):
    with tempfile.TemporaryDirectory() as tmp:
        figure = run_tutorial(Path(tmp))
    files.append(File.generated(config, f"assets/{FIGURE}", content=figure))
    paper = ROOT / "perf" / "results" / "paper.png"
    files.append(File.generated(config, "assets/paper.png", content=paper.read_bytes()))
    return files
