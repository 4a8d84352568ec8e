"""Processes for `python -m bench.user_way`: a worker started the way a user starts one
(`python -m conveyor worker --app bench.user_app:app`, its stderr to a log file) and the raw
consumers of bench/user_raw.py; plus reading the lines the task body wrote."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.user_app import OUT_ENV
from bench.workers import REPO_ROOT


def _env(url: str, out: Path) -> dict[str, str]:
    path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "CONVEYOR_DATABASE_URL": url, OUT_ENV: str(out), "PYTHONPATH": path}
    env.pop("CONVEYOR_LOG_LEVEL", None)  # the defaults are measured as shipped
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    """A child process whose stderr goes to a log file; stop() sends SIGTERM and waits."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log_file,
                                     stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_line(self, wanted: bytes, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.proc.stdout.readline()
            if line.strip() == wanted:
                return
            if not line:
                break
        self.stop()
        raise RuntimeError(f"{self.proc.args} did not print {wanted!r}:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> None:
        """Raises when the process has ended (a wait for its work would otherwise stall)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.proc.args} exited with {self.proc.returncode}:\n"
                               f"{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


def conveyor_worker(url: str, out: Path, log: Path, extra: list[str]) -> Proc:
    """`python -m conveyor worker --app bench.user_app:app --queues default [extra]`."""
    top = [f for f in extra if f.startswith("--log-level=")]  # an option of `conveyor` itself
    rest = [f for f in extra if f not in top]
    argv = [sys.executable, "-m", "conveyor", *top, "worker", "--app", "bench.user_app:app", "--queues", "default",
            *rest]
    return Proc(argv, _env(url, out), log)


def raw_consumer(mode: str, dsn: str, out: Path, log: Path) -> Proc:
    return Proc([sys.executable, "-m", "bench.user_raw", mode, "--dsn", dsn], _env(dsn, out), log)


def read_out(out: Path) -> dict[int, int]:
    """{order number: the task body's clock reading (ns)} from the lines the jobs appended."""
    seen: dict[int, int] = {}
    if not out.exists():
        return seen
    for line in out.read_text().splitlines():
        n, _, started = line.partition(" ")
        if started:
            seen[int(n)] = int(started)
    return seen


def check_lifecycle(log: Path, jobs: int) -> str | None:
    """None when the log has JOB_START then JOB_DONE for every one of `jobs` jobs, in that order;
    else what is wrong."""
    started: set[str] = set()
    done = 0
    for line in log.read_text(errors="replace").splitlines():
        if " JOB_START " in line or " JOB_DONE " in line:
            job_id = line.split(" job_id=", 1)[1].split(" ", 1)[0]
            if " JOB_START " in line:
                started.add(job_id)
            elif job_id not in started:
                return f"JOB_DONE before JOB_START for job {job_id}"
            else:
                done += 1
    if len(started) != jobs or done != jobs:
        return f"{len(started)} JOB_START and {done} JOB_DONE lines for {jobs} jobs"
    return None
