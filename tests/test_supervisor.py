"""`conveyor up` owns its worker processes: none outlives it, however it ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.store import open_store
from tests.conftest import ROOT, wait_for


def _alive(pid: int) -> bool:
    if not Path("/proc/self/stat").exists():  # no procfs (macOS): a signal 0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent has not reaped it yet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_conveyor_up_workers_stop_with_it(tmp_path, sig):
    url = f"sqlite:///{tmp_path / 'up.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_HEARTBEAT_INTERVAL": "0.5",
           "CONVEYOR_SHUTDOWN_GRACE": "2"}
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "up", "--database-url", url, "--port", str(_free_port()),
         "--no-demo-jobs", "--no-auth"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    store = None
    try:
        def worker_pids() -> list[int] | None:
            nonlocal store
            if not (tmp_path / "up.db").exists():
                return None
            try:
                store = store or open_store(url)
                live = [w for w in store.list_workers(15) if w.state == "running"]
            except Exception:  # the schema is still being created
                return None
            # The pool's worker, and the embedding stage's own (the demo app's Jira/GitHub steps embed).
            return [w.pid for w in live] if len(live) == 2 else None

        pids = wait_for(worker_pids, timeout=60, message="the supervised workers to register")
        assert all(_alive(pid) for pid in pids)
        up.send_signal(sig)
        up.wait(30)
        wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=15,
                 message=f"workers {pids} to stop after {sig.name} of `up`")
        workers = store.list_workers(15)
        assert len(workers) == 2 and all(w.state == "stopped" for w in workers), \
            "the workers stopped gracefully (deregistered), not killed"
    finally:
        if up.poll() is None:
            up.kill()
        if store is not None:
            store.close()
        log.close()


def test_conveyor_up_keeps_no_access_log_unless_asked(tmp_path):
    """216 of 408 lines under `up` were the dashboard's own polls: the access log is off by
    default, and --access-log turns it on. Both servers start together (each spends seconds
    importing), each on its own database file."""
    import httpx

    servers = []
    for flags, expect_lines in (([], False), (["--access-log"], True)):
        port = _free_port()
        log_path = tmp_path / f"up-{len(flags)}.log"
        with log_path.open("wb") as log:
            up = subprocess.Popen(
                [sys.executable, "-m", "conveyor", "up", "--database-url", f"sqlite:///{tmp_path / f'a-{len(flags)}.db'}",
                 "--port", str(port), "--workers", "0", "--no-demo-jobs", "--no-auth", *flags],
                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
            )
        servers.append((up, port, log_path, expect_lines))
    try:
        for _, port, log_path, expect_lines in servers:
            def healthy(port: int = port) -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/api/queues", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(healthy, timeout=60, message="conveyor up to serve")  # two start at once on 2 cores
            for _ in range(3):
                httpx.get(f"http://127.0.0.1:{port}/api/queues", timeout=5)
            if expect_lines:
                wait_for(lambda path=log_path: "GET /api/queues" in path.read_text(errors="replace"), timeout=10,
                         message="access log lines")
    finally:
        for up, *_ in servers:
            up.send_signal(signal.SIGTERM)
        for up, *_ in servers:
            up.wait(30)
    for _, _, log_path, expect_lines in servers:
        assert ("GET /api/queues" in log_path.read_text(errors="replace")) is expect_lines
