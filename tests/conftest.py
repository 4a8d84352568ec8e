"""Fixtures: every behaviour test runs on SQLite and on a real PostgreSQL server.

Each test run creates its own PostgreSQL database (dropped at the end); each test starts from
empty tables. If no PostgreSQL can be found or started, the run fails loudly: it never skips.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conveyor import Conveyor
from conveyor.settings import Settings
from conveyor.worker import Worker
from tests import tasks as test_tasks
from tests.postgres_server import PostgresServer, find_server

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("conveyor_jobs, conveyor_workers, conveyor_queues, conveyor_api_keys, conveyor_completions, conveyor_task_minutes, "
          "pipeline_runs, pipeline_stage_counts, pipeline_count_deltas, raw_extraction_data")

# Short timings so never-stuck behaviour shows in seconds, not minutes.
FAST = {
    "liveness_timeout": 3.0,
    "heartbeat_interval": 0.5,
    "maintenance_interval": 0.5,
    "timeout_grace": 0.5,
    "poll_interval": 0.5,
    "shutdown_grace": 5.0,
}


def register_worker_row(store: Any, worker_id: str, queues: tuple[str, ...] = ("default",)) -> None:
    """A worker row that heartbeats once and claims nothing: enough for the live-worker check and
    for tests that claim and finish jobs through the store by hand."""
    from conveyor.model import WorkerInfo

    store.register_worker(WorkerInfo(
        id=worker_id, hostname="h", pid=1, queues=list(queues), concurrency=1, version="t",
        started_at=None, last_heartbeat=None, state="running", desired_state=None,  # type: ignore[arg-type]
        jobs_in_flight=0, processed=0, failed=0))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, message: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = find_server()
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=3)
    yield server
    server.drop_databases()
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """This run's own database, migrated once."""
    url = postgres_server.create_database()
    app = test_tasks.app.with_database(url)
    app.migrate()
    app.close()
    return url


def _reset_postgres(url: str) -> None:
    """Empty every table but the migration record: the job store's (TABLES) and every domain
    table a migration added (integrations, Jira, GitHub ...), without listing each here."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'conveyor_schema_version'")]
        conn.execute(f"TRUNCATE {', '.join(sorted(set(found) | set(TABLES.split(', '))))}")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'conveyor.db'}"
    url = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return str(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, **FAST)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _restore_conveyor_logging() -> Iterator[None]:
    """A test that runs the CLI in-process (cli.main) points the 'conveyor' logger at that test's
    captured stderr and stops it propagating: put it back, or later tests' threads log into a
    closed stream ("--- Logging error ---" in their stderr) and caplog sees nothing."""
    logger = logging.getLogger("conveyor")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def app(settings: Settings) -> Iterator[Conveyor]:
    # Rebind the module's app itself, so `tasks.add.enqueue(...)` in a test uses this database.
    bound = test_tasks.app
    bound.close()
    bound.settings = settings
    bound.migrate()
    test_tasks.RAN.clear()
    yield bound
    bound.close()


class WorkerThread:
    """A worker running in a thread of the test process."""

    def __init__(self, app: Conveyor, queues: list[str], concurrency: int) -> None:
        self.worker = Worker(app, queues, concurrency)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def start(self) -> WorkerThread:
        self.thread.start()
        if not self.worker.started.wait(15):
            raise AssertionError("worker did not start")
        return self

    def stop(self, immediate: bool = False, timeout: float = 30) -> None:
        self.worker.request_stop(immediate=immediate)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def start_worker(app: Conveyor) -> Iterator[Callable[..., WorkerThread]]:
    started: list[WorkerThread] = []

    def start(queues: list[str] | None = None, concurrency: int = 4, target: Conveyor | None = None) -> WorkerThread:
        w = WorkerThread(target or app, queues or ["high", "default", "low"], concurrency).start()
        started.append(w)
        return w

    yield start
    for w in started:
        if w.thread.is_alive():
            w.stop(immediate=True)


class WorkerProcess:
    """`conveyor worker` as a real OS process (for SIGKILL and multi-process tests)."""

    def __init__(self, settings: Settings, queues: str, concurrency: int, log_path: Path,
                 extra_env: dict[str, str] | None = None, *, fast: bool = True, prefix: tuple[str, ...] = (),
                 database_url: str | None = None) -> None:
        """fast: the FAST timings (else the defaults); prefix: a command the worker runs under (e.g.
        `ip netns exec NAME`); database_url: another URL for the same database (another route)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
        if fast:
            env.update({f"CONVEYOR_{k.upper()}": str(v) for k, v in FAST.items()})
        env["CONVEYOR_DATABASE_URL"] = database_url or settings.database_url
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "conveyor", "worker", "--app", "tests.tasks:app", "--queues", queues,
             "--concurrency", str(concurrency)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def spawn_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    procs: list[WorkerProcess] = []

    def spawn(queues: str = "high,default,low", concurrency: int = 4, *, fast: bool = True,
              prefix: tuple[str, ...] = (), database_url: str | None = None, **env: str) -> WorkerProcess:
        p = WorkerProcess(settings, queues, concurrency, tmp_path / f"worker-{len(procs)}.log", env, fast=fast,
                          prefix=prefix, database_url=database_url)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        p.stop()


def live_workers(app: Conveyor, queue: str = "default") -> int:
    return app.store.live_worker_count(queue, app.settings.liveness_timeout)[0]
