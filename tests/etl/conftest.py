"""Fixtures for the Jira ETL tests: a fake Jira over real HTTP, and clients of it whose sleeps
and clock are recorded instead of spent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.transport import BasicAuth, JiraClientSettings
from conveyor.fakes.jira import FakeJira, FakeJiraConfig

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class FakeTime:
    """A clock that moves only when the client sleeps."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def clock(self) -> datetime:
        return self.now


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    with FakeJira(seed=7, issues=60) as jira:
        yield jira


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_jira: FakeJira, fake_time: FakeTime) -> Iterator[Callable[..., JiraClient]]:
    clients: list[JiraClient] = []

    def make(jira: FakeJira | None = None, auth: Any = None, **settings: Any) -> JiraClient:
        jira = jira or fake_jira
        cfg: FakeJiraConfig = jira.config
        client = JiraClient(jira.url, auth or BasicAuth(cfg.email, cfg.api_token), JiraClientSettings(**settings),
                            sleep=fake_time.sleep, clock=fake_time.clock)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., JiraClient]) -> JiraClient:
    return make_client()
