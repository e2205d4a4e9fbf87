"""Stage 1b, processes: a persistent pool of parsing processes (RDKit holds the GIL, so parsing needs processes).

On Linux workers are forked: ``spawn``/``forkserver`` re-import the caller's
``__main__``, which breaks every user script without a ``__main__`` guard.  The
workers only ever run RDKit parsing (:mod:`.parse`), never Numba or Polars, so
the threads those libraries may have in the parent are never needed in a child.
Elsewhere ``spawn`` is used.  The pool is reused across calls and shut down at
exit.  Chunks come back in submission order, so row order is preserved.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor

from . import parse
from .config import PARSE_CHUNK_MAX, PARSE_CHUNK_MIN

_lock = threading.Lock()
# one pool per size, never shut down while the process lives: a call from one thread
# must not cancel work another thread (e.g. Polars' pool) has queued on a pool
_pools: dict[int, ProcessPoolExecutor] = {}


def _context():
    return mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _start_worker(parent: int) -> None:
    """Worker start-up.

    Ctrl-C reaches the whole process group, but only the parent should handle it (it
    cancels the work and shuts the pool down); an idle worker would print a
    KeyboardInterrupt traceback.  A parent that dies without shutting the pool down
    (SIGKILL, the OOM killer) leaves its workers waiting for work forever: a watchdog
    thread ends the worker once its parent is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a forked worker inherits the parent's Python handlers (the CLI turns SIGTERM into an exception,
    # which a worker would send back as a task's result and go on): here the signal ends the worker
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="sortslice-parent-watch", daemon=True).start()


def get_pool(size: int) -> ProcessPoolExecutor:
    with _lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ProcessPoolExecutor(
                max_workers=size, mp_context=_context(), initializer=_start_worker, initargs=(os.getpid(),)
            )
        return pool


def shutdown() -> None:
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def stop_all() -> None:
    """End every parsing process now, without waiting for the tasks they are running (an interrupted
    command that is about to exit: waiting would take up to a task per worker).  Whoever waits on
    their results gets ``BrokenProcessPool`` at once; the next call starts a new pool."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        workers = list((getattr(pool, "_processes", None) or {}).values())
        for w in workers:
            if w.is_alive():
                w.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.join(timeout=5)


def iter_parse_parallel(
    kind: str,
    items: list,
    chirality: bool,
    fcfp: bool,
    n_jobs: int,
    chunk_size: int | None = None,
    window: int | None = None,
):
    """``parse.parse_chunk`` over chunks of ``items`` on ``n_jobs`` processes, yielded in order.

    At most ``window`` chunks are in flight, so memory stays bounded on huge inputs.
    """
    if chunk_size is None:
        # enough chunks to balance the workers and overlap the caller's work,
        # big enough to amortise the inter-process traffic
        chunk_size = max(PARSE_CHUNK_MIN, min(PARSE_CHUNK_MAX, -(-len(items) // (n_jobs * 8))))
    window = window or 3 * n_jobs
    pool = get_pool(n_jobs)
    starts = list(range(0, len(items), chunk_size))
    pending = deque()
    try:
        for s in starts:
            pending.append(pool.submit(parse.parse_chunk, kind, items[s : s + chunk_size], chirality, fcfp))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
