"""Output stage: files that are complete or absent (one helper for models, ids files and every CLI output).

A temporary file beside the target is renamed over it on success; an interrupted or failed write
removes it, so a previous output stays as it was.  Through a symlink the link stays and its target is
replaced; a path that is not a regular file (a pipe, ``/dev/stdout``, ``/dev/null``) is written in place.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat


class WriteError(OSError):
    """An output that cannot be created; ``str()`` is one line naming it (``errno`` kept when known)."""

    def __init__(self, path: str, reason: str, errno: int | None = None):
        super().__init__(errno, reason)
        self.path = path
        self.message = f"cannot write {path}: {reason}"

    def __str__(self) -> str:
        return self.message


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


#: temporary files created and neither renamed into place nor removed yet (this process)
_LIVE: set[str] = set()


def _create_temporary(target: str) -> tuple[int, str]:
    """``(fd, path)`` of a new private file ``.NAME.XXXXXXXX.part`` beside ``target``.  The path is in
    :data:`_LIVE` before the file exists, so an exception raised by a signal handler at any point
    (SIGTERM as an exception, KeyboardInterrupt) leaves nothing :func:`remove_temporaries` misses."""
    folder, name = os.path.split(target)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.part")
        _LIVE.add(tmp)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), tmp
        except FileExistsError:
            _LIVE.discard(tmp)
        except BaseException:
            # an interrupt (a signal handler's exception) may land after os.open created the file and before
            # the return: the file is ours (O_EXCL), so it goes with the name
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _LIVE.discard(tmp)
            raise
    raise FileExistsError(f"no free temporary name beside {target}")


def remove_temporaries() -> list[str]:
    """Remove this process's temporary files that were neither committed nor aborted (an interrupt that
    came between creating one and the code that would abort it); returns their paths.  The CLI calls it
    on SIGINT, SIGTERM and SIGHUP."""
    removed = []
    for tmp in sorted(_LIVE):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
            removed.append(tmp)
        _LIVE.discard(tmp)
    return removed


class AtomicFile:
    """A temporary file beside ``path`` (binary, ``.file``), renamed over it by :meth:`commit`."""

    def __init__(self, path: str):
        self.path = path
        try:
            mode = os.stat(path).st_mode  # of the symlink's target
        except OSError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise WriteError(path, "it is a directory")
        if path.endswith(("/", os.sep)):
            raise WriteError(path, "the name ends with '/' (a folder), and this output is one file")
        if mode is not None and not stat.S_ISREG(mode):
            self.tmp = None
            try:
                self.file = open(path, "wb")
            except OSError as exc:
                raise WriteError(path, _reason(exc), exc.errno) from None
            return
        self.target = os.path.realpath(path)
        try:
            fd, self.tmp = _create_temporary(self.target)
        except OSError as exc:
            raise WriteError(path, _reason(exc), exc.errno) from None
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        if self.tmp is None:
            self.file.close()
            return
        if not self.file.closed:  # some writers (gzip, zip) close the file they were given
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        else:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        # the temporary file is private (0600); an output gets the usual umask permissions
        os.chmod(self.tmp, 0o666 & ~_umask())
        os.replace(self.tmp, self.target)
        _LIVE.discard(self.tmp)

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # flushing fails the way the write did (a full disk); the file goes anyway
        finally:
            if self.tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.tmp)
                _LIVE.discard(self.tmp)


@contextlib.contextmanager
def atomic_write(path: str):
    """``with atomic_write(path) as fh:`` — ``fh`` (binary) becomes ``path`` only if the block succeeds."""
    out = AtomicFile(os.fspath(path))
    try:
        yield out.file
        out.commit()
    except BaseException:
        out.abort()
        raise
