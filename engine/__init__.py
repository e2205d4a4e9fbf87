"""The sortslice engine: flattening, ECFP kernels and pooling. Knows nothing of Polars, Click or files."""
