"""The API reference: every public name has a rendered entry, and its docstring describes each parameter.

The site's reference pages (``docs/reference/*.md``) render docstrings with mkdocstrings (numpydoc style);
this walks the ``__all__`` of every public module and checks (1) a ``::: module.name`` entry exists for it and
(2) its docstring has a ``Parameters`` (or, for data classes, ``Attributes``) section naming every parameter
of its signature, each with a description.  ``mkdocs build --strict`` in ``.ci/run`` checks the rendering.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["sortslice", "sortslice.polars", "sortslice.dask", "sortslice.io"]
SECTIONS = ("Parameters", "Attributes", "Other Parameters")


def _public():
    for m in MODULES:
        mod = importlib.import_module(m)
        for name in mod.__all__:
            if name != "__version__":
                yield m, name, getattr(mod, name)


def _entries() -> set[str]:
    found = set()
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)", page.read_text(), re.M))
    return found


def _documented(doc: str) -> dict[str, str]:
    """Names described in the docstring's numpydoc parameter sections -> their description."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() in SECTIONS and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            i += 2
            while i < len(lines):
                line = lines[i]
                if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"} and lines[i + 1].strip():
                    break  # the next section
                m = re.match(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)\s*(?::.*)?$", line)
                if m and not line.startswith(" "):
                    desc = []
                    j = i + 1
                    while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                        desc.append(lines[j].strip())
                        j += 1
                    for name in m.group(1).split(", "):
                        out[name.lstrip("*")] = " ".join(d for d in desc if d)
                    i = j
                    continue
                i += 1
            continue
        i += 1
    return out


PUBLIC = list(_public())


@pytest.mark.parametrize("module,name,obj", PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_every_public_name_has_a_reference_entry(module, name, obj):
    assert f"{module}.{name}" in _entries(), f"no `::: {module}.{name}` in docs/reference/"


@pytest.mark.parametrize("module,name,obj", PUBLIC, ids=[f"{m}.{n}" for m, n, _ in PUBLIC])
def test_every_public_name_documents_its_parameters(module, name, obj):
    doc = inspect.getdoc(obj) if (inspect.isclass(obj) or callable(obj)) else None
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return  # a constant: its entry is checked above
    assert doc, f"{module}.{name} has no docstring"
    try:
        params = [
            p.name
            for p in inspect.signature(obj).parameters.values()
            if not p.name.startswith("_") and p.name != "self"
        ]
    except (TypeError, ValueError):
        params = []
    if inspect.isclass(obj) and issubclass(obj, BaseException) and not _documented(doc):
        return  # an exception raised with a message: nothing to describe
    documented = _documented(doc)
    missing = [p for p in params if p not in documented]
    assert not missing, f"{module}.{name}: parameters without a description in its docstring: {missing}"
    empty = [p for p in params if not documented[p]]
    assert not empty, f"{module}.{name}: parameters named but not described: {empty}"
