"""NumPy arrays and Python strings as Arrow arrays, built from buffers instead of through ``pyarrow.array``.

``pa.array`` imports pandas on its first call whenever pandas is installed (it asks whether its input is a
pandas object): about 0.6 s, a quarter of a small ``sortslice`` command's run and of a Polars query's first
call.  These build the same arrays (``tests/test_arrow.py`` compares them with ``pa.array``), zero-copy for
numeric arrays, and never import pandas.
"""

from __future__ import annotations

import numpy as np


def _bits(flags: np.ndarray):
    import pyarrow as pa

    return pa.py_buffer(np.packbits(np.ascontiguousarray(flags, dtype=np.bool_), bitorder="little"))


def _validity(valid: np.ndarray | None, n: int):
    """Arrow's validity bitmap (None: no nulls) and the null count."""
    if valid is None:
        return None, 0
    valid = np.asarray(valid, dtype=np.bool_)
    if valid.shape != (n,):
        raise ValueError(f"valid has shape {valid.shape}, expected ({n},)")
    nulls = n - int(np.count_nonzero(valid))
    return (_bits(valid), nulls) if nulls else (None, 0)


def from_numpy(values: np.ndarray, valid: np.ndarray | None = None):
    """A 1-D numeric or bool array as an Arrow array (``valid`` False: null), sharing numeric buffers."""
    import pyarrow as pa

    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    n = values.shape[0]
    validity, nulls = _validity(valid, n)
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), n, [validity, _bits(values)], null_count=nulls)
    values = np.ascontiguousarray(values)
    if values.dtype.byteorder == ">" or values.dtype.kind not in "iuf":
        raise TypeError(f"cannot make an Arrow array of {values.dtype}")
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), n, [validity, pa.py_buffer(values)], null_count=nulls
    )


def strings(values):
    """A sequence of ``str`` or ``None`` as an Arrow ``string`` array (UTF-8; a lone surrogate raises, as in
    ``pa.array``)."""
    import pyarrow as pa

    values = list(values)
    n = len(values)
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("text too large for one Arrow string array (2 GiB): use smaller chunks")
    validity, nulls = _validity(valid, n)
    buffers = [validity, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=nulls)


def fixed_width_text(text: np.ndarray, valid: np.ndarray | None = None):
    """A 1-D ``S{k}`` NumPy array (ASCII, every item ``k`` bytes) as an Arrow ``string`` array."""
    import pyarrow as pa

    text = np.ascontiguousarray(text)
    if text.ndim != 1 or text.dtype.kind != "S":
        raise TypeError(f"expected a 1-D bytes array, got {text.dtype} of shape {text.shape}")
    n, width = text.shape[0], text.dtype.itemsize
    if n * width >= 2**31:
        raise ValueError("text too large for one Arrow string array")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    validity, nulls = _validity(valid, n)
    return pa.Array.from_buffers(
        pa.string(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(text)], null_count=nulls
    )


def scalar_text(text: str):
    """An Arrow ``string`` scalar (``pa.scalar`` imports pandas too)."""
    return strings([text])[0]


def null_scalar(kind):
    """A null Arrow scalar of type ``kind`` (without ``pa.scalar``)."""
    import pyarrow as pa

    return pa.nulls(1, type=kind)[0]
