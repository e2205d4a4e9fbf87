"""Docstring examples of the installed package run as tests, so docs cannot drift."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sortslice


def _modules():
    # walk each mapped folder (editable installs map sortslice.engine to its own directory)
    import sortslice.engine

    names = {"sortslice", "sortslice.engine"}
    for pkg in (sortslice, sortslice.engine):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            names.add(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
