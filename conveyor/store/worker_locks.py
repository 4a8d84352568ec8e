"""Worker locks: a lock only a live worker process can hold, so that its death is known at once.

PostgreSQL: a session-level advisory lock on a connection of the worker's own; the server drops it
when the process dies (the socket closes). SQLite: an flock on a file of the worker's own beside
the database; the kernel drops it when the process dies. The maintenance probe
(Store.detect_exited_workers) tries each live worker's lock: one it can take belongs to a process
that is gone. The heartbeat stays, for what no lock can show: a hung process, a lost machine.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod

LOCK_SPACE = 1131376247  # the first key of every worker lock (PostgreSQL's two-key advisory locks)
# PostgreSQL: a worker whose lock connection dropped takes a new lock within milliseconds; only a
# lock still free this long after a probe first found it free means the process is gone.
LOCK_GRACE_S = 0.75
# PostgreSQL: no 'exited' verdict this soon after the server started (every session is new; the
# workers are still taking their locks again). The heartbeat counts from the start too.
RESTART_SETTLE_S = 5.0
EXITED = "exited"
HEARTBEAT_EXPIRED = "heartbeat expired"


class WorkerLock(ABC):
    """The lock one worker holds for its whole life (Store.hold_worker_lock takes it)."""

    key: str | int  # what the worker's row records (lock_key)

    @abstractmethod
    def attach(self) -> str | None:
        """Record the held lock on the worker's row; the row's state ('dead': the worker was declared
        dead and must re-register), or None when the worker is not registered."""

    @abstractmethod
    def wait_lost(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when the lock is gone (its connection or file lost)."""

    @abstractmethod
    def retake(self) -> None:
        """Take a new lock after losing one; raises while the database cannot be reached."""

    @abstractmethod
    def release(self) -> None:
        """Let the lock go (graceful stop: the worker's row says 'stopped' first)."""


# A forked child (process isolation) inherits the descriptors that hold the locks: it must not keep
# them, or a SIGKILLed worker would look alive until its child ends. Closing the child's copy of a
# descriptor releases nothing (the flock and the socket belong to the parent's open file).
_inherited: set[int] = set()
_inherited_lock = threading.Lock()


def keep_out_of_children(fd: int) -> None:
    with _inherited_lock:
        _inherited.add(fd)


def forget_fd(fd: int) -> None:
    with _inherited_lock:
        _inherited.discard(fd)


def _close_in_child() -> None:
    for fd in list(_inherited):
        try:
            os.close(fd)
        except OSError:
            pass
    _inherited.clear()


os.register_at_fork(after_in_child=_close_in_child)
