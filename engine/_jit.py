"""The one place that decides how kernels are compiled and cached.

Every jitted function in the engine goes through :func:`kernel` so that caching,
GIL release, error model and fast-math policy are uniform (a test checks that no
module calls ``numba.njit`` directly).  The compile policy, chosen by measurement
(``perf/bench_coldstart.py``):

* kernels are **serial** and release the GIL; :func:`sortslice.engine.parallel.run_blocks`
  runs them over balanced blocks of rows on a kept thread pool.  ``parallel=True``
  (parfor lowering) was the costliest part of compiling, and no Numba threading layer
  is ever started (none of TBB's fork warnings, no launch lock);
* **one signature per kernel**: callers pass fixed dtypes, inputs read-only
  (:func:`ro`), outputs of any dtype as bytes; code a call may not need (molecules of
  more than 64 bonds) is a separate kernel, compiled on first use;
* the disk cache is sortslice's own (:class:`_KernelCache`): its folder applies to
  these kernels only, one file per key (signature, CPU, source hash), written
  atomically, so processes starting together on one empty folder never read each
  other's half-written or mismatched entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pickle
import sys
import tempfile
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process compile lock
    fcntl = None  # type: ignore[assignment]

import numba
import numpy as np
from numba.core import event
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator, _SourceFileBackedLocatorMixin
from numba.core.serialize import dumps as _numba_dumps


def _defer_numba_blas_probe() -> None:
    """Keep Numba's first compile or cache load from importing ``scipy.linalg`` (~0.2-0.3 s).

    The first kernel call of a process makes Numba import ``numba.np.arraymath``, whose
    module-level ``_HAVE_BLAS = _check_blas()`` calls ``ensure_blas()``, which imports
    ``scipy.linalg.cython_blas`` — the whole of ``scipy.linalg`` — only to learn whether
    BLAS exists (it selects how ``np.cov``/``np.corrcoef`` take inner products).  No
    kernel here uses BLAS, and that import was a third of a cold process's first call.
    This answers that one module-level probe from whether SciPy is installed, without
    importing it; every other ``ensure_blas()`` call (``np.dot`` and friends, when
    someone compiles them) still runs Numba's real check.  Nothing changes when
    ``arraymath`` was already imported or Numba's internals are not as expected.
    """
    if "numba.np.arraymath" in sys.modules:
        return
    try:
        import numba.np.linalg as linalg

        real = linalg.ensure_blas
    except (ImportError, AttributeError):  # pragma: no cover - a Numba without this layout
        return
    if getattr(real, "_sortslice_deferred", False):
        return

    def ensure_blas():
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_check_blas" and caller.f_globals.get("__name__") == "numba.np.arraymath":
            if importlib.util.find_spec("scipy") is None:
                raise ImportError("scipy 0.16+ is required for linear algebra")
            return
        return real()

    ensure_blas._sortslice_deferred = True
    linalg.ensure_blas = ensure_blas


_defer_numba_blas_probe()


def _writable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


_IN_TREE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")


def cache_dir() -> str | None:
    """Where compiled kernels are cached (``None``: beside the package sources, in its ``__pycache__``).

    ``SORTSLICE_CACHE_DIR`` wins, then ``NUMBA_CACHE_DIR``; when the package folder
    is read-only (system installs, containers) the user cache folder is used, or a
    per-user temporary folder when even that is not writable.  The folder holds
    sortslice's kernels only: other Numba code in the process keeps its own cache.
    """
    explicit = os.environ.get("SORTSLICE_CACHE_DIR")
    if explicit:
        return explicit
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if _writable(_IN_TREE):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (
        os.path.join(base, "sortslice", "numba"),
        os.path.join(tempfile.gettempdir(), f"sortslice-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"),
    ):
        if _writable(folder):
            return folder
    return None


_CACHE_DIR = cache_dir()
_FOLDER = _CACHE_DIR or _IN_TREE


class _Locator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Every kernel in one folder (:func:`cache_dir`); stale when its source file's content changes."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = _FOLDER

    def get_cache_path(self):
        return self._cache_path


class _Impl(CompileResultCacheImpl):
    _locator_classes = [_Locator]


class _KeyedFiles:
    """One file per cache key, named by its hash: no index shared between signatures.

    Numba's own cache keeps an index per function that processes rewrite whole, and
    numbers data files in it: two processes compiling different signatures at once
    can each write entry 1, and a third then loads one signature's code for another.
    Here a key names its file, the file repeats its key (checked on load), and every
    write goes to a temporary name first, then ``os.replace``: a reader sees a whole
    file of the right key or none.  Files of an older source of the same kernel are
    removed when a new one is written.
    """

    def __init__(self, cache_path: str, filename_base: str, source_stamp) -> None:
        self._folder = cache_path
        self._base = filename_base
        self._stamp = hashlib.sha256(pickle.dumps((source_stamp, numba.__version__))).hexdigest()[:16]

    def _path(self, key) -> str:
        # repr, not pickle: Numba types pickle with numbers that differ from one process to the next
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
        return os.path.join(self._folder, f"{self._base}.{self._stamp}.{digest}.nbk")

    def saved_any(self, names) -> bool:
        """Whether ``names`` (a listing of the folder) hold a file of this kernel's current source, any key."""
        prefix = f"{self._base}.{self._stamp}."
        return any(n.startswith(prefix) and n.endswith(".nbk") for n in names)

    def load(self, key):
        try:
            with open(self._path(key), "rb") as f:
                stored_key, data = pickle.loads(f.read())
        except Exception:  # missing, half-copied or from another Numba: a miss, compiled again
            return None
        return data if stored_key == repr(key) else None

    def save(self, key, data) -> None:
        path = self._path(key)
        tmp = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(_numba_dumps((repr(key), data)))
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return
        prefix = self._base + "."
        try:
            for name in os.listdir(self._folder):
                parts = name.split(".")
                if (
                    name.startswith(prefix)
                    and parts[-1] in ("nbk", "lock")
                    and parts[-3 - (parts[-1] == "lock")] != self._stamp
                ):
                    try:
                        os.unlink(os.path.join(self._folder, name))
                    except OSError:
                        pass
        except OSError:
            pass

    def flush(self) -> None:  # pragma: no cover - Numba's API; nothing is kept in memory
        pass


