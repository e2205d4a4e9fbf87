"""Stage 1b, processes: a kept pool of parsing processes (RDKit holds the GIL, so parsing needs processes).

Each worker is a fresh interpreter started with ``subprocess`` (fork + exec at once), never a
``fork()`` of this process: a fork copies only the calling thread, so with Polars', Numba's or any
other thread pool alive (Polars calls sortslice from its own threads) a child could inherit a lock
held by a thread that does not exist in it.  And unlike ``multiprocessing``'s ``spawn`` and
``forkserver``, nothing re-runs the caller's ``__main__``, so a user's script needs no
``if __name__ == "__main__"`` guard.  A worker loads :mod:`.parse_worker` and :mod:`.parse` only (RDKit
and NumPy, never Numba or Polars); tasks and results travel as pickled frames over its stdin and
stdout.  Pools are kept (one per size) and shut down at exit; results come back in submission
order, so row order is preserved.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

from . import parse, parse_worker
from .config import PARSE_CHUNK_MAX, PARSE_CHUNK_MIN

_lock = threading.Lock()
# one pool per size, never shut down while the process lives: a call from one thread
# must not cancel work another thread (e.g. Polars' pool) has queued on a pool
_pools: dict[int, Pool] = {}

#: what a new worker runs: read its boot frame, make the two packages bare (their ``__init__`` would
#: import Numba and Polars), load the worker loop
_BOOT = """\
import pickle, sys, types
import struct
size = struct.unpack("<Q", sys.stdin.buffer.read(8))[0]
boot = pickle.loads(sys.stdin.buffer.read(size))
sys.path[:] = boot["path"]
for name, path in boot["packages"]:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
from sortslice.engine.parse_worker import serve
serve(boot["parent"])
"""

#: tasks sent to a worker ahead of its results (so it never waits for the next one)
AHEAD = 2


def _executable() -> str:
    import multiprocessing.spawn

    return multiprocessing.spawn.get_executable() or sys.executable


def _boot_frame() -> bytes:
    here = os.path.dirname(os.path.abspath(__file__))
    package = sys.modules[__package__.rpartition(".")[0]] if __package__ and "." in __package__ else None
    packages = []
    if package is not None and getattr(package, "__path__", None):
        packages.append((package.__name__, list(package.__path__)[0]))
    packages.append((__package__, here))
    return pickle.dumps({"path": list(sys.path), "packages": packages, "parent": os.getpid()})


class _Worker:
    """One parsing process and the two threads that feed it and read its answers."""

    def __init__(self, pool: Pool, number: int) -> None:
        self.pool = pool
        self.proc = subprocess.Popen(
            [_executable(), "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.pid = self.proc.pid
        self.waiting: deque[Future] = deque()  # sent, not yet answered, in order
        self.slots = threading.Semaphore(AHEAD)
        parse_worker.write_frame(self.proc.stdin, pool.boot)
        name = f"sortslice-parse-{number}"
        self.sender = threading.Thread(target=self._send, name=f"{name}-send", daemon=True)
        self.receiver = threading.Thread(target=self._receive, name=f"{name}-receive", daemon=True)
        self.sender.start()
        self.receiver.start()

    def _send(self) -> None:
        stdin = self.proc.stdin
        try:
            while True:
                self.slots.acquire()
                task = self.pool.tasks.get()
                if task is None:  # shutting down: the worker ends once it has answered what it has
                    return
                future, fn, args = task
                if not future.set_running_or_notify_cancel():
                    self.slots.release()
                    continue
                try:
                    data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    future.set_exception(exc)
                    self.slots.release()
                    continue
                self.waiting.append(future)
                parse_worker.write_frame(stdin, data)
        except (OSError, ValueError):  # the worker is gone: the receiver reports it
            return
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _receive(self) -> None:
        stdout = self.proc.stdout
        try:
            while True:
                frame = parse_worker.read_frame(stdout)
                if frame is None:
                    break
                status, value = pickle.loads(frame)
                future = self.waiting.popleft()
                if status == "ok":
                    future.set_result(value)
                else:
                    future.set_exception(value)
                self.slots.release()
        except Exception:  # a torn frame: the worker died mid-answer
            pass
        code = self.proc.wait()
        if self.waiting or not self.pool.closing:
            self.pool.broken(f"a parsing process (pid {self.pid}) ended unexpectedly (exit status {code})")

    def fail(self, exc: BaseException) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)


class Pool:
    """``size`` parsing processes sharing one queue of tasks; :meth:`submit` returns a ``Future``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.closing = False
        self.problem: str | None = None
        self.boot = _boot_frame()
        self.workers = [_Worker(self, k) for k in range(size)]

    def submit(self, fn, *args) -> Future:
        if self.problem is not None:
            raise BrokenProcessPool(self.problem)
        if self.closing:
            raise RuntimeError("cannot submit a task to a pool that is shutting down")
        future: Future = Future()
        self.tasks.put((future, fn, args))
        return future

    def _drain(self, exc: BaseException | None) -> None:
        """Take every queued task off the queue: cancel it, or fail it with ``exc``."""
        while True:
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                return
            if task is None:
                continue
            future = task[0]
            if exc is None or not future.set_running_or_notify_cancel():
                future.cancel()
            else:
                future.set_exception(exc)

    def broken(self, problem: str) -> None:
        """A worker died: every task, queued or sent, fails with ``BrokenProcessPool``; the pool is dropped."""
        with _lock:
            if _pools.get(self.size) is self:
                del _pools[self.size]
        if self.problem is None:
            self.problem = problem
        self.kill(self.problem)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Let the workers answer what they were sent and end (queued tasks are cancelled if asked)."""
        self.closing = True
        if cancel_futures:
            self._drain(None)
        for _ in self.workers:
            self.tasks.put(None)
        for w in self.workers:
            w.slots.release()  # a sender waiting for a slot sees the end now
        if wait:
            for w in self.workers:
                w.receiver.join()

    def kill(self, problem: str = "the parsing processes were stopped") -> None:
        """End the workers now; every task queued or sent fails with ``BrokenProcessPool(problem)``."""
        self.closing = True
        for w in self.workers:
            if w.proc.poll() is None:
                try:
                    w.proc.kill()
                except OSError:  # pragma: no cover - already gone
                    pass
        exc = BrokenProcessPool(problem)
        self._drain(exc)
        for w in self.workers:
            w.fail(exc)
            self.tasks.put(None)
            w.slots.release()

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self.workers]


def get_pool(size: int) -> Pool:
    with _lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = Pool(size)
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
        pool.kill()


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
