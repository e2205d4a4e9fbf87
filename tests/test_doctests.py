"""Docstring examples of the installed package run as tests, so docs cannot drift."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sortslice


def _modules():
    names = ["sortslice"]
    for info in pkgutil.walk_packages(sortslice.__path__, "sortslice."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