class _KernelCache(FunctionCache):
    """Numba's function cache, with :class:`_KeyedFiles` and one compile at a time per key across processes.

    A miss takes the key's lock file (``flock``) before compiling; a process that finds it taken waits,
    then loads what the other one saved. Dask workers, joblib or xdist workers and gunicorn replicas
    starting together on one empty cache folder thus compile each kernel once between them, and every
    one of them gets the same code.
    """

    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _KeyedFiles(
            self._cache_path, self._impl.filename_base, self._impl.locator.get_source_stamp()
        )
        self._held: dict = {}  # args -> the open lock file of a compile under way in this process

    def load_overload(self, sig, target_context):
        data = super().load_overload(sig, target_context)
        if data is not None or fcntl is None:
            return data
        key = self._index_key(sig, target_context.codegen())
        fd = _lock(self._cache_file._path(key) + ".lock")
        if fd is None:
            return None
        data = super().load_overload(sig, target_context)  # saved while this process waited?
        if data is not None:
            _unlock(fd)
            return data
        self._held[tuple(sig)] = fd  # released once the compile is saved (or failed: see _Compiles.on_end)
        return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        finally:
            self.release(sig)  # saved: a process waiting for this key now loads it

    def release(self, args) -> None:
        fd = self._held.pop(tuple(args), None)
        if fd is not None:
            _unlock(fd)


#: how long a process waits for another one's compile of the same kernel before compiling it itself
LOCK_WAIT = 600.0


def _lock(path: str):
    """An exclusive ``flock`` on ``path`` (waiting up to :data:`LOCK_WAIT`); ``None`` where none can be had."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only cache folder: nothing is saved there either
        return None
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.02)
        except OSError:  # a file system without locks
            os.close(fd)
            return None


def _unlock(fd) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# Integer-only kernels: fastmath buys nothing and could reorder the MI sums.
_OPTIONS = dict(nogil=True, error_model="numpy", fastmath=False)

#: registry of every kernel compiled through this module (used by warmup and tests)
KERNELS: list = []
_OURS: set = set()


def kernel(*args, inline: str = "never"):
    """Decorator: ``@kernel`` (serial, GIL released, cached in :func:`cache_dir`).

    Serial helpers used inside other kernels are cached too; they are inlined by
    LLVM as usual.
    """

    def wrap(fn):
        jitted = numba.njit(inline=inline, **_OPTIONS)(fn)
        try:
            jitted._cache = _KernelCache(fn)
        except Exception:  # pragma: no cover - no usable cache folder: compile every process
            pass
        KERNELS.append(jitted)
        _OURS.add(id(jitted))
        return jitted

    if args and callable(args[0]):
        return wrap(args[0])
    return wrap


def ro(a: np.ndarray) -> np.ndarray:
    """``a`` as a read-only view (free): kernels take their inputs read-only, so a writable array and a
    zero-copy Arrow or Polars buffer share one compiled signature."""
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


# ------------------------------------------------------------------ what compiling looks like
class _Compiles(event.Listener):
    """Counts the signatures compiled (not loaded from the cache) in this process, and says once on
    stderr when a first call compiles for more than :data:`NOTICE_AFTER` seconds."""

    def __init__(self) -> None:
        self.count = 0
        self.depth = 0
        self.noticed = False
        self.helped = False
        self.helpers = 0
        self.timer: threading.Timer | None = None

    def on_start(self, ev) -> None:
        if id(ev.data["dispatcher"]) not in _OURS:
            return
        self.depth += 1
        if self.depth != 1:
            return
        ensure_helpers()
        if not self.noticed and os.environ.get("SORTSLICE_COMPILE_NOTICE", "1") != "0":
            self.timer = threading.Timer(NOTICE_AFTER, self._notice)
            self.timer.daemon = True
            self.timer.start()

    def on_end(self, ev) -> None:
        disp = ev.data["dispatcher"]
        if id(disp) not in _OURS:
            return
        # a failed compile saves nothing: let the next one try (read the exception itself: Numba 0.68's
        # ``Event.is_failed`` answers the opposite)
        if isinstance(disp._cache, _KernelCache) and getattr(ev, "_exc_details", None) is not None:
            disp._cache.release(ev.data["args"])
        self.count += 1
        self.depth -= 1
        if self.depth == 0 and self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _notice(self) -> None:
        if self.noticed:
            return
        self.noticed = True
        where = _CACHE_DIR or "beside the package"
        on = f" on {self.helpers + 1} processes" if self.helpers else ""
        line = (
            f"sortslice: compiling its kernels for first use{on} (once per install and CPU, cached in "
            f"{where}); `sortslice warmup` compiles them all ahead of time\n"
        )
        if _notice_write is not None:
            _notice_write(line)
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


#: a first call that compiles for longer than this says so on stderr (once a process)
NOTICE_AFTER = 1.5
_compiles = _Compiles()
event.register("numba:compile", _compiles)
_notice_write = None


def compiling() -> bool:
    """Whether one of sortslice's kernels is being compiled in this process right now."""
    return _compiles.depth > 0


