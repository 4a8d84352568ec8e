"""Jira pipeline fixtures: a Fernet key, a fake Jira site over real HTTP, and its integration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.jira.pipeline import start_sync
from conveyor.etl.jira.tables import work_items
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration, Integrations
from tests.conftest import wait_for

QUEUES = "extraction,transform"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def jira_site() -> Iterator[FakeJira]:
    with FakeJira(seed=11, issues=120) as jira:
        yield jira


@pytest.fixture
def integration(app: Conveyor, jira_site: FakeJira) -> Integration:
    return Integrations(app.settings.database_url).create(
        tenant="acme", type="jira", name="acme jira", base_url=jira_site.url,
        credentials={"email": jira_site.config.email, "api_token": jira_site.config.api_token},
        settings={"max_sleep_seconds": 0.5, "max_total_sleep_seconds": 1.0, "max_retries": 1, "search_page_size": 25})


def run_sync(app: Conveyor, integration: Integration, timeout: float = 120, **options: Any) -> Any:
    run = start_sync(app, integration.id, tenant=integration.tenant, **options)
    return wait_for(lambda: (r := app.get_run(run.id)) and r.finished and r, timeout, interval=0.1,
                    message=f"jira run {run.id} to end")


def count(app: Conveyor, *where: Any) -> int:
    with shared_engine(app.settings.database_url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(work_items).where(*where)).scalar_one())


def live_issue_count(jira: FakeJira) -> int:
    return len(jira.dataset.issues)


SyncRunner = Callable[..., Any]
