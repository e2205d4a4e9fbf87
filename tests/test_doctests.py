"""Docstring examples of the installed package run as tests, so docs cannot drift."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


def _modules_with_examples():
    # walk each mapped folder (editable installs map sortslice.engine to its own directory)
    import sortslice.engine

    names = {"sortslice", "sortslice.engine"}
    for pkg in (sortslice, sortslice.engine):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            names.add(info.name)
    finder = doctest.DocTestFinder()
    out = []
    for name in sorted(names):
        module = importlib.import_module(name)
        if any(t.examples for t in finder.find(module)):
            out.append(name)
    return out


MODULES = _modules_with_examples()


def test_the_documented_modules_have_examples():
    # the public entry points keep runnable examples (a module losing all of them drops out of the run)
    for name in ("sortslice.engine.fingerprint", "sortslice.idsfile", "sortslice.polars"):
        assert name in MODULES, name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
