"""Stage 1b, one parsing process: a fresh interpreter (never a fork) that runs tasks sent by :mod:`.processes`.

It is started by :mod:`.processes` with a few lines of bootstrap that load only this module and
:mod:`.parse` (not the ``sortslice`` package, which would import Numba and Polars for nothing), then
reads ``(function, args)`` frames from stdin and writes ``("ok", result)`` or ``("error", exception)``
frames to stdout, in order.  A frame is an 8-byte little-endian length and a pickle.  Standard library
only, so the bootstrap can load it by path.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
import time

HEADER = struct.Struct("<Q")


def read_frame(stream) -> bytes | None:
    """The next frame's bytes, or ``None`` at the end of the stream."""
    head = _read_exactly(stream, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    data = _read_exactly(stream, size)
    if data is None:
        raise EOFError("the stream ended inside a frame")
    return data


def _read_exactly(stream, size: int) -> bytes | None:
    parts = []
    left = size
    while left:
        part = stream.read(left)
        if not part:
            if left == size:
                return None
            raise EOFError("the stream ended inside a frame")
        parts.append(part)
        left -= len(part)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def write_frame(stream, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def serve(parent: int) -> None:
    """Answer tasks until stdin closes.

    Ctrl-C reaches the whole process group, but only the parent handles it (it stops the work and
    ends its workers).  A parent that dies without closing stdin (SIGKILL, the OOM killer) is noticed
    by a watchdog thread, which ends this process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="sortslice-parent-watch", daemon=True).start()
    # the results go to a private copy of stdout; anything a library prints goes to stderr instead of
    # into the channel
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    tasks = sys.stdin.buffer
    while True:
        frame = read_frame(tasks)
        if frame is None:
            return
        try:
            fn, args = pickle.loads(frame)
            answer = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            answer = ("error", exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an unpicklable result or exception
            data = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        write_frame(channel, data)
