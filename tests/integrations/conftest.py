"""Integration fixtures: a Fernet key for the test's process, and a fake Jira over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from conveyor.fakes.jira import FakeJira
from tests.api.conftest import api_server, client, make_key, server  # noqa: F401 - fixtures reused


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", key)
    return key


@pytest.fixture
def admin_key(make_key):  # type: ignore[no-untyped-def]  # noqa: F811
    return make_key("*", "admin", "test admin")


@pytest.fixture(scope="module")
def fake_jira() -> Iterator[FakeJira]:
    with FakeJira(seed=7, issues=20) as jira:
        yield jira
