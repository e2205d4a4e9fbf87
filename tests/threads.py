"""Observe how sortslice runs: the Numba thread count of every parallel kernel launch, and the parse pools.

``with launches() as seen:`` replaces, for the duration, every parallel kernel of ``sortslice.engine``
(wherever a module holds it) by a wrapper that records ``(kernel name, numba.get_num_threads())`` at the
moment Python launches it — the threads that launch runs on — and ``pool.get_pool`` by one recording the
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
import importlib
import pkgutil
from dataclasses import dataclass, field

import numba
from numba.core.registry import CPUDispatcher

#: the kernels of the ids pipeline (graph, Morgan), which overlap the parsing processes on one thread
ECFP_KERNELS = {
    "_build_neighbours",
    "_compact",
    "_derive_totals",
    "_morgan_counts_batch",
    "_morgan_envs_batch",
    "parse_pickles",
    "pickle_sizes",
}


@dataclass
class Seen:
    threads: list = field(default_factory=list)  # (kernel, threads)
    processes: list = field(default_factory=list)  # pool sizes asked for


def _engine_modules():
    import sortslice.engine as eng

    return [importlib.import_module(f"sortslice.engine.{m.name}") for m in pkgutil.iter_modules(eng.__path__)]


@contextlib.contextmanager
def launches():
    seen = Seen()
    patched = []
    for mod in _engine_modules():
        for name, obj in list(vars(mod).items()):
            if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("parallel"):

                def wrapper(*args, _kernel=obj, _name=name, **kwargs):
                    seen.threads.append((_name, numba.get_num_threads()))
                    return _kernel(*args, **kwargs)

                patched.append((mod, name, obj))
                setattr(mod, name, wrapper)
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
        for mod, name, obj in patched:
            setattr(mod, name, obj)
