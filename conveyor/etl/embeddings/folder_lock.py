"""One process owns an embedded vector store's folder: an OS lock on a file inside it.

The lock is `flock` on `<folder>/.conveyor-owner.lock`. The kernel releases it when the owning
process exits, however it exits (kill -9 included), so a crash never leaves the folder locked;
while the owner lives, every other opener (another process, or a second store in the same
process) is refused with the owner's pid, instead of two engines corrupting one folder.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from conveyor.errors import ConveyorError

LOCK_FILE = ".conveyor-owner.lock"


class StoreLockedError(ConveyorError):
    """Another process (or another store object) holds the embedded store's folder."""

    folder: Path | None = None


class FolderLock:
    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            error = StoreLockedError(
                f"The embedded vector store {self.folder} is already open (owner: process {owner}); "
                "only one process may open an embedded store folder.",
                action="Let the owning process (the embedding worker) serve it, point this process at a "
                       "Qdrant server URL instead, or stop the owner first.",
            )
            error.folder = self.folder
            raise error from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
