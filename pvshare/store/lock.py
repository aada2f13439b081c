"""One daemon per store: an exclusive ``flock`` on ``<store>.lock``, held for the daemon's
life. The kernel releases it when the process ends, however it ends (kill -9 included), so a
stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pvshare.errors import PvshareError


class StoreLocked(PvshareError):
    """Another process holds the store's lock (exit code 2)."""


class StoreLock:
    """An exclusive lock on a store, taken at once or refused (never waits).

    Parameters
    ----------
    store_path : path-like
        The store; the lock file is ``<store_path>.lock`` beside it (mode 0600).
    """

    def __init__(self, store_path: str | os.PathLike):
        self.path = Path(str(store_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> StoreLock:
        """Take the lock; raise :class:`StoreLocked` naming the holder's pid."""
        old = os.umask(0o077)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreLocked(f"{self.path}: cannot create the lock file: {exc.strerror}") \
                from None
        finally:
            os.umask(old)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreLocked(f"{self.path.with_suffix('')}: another pvshare daemon (pid "
                              f"{holder}) is already running on this store; stop it first "
                              "(systemctl stop pvshare) or give this one another [store] path"
                              ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (the file stays; it is harmless)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
