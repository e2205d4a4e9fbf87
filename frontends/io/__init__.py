"""The I/O layer: molecule files in, fingerprint tables out, and folders of parts (no Click, no Dask).

* :mod:`.readers` — CSV/TSV/``.smi``/SDF/Parquet (gzip or not, ``-`` for stdin) and ids files, chunk by chunk;
* :mod:`.sinks` — Parquet, CSV/TSV, ``.npy``, ``.npz`` (``-`` for stdout), atomically;
* :mod:`.parts` — folders of Parquet parts: names, records, completeness checks, resuming;
* :mod:`.errors` — :class:`FileError`, the one-line error all of them raise, and :class:`InputNote`, the
  warning for what a user should know about an input (e.g. a CSV read as having no header).

The command line and :mod:`sortslice.dask` both use this layer; the command line turns a
:class:`FileError` into ``Error: ...`` at its edge.
"""

from .errors import FileError, InputError, InputNote
from .readers import Chunk, open_input
from .sinks import OUTPUT_FORMATS, Fingerprints, Part, open_output
from .sniff import INPUT_FORMATS

__all__ = [
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "Chunk",
    "FileError",
    "Fingerprints",
    "InputError",
    "InputNote",
    "Part",
    "open_input",
    "open_output",
]
