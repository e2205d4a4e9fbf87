"""Every example in the README and in ``docs/`` runs, as written, in the tests.

Each page runs in a fresh folder holding the small files its examples name (listed in ``docs/index.md``):
its ```python blocks in order in one namespace, its ```bash blocks as bash scripts (``set -euo pipefail``)
with this interpreter's ``sortslice`` on the PATH.  Set-up commands (``pip install``, the test command,
``bash .ci/run``) are not run here: ``.ci/run`` runs them on a clean clone; nor are the benchmark scripts of
``perf/`` (their smoke tests run them small).  Pages whose examples start
clusters or train models are marked ``slow`` (``.ci/run`` runs them).
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import datasets

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SLOW = {"docs/tutorial.md", "docs/guide/dask.md"}
#: commands that set a machine up rather than use sortslice (run by .ci/run), and the repository's benchmark
#: scripts (minutes to hours; tests/test_paper_smoke.py and the perf/ tests run them small): not run here
SET_UP = re.compile(
    r"^\s*(pip install|python -m pip install|python -m pytest|bash \.ci/run|mkdocs |git clone|cd |python perf/)"
)
FENCE = re.compile(r"^```(python|bash)\n(.*?)^```", re.M | re.S)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in FENCE.findall(page.read_text())]


def runnable(script: str) -> str:
    """A bash block without its set-up commands (``pip install ... && sortslice demo`` keeps the demo)."""
    out = []
    for line in script.splitlines():
        parts = [p for p in line.split(" && ") if not SET_UP.match(p)]
        if parts:
            out.append(" && ".join(parts))
    return "\n".join(out)


def example_files(folder: Path) -> None:
    """The files the examples name (docs/index.md lists them), from the in-repository fixtures."""
    smiles, y = datasets.paper_table("lipophilicity")
    zinc = datasets.sample("zinc", 400)
    pl.DataFrame({"id": [f"L{i}" for i in range(300)], "SMILES": smiles[:300], "label": y[:300]}).write_csv(
        folder / "train.csv"
    )
    pl.DataFrame({"smiles": zinc[:100] + ["not a smiles"]}).write_csv(folder / "molecules.csv")
    with gzip.open(folder / "molecules.smi.gz", "wt") as f:
        f.writelines(f"{s} Z{i}\n" for i, s in enumerate(zinc[100:200]))
    from rdkit import Chem

    with Chem.SDWriter(str(folder / "molecules.sdf")) as w:
        for s in zinc[200:220]:
            w.write(Chem.MolFromSmiles(s))
    (folder / "corpus").mkdir()
    for k, name in enumerate(("a", "b")):
        pl.DataFrame({"SMILES": zinc[k * 150 : (k + 1) * 150]}).write_csv(folder / "corpus" / f"{name}.csv")
    moses = datasets.sample("moses", 3000)
    with gzip.open(folder / "big.csv.gz", "wt") as f:
        f.write("SMILES\n" + "\n".join(moses) + "\n")
    (folder / "big").mkdir()
    for k in range(2):
        pl.DataFrame({"smiles": moses[k * 1000 : (k + 1) * 1000]}).write_parquet(folder / "big" / f"part-{k}.parquet")
    (folder / "lipophilicity.csv").write_text((datasets.PAPER_DIR / "lipophilicity.csv").read_text())


def _params():
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        if not blocks(page):
            continue
        marks = [pytest.mark.slow] if name in SLOW else []
        yield pytest.param(page, id=name, marks=marks)


@pytest.mark.parametrize("page", list(_params()))
def test_the_examples_run(page, tmp_path, monkeypatch):
    example_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__docs__"}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for k, (kind, body) in enumerate(blocks(page)):
        where = f"{page.relative_to(ROOT)}, block {k + 1}"
        if kind == "python":
            exec(compile(body, where, "exec"), namespace)  # noqa: S102 - the repository's own documentation
        else:
            script = runnable(body)
            if not script.strip():
                continue
            out = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert out.returncode == 0, f"{where} failed:\n{script}\n--- stderr:\n{out.stderr[-3000:]}"


def test_only_set_up_commands_are_left_out():
    """What the example runner leaves out is set-up only (installing, the test and CI commands)."""
    left_out = []
    for page in PAGES:
        for kind, body in blocks(page):
            if kind == "bash":
                kept = runnable(body).splitlines()
                left_out += [line for line in body.splitlines() if line.strip() and line not in kept]
    for line in left_out:
        assert SET_UP.match(line) or " && " in line, line
