"""sortslice: collision-free ECFP fingerprints with Sort & Slice.

``import sortslice`` is light: it imports neither Polars nor compiles anything;
kernels are compiled (or loaded from the on-disk cache) on first use.
"""

from .engine.canaries import VersionChangeWarning
from .engine.featurisers import (
    MIM,
    Featurised,
    Filtering,
    FittedState,
    HashFold,
    InvalidMoleculeWarning,
    SortSlice,
    from_state,
    load,
)
from .engine.fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, ecfp
from .engine.persist import ModelFileError
from .engine.version import VERSION
from .engine.warmup import WarmupReport, warmup
from .idsfile import IdsFileError, iter_ids, open_ids, read_ids, write_ids

__version__ = VERSION

__all__ = [
    "MIM",
    "EcfpParams",
    "EcfpResult",
    "Featurised",
    "Filtering",
    "FittedState",
    "HashFold",
    "IdsFileError",
    "InvalidMoleculeError",
    "InvalidMoleculeWarning",
    "ModelFileError",
    "SortSlice",
    "VersionChangeWarning",
    "WarmupReport",
    "__version__",
    "ecfp",
    "iter_ids",
    "from_state",
    "load",
    "open_ids",
    "read_ids",
    "warmup",
    "write_ids",
]
