"""sortslice: collision-free ECFP fingerprints with Sort & Slice.

``import sortslice`` is light: it imports neither Polars nor compiles anything;
kernels are compiled (or loaded from the on-disk cache) on first use.
"""

from .engine.fingerprint import EcfpParams, EcfpResult, InvalidMoleculeError, ecfp

__version__ = "0.1.0"

__all__ = ["EcfpParams", "EcfpResult", "InvalidMoleculeError", "ecfp", "__version__"]
