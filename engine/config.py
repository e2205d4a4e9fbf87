"""Tuning constants, named once (thresholds and chunk sizes the engine and the frontends share).

None of them changes a result: ids, fingerprints and models are identical for any value (the
determinism tests check chunk sizes and thread counts); they trade memory, latency and overhead.
"""

#: molecules a CLI/Dask/Polars-fit chunk reads, fingerprints and writes at a time (bounds memory)
DEFAULT_CHUNK_SIZE = 100_000
#: text inputs per parsing process below which a batch is parsed in this process (a process hand-off
#: costs more than it saves on a small batch)
MIN_ITEMS_PER_PROCESS = 2_000
#: bounds of the chunk a parsing process receives at a time
PARSE_CHUNK_MIN, PARSE_CHUNK_MAX = 500, 10_000
#: ids per thread below which the ascending-rows check stays on the calling thread
ROWS_CHECK_PER_THREAD = 1 << 22
#: molecules of the first batch scanned for example fragments (doubling after)
FIRST_EXAMPLES_BATCH = 256
