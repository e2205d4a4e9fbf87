"""The I/O layer's one error: a file the job cannot use, said in one line that names it."""

from __future__ import annotations


class FileError(ValueError):
    """An input or output that cannot be used (one line naming the file, partition or folder).

    The command line turns it into ``Error: <message>`` and exit status 1 at its edge; the library and Dask
    raise it as it is.
    """


#: the name :mod:`sortslice.dask` has always exported
InputError = FileError


def fail(message: str):
    """Raise the one-line :class:`FileError`."""
    raise FileError(message)


class InputNote(UserWarning):
    """Something about an input the user should know that is not an error (e.g. a CSV read as having no
    header): the command line shows it once as a ``Note:`` line; the library warns."""
