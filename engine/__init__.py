"""The sortslice engine. Knows nothing of Polars, Click or files but its own model and output files.

The pipeline, one module a stage:

1. ``parse`` — text to RDKit molecules (``processes``: the parsing worker processes);
2. ``flatten`` drives ``graph`` — molecules to one CSR batch of atoms and bonds (``molpickle`` reads pickles);
3. ``morgan`` (``hashing``) — the ECFP iteration, ``fingerprint.ecfp`` its public entry and result types;
4. ``prevalence`` (counting ids over molecules), ``pooling`` (lookups and folding into vectors), ``scores``
   (supervised scores); ``featurisers`` the fitted transformers over them;
5. ``persist`` — fitted states to and from JSON; ``atomic`` — outputs that are complete or absent.

Shared: ``checks`` (validation before any kernel), ``csr`` (row operations), ``parallel`` (the threading
policy), ``config`` (tuning constants), ``_jit`` (how kernels are compiled), ``single`` (stages 1-4 fused for
one molecule), ``warmup``.
"""
