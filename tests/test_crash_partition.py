"""What a worker lock cannot see, on a PostgreSQL cluster of the test's own (never the shared
server): a database restart must not make every worker look dead, and a machine lost for real —
a worker in its own network namespace whose link is cut, so no FIN reaches the server — is caught
by its heartbeat; when the link comes back its late writes are refused and it registers again.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.settings import Settings
from conveyor.store.worker_locks import HEARTBEAT_EXPIRED, LOCK_GRACE_S, RESTART_SETTLE_S
from tests import tasks as test_tasks
from tests.conftest import FAST, WorkerProcess, wait_for
from tests.postgres_server import PostgresServer, start_throwaway_cluster
from tests.test_crash_detection import completed_by, hold_jobs, release, running_on, started, worker_row


def _cluster(listen: tuple[str, ...] = ("127.0.0.1",), trust: tuple[str, ...] = ()) -> PostgresServer:
    server = start_throwaway_cluster(listen, trust)
    if server is None:
        pytest.fail("these tests need the PostgreSQL server binaries (initdb, pg_ctl) to run a cluster of their own")
    return server


def _bind_app(url: str) -> Conveyor:
    """The tests' app (tests.tasks), on the cluster's database with the FAST timings."""
    app = test_tasks.app
    app.close()
    app.settings = Settings(database_url=url, **FAST)  # type: ignore[arg-type]
    app.migrate()
    return app


def _worker(settings: Settings, folder: Path, name: str, **options: object) -> WorkerProcess:
    return WorkerProcess(settings, "high,default,low", 3, folder / f"{name}.log", **options)  # type: ignore[arg-type]


# -- a database restart -------------------------------------------------------------------------
@pytest.fixture
def own_cluster() -> Iterator[PostgresServer]:
    server = _cluster()
    yield server
    server.stop()


def test_a_database_restart_does_not_make_every_worker_look_dead(own_cluster, tmp_path):
    app = _bind_app(own_cluster.create_database())
    # The default liveness timeout: with FAST's 3 s, a worker whose pool reconnects slowly on a busy
    # CI machine is (rightly) declared dead by its heartbeat before it is back (seen once in CI).
    app.settings = app.settings.with_overrides(liveness_timeout=Settings().liveness_timeout)
    workers = [_worker(app.settings, tmp_path, f"w{i}") for i in range(2)]
    try:
        infos = [started(app, w) for w in workers]
        ids = hold_jobs(app, tmp_path, 4)
        wait_for(lambda: all(j.state.value == "running" for j in app.store.get_jobs(ids)), timeout=30)
        own_cluster.stop_server()
        # Down for longer than the liveness timeout: every heartbeat is stale when it comes back,
        # and every worker lock is gone with its session.
        time.sleep(app.settings.liveness_timeout + 1)
        own_cluster.start_server()
        back, restarted_at = time.monotonic(), datetime.now(UTC)
        # Until the heartbeat and the lock probe could both have declared someone dead, nobody is.
        while time.monotonic() < back + RESTART_SETTLE_S + LOCK_GRACE_S + 2 * app.settings.maintenance_interval:
            try:
                rows = [worker_row(app, w) for w in workers]
            except Exception:  # the test's own pooled connections died with the restart
                time.sleep(0.1)
                continue
            assert all(r is not None and r.state == "running" and r.detected_by is None for r in rows), rows
            time.sleep(0.1)
        assert all(w.proc.poll() is None for w in workers)
        assert all("worker lock taken again" in w.output() for w in workers)
        # And every worker heartbeats again well inside its liveness timeout: the pool reconnects
        # within a second or so of the server's return, not after its doubling backoff (16 s here).
        rows = [worker_row(app, w) for w in workers]
        assert all(r is not None and r.last_heartbeat > restarted_at for r in rows), (restarted_at, rows)
        for w in workers:
            release(tmp_path, w)
        for job in app.store.get_jobs(ids):
            holder = next(w for w, info in zip(workers, infos, strict=True) if info.id == job.worker_id)
            completed_by(app, [job.id], holder, job.worker_id or "", ["completed"])
    finally:
        for w in workers:
            w.stop()
        app.close()


# -- a lost machine -----------------------------------------------------------------------------
class Namespace:
    """A network namespace linked to this one by a veth pair: the worker's second machine."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name, self.host_if, self.ns_if = f"cv-{tag}", f"cvh{tag}", f"cvn{tag}"
        subnet = 10 + os.getpid() % 200
        self.host_ip, self.ns_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
        self.network = f"10.231.{subnet}.0/24"
        self._run("ip", "netns", "add", self.name)
        try:
            self._run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            self._run("ip", "link", "set", self.ns_if, "netns", self.name)
            self._run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            self._run("ip", "link", "set", self.host_if, "up")
            self._run(*self.exec, "ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
            self._run(*self.exec, "ip", "link", "set", self.ns_if, "up")
            self._run(*self.exec, "ip", "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise

    @property
    def exec(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)

    def cut(self) -> None:
        """The namespace's end goes down: packets are dropped both ways, no FIN, no RST."""
        self._run(*self.exec, "ip", "link", "set", self.ns_if, "down")

    def restore(self) -> None:
        self._run(*self.exec, "ip", "link", "set", self.ns_if, "up")

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)

    @staticmethod
    def _run(*command: str) -> None:
        subprocess.run(command, check=True, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    try:
        ns = Namespace()
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        pytest.skip(f"cannot make a network namespace here (needs root and iproute2): {detail}")
    yield ns
    ns.remove()


@pytest.fixture
def linked_cluster(namespace: Namespace) -> Iterator[PostgresServer]:
    server = _cluster(listen=("127.0.0.1", namespace.host_ip), trust=(namespace.network,))
    yield server
    server.stop()


def late_lines(folder: Path, worker: WorkerProcess, after: float) -> list[list[str]]:
    """t.hold's progress lines from `worker`'s process for writes started after `after`."""
    lines = [line.split() for line in (folder / "progress.log").read_text().split("\n") if line]
    return [line for line in lines if line[1] == str(worker.proc.pid) and float(line[0]) > after]


def test_a_lost_machine_is_caught_by_its_heartbeat_and_its_late_writes_are_refused(
    namespace, linked_cluster, tmp_path
):
    url = linked_cluster.create_database()
    app = _bind_app(url)
    over_the_link = url.replace("@127.0.0.1:", f"@{namespace.host_ip}:")
    lost = _worker(app.settings, tmp_path, "lost", prefix=namespace.exec, database_url=over_the_link)
    rescuer: WorkerProcess | None = None
    try:
        a = started(app, lost)
        ids = hold_jobs(app, tmp_path, 3)
        wait_for(lambda: running_on(app, ids, a.id), timeout=30, message="3 jobs in flight on the far machine")
        rescuer = _worker(app.settings, tmp_path, "rescuer")
        b = started(app, rescuer)
        namespace.cut()
        cut_at = time.time()
        wait_for(lambda: running_on(app, ids, b.id), timeout=app.settings.liveness_timeout + 10,
                 message="the lost machine's jobs running again on B")
        declared = worker_row(app, lost)
        assert declared is not None and (declared.state, declared.detected_by) == ("dead", HEARTBEAT_EXPIRED)
        assert declared.stopped_at is not None
        dead_at = declared.stopped_at.timestamp()
        namespace.restore()
        wait_for(lambda: "WORKER_REJOINED" in lost.output(), timeout=60,
                 message="the worker, back on the network, to register again")
        # Its copies still run: let each write once more from after the cut (a write in flight at
        # the cut only returns now, stamped before it), then let them finish, late.
        wait_for(lambda: len({line[2] for line in late_lines(tmp_path, lost, cut_at)}) == len(ids), timeout=30,
                 message="a progress write from each of the lost worker's copies after the cut")
        release(tmp_path, lost)
        back = worker_row(app, lost)
        assert back is not None and (back.state, back.detected_by) == ("running", None)
        release(tmp_path, rescuer)
        # Each job: the lost worker's attempt, orphaned, then B's; nothing the lost worker finished
        # late was recorded, and it claimed nothing while it was declared dead.
        completed_by(app, ids, rescuer, b.id, ["orphaned", "completed"])
        for job in app.store.get_jobs(ids):
            orphaned = job.attempts_history()[0]
            assert orphaned.worker_id == a.id and orphaned.started_at.timestamp() < dead_at
        late = late_lines(tmp_path, lost, cut_at)
        assert late and all(line[3] in ("refused", "error") for line in late), late
        assert any(line[3] == "refused" for line in late), "no late progress write reached the server"
    finally:
        lost.stop()
        if rescuer is not None:
            rescuer.stop()
        app.close()
