"""The command line's one-line errors: ``Error: <message>`` on stderr and exit status 1.

Command code raises them with :func:`fail`; the library's :class:`~sortslice.io.FileError` is turned into
one at the command group's edge (``main._Commands``), as sqlite-utils does.
"""

from __future__ import annotations

import click


def fail(message: str):
    """Raise the one-line user error (exit status 1, ``Error: message`` on stderr)."""
    raise click.ClickException(message)
