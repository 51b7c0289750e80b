"""The journal's cross-platform writer lock: one batch writes a journal at a time."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO

from .._core.errors import InvalidInput, JournalError

__all__ = ["WriterLock", "resolve", "take_lock"]


class WriterLock:
    """The journal's writer lock: ``<journal>.lock``, held open and locked for the block.

    POSIX: ``fcntl.flock``; Windows: ``msvcrt.locking`` on the file's first byte. Both are
    dropped by the OS when the process dies, so a crashed batch never blocks its resume. The
    lock file is removed on release; a run that opened the file just before that removal finds
    its lock on a file no longer at the path and takes the lock again on the new one, so two
    runs never both hold "the" lock.
    """

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self._handle = handle
        self._path = path

    @classmethod
    def take(cls, journal: Path) -> WriterLock:
        path = Path(f"{journal}.lock")
        for _ in range(_LOCK_ATTEMPTS):
            try:
                handle = open(path, "ab")  # held open for the journal's lifetime
            except OSError as exc:
                raise JournalError(
                    f"cannot create the journal's lock file {str(path)!r}: {exc.strerror}; "
                    "the folder must be writable"
                ) from None
            try:
                _lock_file(handle)
            except OSError:
                handle.close()
                raise JournalError(
                    f"the journal {str(journal)!r} is in use by another batch; wait for it to "
                    "finish (two batches writing one journal would create duplicate jobs)"
                ) from None
            if _same_file(handle, path):
                return cls(handle, path)
            handle.close()  # removed by its holder between our open and our lock: again
        raise JournalError(f"cannot take the journal's lock {str(path)!r}; try again")

    def release(self) -> None:
        """Remove the lock file and drop the lock (the removal first: see the class docs)."""
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.unlink(self._path)
        self._handle.close()  # closing the descriptor releases the lock
        if sys.platform == "win32":  # Windows cannot remove an open file: after closing it
            with contextlib.suppress(OSError):
                os.unlink(self._path)


#: Tries to lock a lock file that its holder removed meanwhile (see :class:`WriterLock`).
_LOCK_ATTEMPTS = 5


def _lock_file(handle: IO[bytes]) -> None:
    """Lock ``handle`` without waiting; ``OSError`` when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _same_file(handle: IO[bytes], path: Path) -> bool:
    if sys.platform == "win32":  # pragma: no cover - an open file cannot be removed there
        return True
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(handle.fileno())
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def take_lock(path: Path) -> WriterLock:
    """Take the journal's writer lock on its resolved path (a symlink locks its target)."""
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a directory; pass a file path")
    return WriterLock.take(path)


def resolve(path: Path) -> Path:
    """The journal's real path: every name for one file shares one lock."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise JournalError(f"cannot open the journal {str(path)!r}: {exc}") from None
    except ValueError as exc:
        raise InvalidInput("journal", f"{str(path)!r} is not a usable path ({exc})") from None
