"""Worker processes (separate OS processes, so the producer never shares their GIL)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent


class WorkerStartError(RuntimeError):
    pass


class WorkerProcess:
    """`python -m bench.worker_entry` in a child process; stderr goes to a log file."""

    def __init__(
        self,
        url: str,
        *,
        worker_id: str,
        concurrency: int,
        log_dir: Path,
        queues: str = "default",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.queues = queues
        self.env = dict(env or {})
        self.log_path = log_dir / f"{worker_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._terminated = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker_entry", "--url", self.url, "--concurrency",
             str(self.concurrency), "--worker-id", self.worker_id, "--queues", self.queues],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.proc.stdout.readline()
            if line.strip() == b"READY":
                return
            if not line:  # EOF: the process died
                break
        self.kill()
        raise WorkerStartError(f"worker {self.worker_id} did not start (last line {line!r}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far (Linux /proc), None where unavailable."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Ask for a graceful stop (SIGTERM) without waiting; only the first call signals."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            self.proc.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (graceful), a second SIGTERM past `grace` (hand back at once), then SIGKILL."""
        if self.proc is None:
            return
        self.terminate()
        for wait, escalate in ((grace, signal.SIGTERM), (10.0, None)):
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                if escalate is not None:
                    self.proc.send_signal(escalate)
        self.kill()

    def kill(self) -> None:
        """SIGKILL: no handback, no 'stopped' mark (a crash, as far as Conveyor can tell)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def running_workers(
    url: str,
    *,
    count: int,
    concurrency: int,
    log_dir: Path,
    prefix: str,
    env: Mapping[str, str] | None = None,
) -> Iterator[list[WorkerProcess]]:
    """Start `count` worker processes, wait until each is claiming, stop them all on exit."""
    workers = [
        WorkerProcess(url, worker_id=f"{prefix}-{i}", concurrency=concurrency, log_dir=log_dir, env=env)
        for i in range(count)
    ]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        yield workers
    finally:
        for w in workers:  # all at once, then wait for each
            w.terminate()
        for w in workers:
            w.stop()
