"""The one place that decides how kernels are compiled.

Every jitted function in the engine goes through :func:`kernel` so that caching,
GIL release, error model and fast-math policy are uniform (a test checks that no
module calls ``numba.njit`` directly).  Kernels take only arrays and scalars, so
they can all be cached on disk; thread counts are passed in as arguments rather
than read inside a cached parallel function.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading

import numba


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


def cache_dir() -> str | None:
    """Where compiled kernels are cached (``None``: Numba's default beside the sources).

    ``SORTSLICE_CACHE_DIR`` wins, then ``NUMBA_CACHE_DIR``; when the package folder
    is read-only (system installs, containers) the user cache folder is used, or a
    per-user temporary folder when even that is not writable.
    """
    explicit = os.environ.get("SORTSLICE_CACHE_DIR")
    if explicit:
        return explicit
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if _writable(os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")):
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
if _CACHE_DIR is not None:
    # must be set before the first @kernel below is decorated (Numba picks the
    # cache locator then); this also applies to other Numba code in the process
    numba.config.CACHE_DIR = _CACHE_DIR

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


_workqueue_lock = threading.Lock()


class parallel_section:
    """Run parallel kernels with ``n`` threads from the calling thread.

    Numba's TBB and OpenMP layers accept launches from many threads at once (Polars
    calls UDFs from its own pool); the fallback ``workqueue`` layer aborts the
    process on concurrent launches, so with it launches are serialised here.
    """

    def __init__(self, n: int):
        self.n = n
        self.lock = None

    def __enter__(self):
        # until the first launch the layer is not chosen yet: serialise that too
        if _layer() in ("workqueue", "unknown"):
            self.lock = _workqueue_lock
            self.lock.acquire()
        self.old = numba.get_num_threads()
        numba.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        numba.set_num_threads(self.old)
        if self.lock is not None:
            self.lock.release()


def _layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel launched yet: the layer is not chosen
        return "unknown"
