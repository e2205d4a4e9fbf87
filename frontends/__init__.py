"""sortslice: collision-free ECFP fingerprints with Sort & Slice.

``import sortslice`` is light: it imports neither Polars nor compiles anything;
kernels are compiled (or loaded from the on-disk cache) on first use.
"""

from .engine.featurisers import MIM, Featurised, Filtering, HashFold, SortSlice
from .engine.fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, ecfp
from .engine.persist import ModelFileError, load
from .engine.warmup import WarmupReport, warmup
from .idsfile import IdsFileError, iter_ids, open_ids, read_ids, write_ids

__version__ = "0.1.0"

__all__ = ["MIM", "EcfpParams", "EcfpResult", "Featurised", "Filtering", "HashFold", "IdsFileError",
           "InvalidMoleculeError", "ModelFileError", "SortSlice", "WarmupReport", "__version__", "ecfp", "iter_ids",
           "load", "open_ids", "read_ids", "warmup", "write_ids"]
