"""SQLite worker locks (conveyor/store/worker_locks.py): each worker holds an flock on a file of its
own in a folder beside the database; the kernel releases it when the process dies. The probe
declares dead, 'exited', a worker whose file it can lock, and rescues its jobs at once (on one
machine a free flock can only mean the process is gone: no grace period)."""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from datetime import UTC, datetime

from conveyor.store import core
from conveyor.store.base import MaintenanceReport
from conveyor.store.sqlite.connection import Q
from conveyor.store.sqlite.maintenance import SQLiteMaintenance
from conveyor.store.worker_locks import WorkerLock, forget_fd, keep_out_of_children


def lock_folder(database_path: str) -> str:
    return database_path + "-workers"


def _try_lock(path: str, *, create: bool) -> int | None:
    """An open descriptor holding path's flock, or None when another open file holds it (or the
    file is missing and create is False)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class SQLiteWorkerLock(WorkerLock):
    def __init__(self, store: SQLiteLiveness, worker_id: str) -> None:
        self.store = store
        self.worker_id = worker_id
        self.folder = lock_folder(store.path)
        self.fd: int | None = None
        self.key = ""
        self.retake()

    def retake(self) -> None:
        self.release()
        os.makedirs(self.folder, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}.lock"  # the worker id may hold any character
        fd = _try_lock(os.path.join(self.folder, name), create=True)
        if fd is None:
            raise OSError(f"could not lock {name} in {self.folder}")
        self.fd, self.key = fd, name
        keep_out_of_children(fd)

    def attach(self) -> str | None:
        rows = self.store._run(Q.attach_worker_lock, {"key": self.key, "id": self.worker_id})
        return str(rows[0]["state"]) if rows else None

    def wait_lost(self, timeout: float) -> bool:
        # An flock cannot be taken from a live process; only its file can vanish (a folder cleaned
        # up by hand), and then the probe could lock a new file of that name.
        time.sleep(timeout)
        if self.fd is None:
            return True
        try:
            return os.stat(os.path.join(self.folder, str(self.key))).st_ino != os.fstat(self.fd).st_ino
        except OSError:
            return True

    def release(self) -> None:
        if self.fd is not None:
            forget_fd(self.fd)
            try:
                os.unlink(os.path.join(self.folder, str(self.key)))
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


class SQLiteLiveness(SQLiteMaintenance):
    def hold_worker_lock(self, worker_id: str) -> WorkerLock:
        return SQLiteWorkerLock(self, worker_id)

    def detect_exited_workers(self) -> MaintenanceReport | None:
        report = MaintenanceReport()
        folder = lock_folder(self.path)
        exited: list[tuple[str, str, int]] = []
        for row in self._all(Q.locked_workers, {}):
            fd = _try_lock(os.path.join(folder, row["lock_key"]), create=False)
            if fd is not None:  # held until the verdict is written: no one else takes it meanwhile
                exited.append((row["id"], row["lock_key"], fd))
        if not exited:
            return report
        try:
            with self._write() as conn:
                now = time.time()
                pairs = json.dumps([[worker_id, key] for worker_id, key, _ in exited])
                report.dead_workers = sorted(r[0] for r in conn.execute(Q.mark_exited_workers, {"now": now, "exited": pairs}))
                orphans = [self._taken(r) for r in conn.execute(Q.select_jobs_of_workers,
                                                                 {"workers": json.dumps(report.dead_workers), "now": now})]
                clock = datetime.fromtimestamp(now, UTC)
                rescues = [core.rescue_verdict(r, clock, exited=True) for r in orphans]
                rescued = self._write_verdicts(conn, now, rescues)
                report.rescued = [(i, s) for i, s, _ in rescued]
                written = {i for i, _, _ in rescued}
                conn.executemany(Q.count_task_minutes, [(now // 60 * 60, *row)
                                                        for row in core.ended_attempts(rescues, written)])
        finally:
            for worker_id, key, fd in exited:
                if worker_id in report.dead_workers:
                    _remove(os.path.join(folder, key))
                os.close(fd)
        self._wake({q for _, s, q in rescued if s == "queued"})
        return report


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

