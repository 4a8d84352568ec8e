"""Fixtures: a real fake GitHub (uvicorn on 127.0.0.1, a free port) per test, and a client for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.settings import Settings
from tests.conftest import FAST, ROOT
from tests.etl_github import github_app


class Clock:
    """A settable clock for the fake's rate-limit windows and the client's park decisions."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github(clock: Clock) -> Iterator[FakeGitHub]:
    with FakeGitHub(DatasetSpec(repositories=4), clock=clock) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(github: FakeGitHub, clock: Clock, sleeps: list[float]) -> Iterator[GitHubClient]:
    with GitHubClient(github.token, github.graphql_url, clock=clock, sleep=sleeps.append) as c:
        yield c


def post(github: FakeGitHub, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or github.token}"}
    return httpx.post(github.graphql_url, json={"query": query, "variables": variables or {}}, headers=headers, timeout=30)


# ---- the GitHub pipeline with real worker processes ---------------------------------------------------
@pytest.fixture
def gh_app(settings: Settings) -> Iterator[Conveyor]:
    """tests.etl_github.github_app's app, bound to this test's database (both engines)."""
    bound = github_app.app
    bound.close()
    bound.settings = settings
    bound.migrate()
    yield bound
    bound.close()


class GitHubWorker:
    """`conveyor worker --app tests.etl_github.github_app:app` as a real OS process."""

    def __init__(self, settings: Settings, queues: str, concurrency: int, log_path: Path, env: dict[str, str]) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env, "CONVEYOR_DATABASE_URL": settings.database_url}
        full_env.update({f"CONVEYOR_{k.upper()}": str(v) for k, v in FAST.items()})
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "worker", "--app", "tests.etl_github.github_app:app",
             "--queues", queues, "--concurrency", str(concurrency)],
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def spawn_github_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., GitHubWorker]]:
    procs: list[GitHubWorker] = []

    def spawn(token: str, queues: str = github_app.QUEUES, concurrency: int = 4, **env: str) -> GitHubWorker:
        p = GitHubWorker(settings, queues, concurrency, tmp_path / f"gh-worker-{len(procs)}.log",
                         {github_app.TOKEN_ENV: token, **env})
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        p.stop()