@contextlib.contextmanager
def notices_to(write):
    """Within the block, the compile notice goes to ``write(line)`` (e.g. ``tqdm.write`` under a progress bar)."""
    global _notice_write
    before, _notice_write = _notice_write, write
    try:
        yield
    finally:
        _notice_write = before


def compile_jobs() -> int:
    """Processes that share a cold start's compiling: ``SORTSLICE_COMPILE_JOBS``, else the cores (at most 4).

    Kernels compile one per process (Numba holds the GIL), so the first compile in a process starts
    ``compile_jobs() - 1`` helper processes that run the warmup from its other end into the same cache
    folder; the per-key locks of :class:`_KernelCache` make each kernel compile once, in whichever
    process gets to it first, and the others load it.  ``1`` turns the helpers off.
    """
    value = os.environ.get("SORTSLICE_COMPILE_JOBS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return min(cores, 4)


def _helper_lock_path(k: int) -> str:
    return os.path.join(_FOLDER, f"compile-helper-{k}.lock")


class helper_lock:
    """``with helper_lock(k) as held:`` compile helper ``k``'s lock in the cache folder, if free (not waited for)."""

    def __init__(self, k: int) -> None:
        self.path = _helper_lock_path(k)
        self.fd = None

    def __enter__(self) -> bool:
        if fcntl is None:
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            _unlock(self.fd)
            self.fd = None


def start_helpers() -> int:
    """Start the compile helpers of :func:`compile_jobs` not already running; returns how many run."""
    import subprocess

    jobs = compile_jobs()
    if jobs <= 1 or fcntl is None or not _writable(_FOLDER):
        return 0
    running = 0
    env = dict(os.environ, SORTSLICE_COMPILE_JOBS="1", SORTSLICE_COMPILE_NOTICE="0")
    if _CACHE_DIR is not None:
        env["SORTSLICE_CACHE_DIR"] = _CACHE_DIR
    for k in range(jobs - 1):
        with helper_lock(k) as free:
            pass
        if free:
            try:
                subprocess.Popen(
                    [sys.executable, "-m", "sortslice.engine.warmup", str(k)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # not in the caller's process group: Ctrl-C is the caller's
                    close_fds=True,
                )
            except OSError:
                continue
        running += 1
    return running


def ready(names) -> bool:
    """Whether every kernel named ``module.function`` (e.g. ``morgan._morgan_small``) is compiled in this
    process or saved in the cache folder, so that calling it loads rather than compiles.  (A saved file
    may be for another CPU; then the call compiles after all, which costs time, never correctness.)"""
    wanted = set(names)
    try:
        present = os.listdir(_FOLDER)
    except OSError:
        present = []
    for k in KERNELS:
        name = kernel_name(k)
        if name not in wanted:
            continue
        wanted.discard(name)
        if k.overloads:
            continue
        if not (isinstance(k._cache, _KernelCache) and k._cache._cache_file.saved_any(present)):
            return False
    return not wanted


def kernel_name(k) -> str:
    """``module.function`` of a kernel (e.g. ``morgan._morgan_small``), as warmup reports and :func:`ready` takes."""
    return k.py_func.__module__.rsplit(".", 1)[-1] + "." + k.__name__


def ensure_helpers() -> None:
    """Start the compile helpers now if this process has not (a first call that compiles nothing itself)."""
    if not _compiles.helped:
        _compiles.helped = True
        _compiles.helpers = start_helpers()


def compiled_signatures() -> int:
    """How many kernel signatures this process compiled (loads from the disk cache do not count)."""
    return _compiles.count
