"""Readers of molecules already in memory: a pandas DataFrame or Series (a Dask DataFrame's partition) and any
iterable of SMILES or RDKit Mols (a Dask Bag's partition), read ``chunk_size`` rows at a time as the file
readers (:mod:`.readers`) are, so a job (:mod:`sortslice.jobs`) reads either the same way."""

from __future__ import annotations

import itertools

from ..engine.config import DEFAULT_CHUNK_SIZE
from .readers import Chunk


class MemorySource:
    """The ``source`` of an in-memory input: a name for messages; no size, position or file to close."""

    size = None

    def __init__(self, name: str):
        self.name = name

    def position(self) -> None:
        return None

    def close(self) -> None:
        pass


class FrameReader:
    """A pandas DataFrame (molecules in ``smiles_column``, ``carried_types`` carried) or Series of SMILES."""

    kind = "smiles"
    total_rows = None

    def __init__(
        self,
        frame,
        name: str,
        *,
        smiles_column: str | None = None,
        carried_types: dict | None = None,
        id_column: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ):
        self.frame = frame
        self.source = MemorySource(name)
        self.smiles_column = smiles_column
        self.types = dict(carried_types or {})
        self.carry = list(self.types)
        self.id_column = id_column
        self.chunk_size = int(chunk_size)

    def carried_types(self) -> dict:
        return dict(self.types)

    def __iter__(self):
        import pyarrow as pa

        frame = self.frame
        for start in range(0, len(frame), self.chunk_size):
            piece = frame.iloc[start : start + self.chunk_size]
            col = piece if not hasattr(piece, "columns") else piece[self.smiles_column]
            # an empty cell is an empty SMILES, as the file readers read them
            molecules = ["" if gap else str(m) for m, gap in zip(col.tolist(), col.isna().tolist())]
            columns = {c: pa.Array.from_pandas(piece[c], type=t) for c, t in self.types.items()}
            names = None if self.id_column is None else piece[self.id_column].tolist()
            yield Chunk(start, molecules, columns, names)


class ItemsReader:
    """Any iterable of SMILES or RDKit Mols, consumed ``chunk_size`` at a time (no columns to carry)."""

    kind = "smiles"
    total_rows = None
    carry: list = []

    def __init__(self, items, name: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.items = items
        self.source = MemorySource(name)
        self.chunk_size = int(chunk_size)

    def carried_types(self) -> dict:
        return {}

    def __iter__(self):
        it = iter(self.items)
        start = 0
        while True:
            molecules = list(itertools.islice(it, self.chunk_size))
            if not molecules:
                return
            yield Chunk(start, molecules, {}, None)
            start += len(molecules)
