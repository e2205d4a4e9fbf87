"""Command line interface (``sortslice``)."""

from .main import main

__all__ = ["main"]
