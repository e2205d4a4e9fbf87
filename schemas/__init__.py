"""The file formats sortslice promises: JSON Schemas, validated when a file is read.

* ``featuriser.schema.json`` — a fitted featuriser (``save`` / ``load``);
* ``ids.schema.json`` — the key-value metadata of an ids file (``sortslice ids``, ``read_ids``); its
  Parquet layout is described in ``ids-file.md``.
"""

from __future__ import annotations

import json
from importlib import resources


def load_schema(name: str) -> dict:
    """The JSON Schema ``name`` shipped with the package (e.g. ``"ids.schema.json"``)."""
    return json.loads(resources.files(__name__).joinpath(name).read_text())
