"""Fixtures: a real fake GitHub (uvicorn on 127.0.0.1, a free port) per test, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub


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
