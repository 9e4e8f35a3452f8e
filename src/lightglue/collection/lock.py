"""One writer per output folder: an exclusive ``fcntl.flock`` on ``<folder>/.lightglue.lock``.

Two lightglue processes writing into one folder would duplicate every computation and
overwrite each other's results, so every stage that writes takes this lock first and a
second process fails at once with :class:`FolderBusyError` (naming the holder's pid). The
kernel drops the lock when its holder exits, killed or not, so a killed run never leaves a
stale lock behind. The lock is re-entrant within one process (the pipeline holds it while
its stages take it again).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lightglue.lock"

_held: dict[Path, tuple[int, int]] = {}  # folder -> (file descriptor, depth), this process
_guard = threading.Lock()


class FolderBusyError(RuntimeError):
    """Another process holds the output folder's lock."""


def _holder_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Raises:
        FolderBusyError: another process holds it; the message names that process's pid.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
        else:
            fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _holder_pid(fd)
                os.close(fd)
                raise FolderBusyError(
                    f"{folder} is being written by another lightglue process (pid {pid}); "
                    "wait for it to finish or use another output folder."
                ) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _held[key] = (fd, 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                os.close(fd)  # releases the lock; the file stays (deleting it would race)
