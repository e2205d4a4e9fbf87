"""Observe how sortslice runs: the threads of every kernel launch over blocks, and the parse pools.

``with launches() as seen:`` replaces, for the duration, ``parallel.run_blocks`` and ``parallel.map_blocks``
(through which the engine runs every kernel over blocks of rows) by wrappers that record
``(kernel name, threads)`` — the threads that launch runs on — and ``pool.get_pool`` by one recording the
number of parsing processes asked for.

Examples
--------
>>> import sortslice
>>> with launches() as seen:
...     _ = sortslice.ecfp(["CCO", "c1ccccc1"], n_jobs=1)
>>> {n for _, n in seen.threads}
{1}
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

#: the kernels of the ids pipeline (graph, Morgan), which overlap the parsing processes on one thread
ECFP_KERNELS = {
    "_build_neighbours",
    "_compact",
    "_derive_totals",
    "_morgan_small",
    "_morgan_large",
    "parse_pickles",
}


@dataclass
class Seen:
    threads: list = field(default_factory=list)  # (kernel, threads)
    processes: list = field(default_factory=list)  # pool sizes asked for


@contextlib.contextmanager
def launches():
    from sortslice.engine import parallel

    seen = Seen()
    patched = []
    for name in ("run_blocks", "map_blocks"):
        real = getattr(parallel, name)

        def wrapper(kernel, blocks, threads, *args, _real=real):
            seen.threads.append((kernel.__name__, int(threads)))
            return _real(kernel, blocks, threads, *args)

        patched.append((name, real))
        setattr(parallel, name, wrapper)
    from sortslice.engine import processes as pool

    get_pool = pool.get_pool

    def recording_get_pool(size):
        seen.processes.append(size)
        return get_pool(size)

    pool.get_pool = recording_get_pool
    try:
        yield seen
    finally:
        pool.get_pool = get_pool
        for name, real in patched:
            setattr(parallel, name, real)
