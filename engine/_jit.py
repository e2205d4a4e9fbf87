"""The one place that decides how kernels are compiled.

Every jitted function in the engine goes through :func:`kernel` so that caching,
GIL release, error model and fast-math policy are uniform (a test checks that no
module calls ``numba.njit`` directly).  Kernels take only arrays and scalars, so
they can all be cached on disk; thread counts are passed in as arguments rather
than read inside a cached parallel function.
"""

from __future__ import annotations

import os

import numba

# Integer-only kernels: fastmath buys nothing and could reorder the MI sums.
_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)

#: registry of every kernel compiled through this module (used by warmup and tests)
KERNELS: list = []


def kernel(*args, parallel: bool = False, inline: str = "never"):
    """Decorator: ``@kernel`` or ``@kernel(parallel=True)``.

    Serial helpers used inside other kernels are cached too; they are inlined by
    LLVM as usual.
    """

    def wrap(fn):
        jitted = numba.njit(parallel=parallel, inline=inline, **_OPTIONS)(fn)
        KERNELS.append(jitted)
        return jitted

    if args and callable(args[0]):
        return wrap(args[0])
    return wrap


def n_threads(requested: int | None = None) -> int:
    """Threads to use for a parallel kernel call (>= 1, <= numba's pool)."""
    limit = numba.config.NUMBA_NUM_THREADS
    if requested is None or requested <= 0:
        requested = limit if requested is None else max(1, (os.cpu_count() or 1) + 1 + requested)
    return max(1, min(int(requested), limit))
