"""The demo tenant's Jira under `conveyor up`: the project's fake Jira on a free local port, an
integration of tenant "demo" pointing at it, and syncs through the real Jira pipeline — a full
one at start, then an incremental one every few minutes after the fake has changed some issues."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from conveyor.app import Conveyor
from conveyor.errors import ConveyorError
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration, IntegrationConflictError
from conveyor.integrations.wiring import integrations_for, sync_now

log = logging.getLogger("conveyor.demo")
TENANT, NAME = "demo", "Demo Jira (fake)"


def demo_integration(app: Conveyor, jira: FakeJira) -> Integration:
    """The demo integration, created once and pointed at this start's fake (its port changes)."""
    service = integrations_for(app)
    credentials = {"email": jira.config.email, "api_token": jira.config.api_token}
    found = [i for i in service.list(TENANT, "jira") if i.name == NAME]
    if found:
        return service.update(found[0].id, TENANT, base_url=jira.url, credentials=credentials, active=True)
    try:
        return service.create(tenant=TENANT, type="jira", name=NAME, base_url=jira.url, credentials=credentials,
                              settings={"overlap_minutes": 5})
    except IntegrationConflictError:  # created meanwhile by another start
        return [i for i in service.list(TENANT, "jira") if i.name == NAME][0]


def run_demo_jira(app: Conveyor, stop: threading.Event, *, issues: int = 400, every: float = 180.0) -> None:
    """Serve the fake Jira and sync it until `stop` is set (the `conveyor up` thread)."""
    with FakeJira(seed=2026, issues=issues) as jira:
        integration = demo_integration(app, jira)
        log.info("demo Jira on %s; tenant %r syncs it (integration %s)", jira.url, TENANT, integration.id)
        rng = random.Random(7)
        while not stop.is_set():
            try:  # through its ETL job, so never beside the job's own run
                log.info("demo Jira sync started: run %s", sync_now(app, integration))
            except ConveyorError as exc:  # already running, or every worker stopped from the dashboard
                log.info("demo Jira sync not started: %s", exc.message)
            if stop.wait(every):
                return
            _change_some_issues(jira, rng)


def _change_some_issues(jira: FakeJira, rng: random.Random) -> None:
    """A little life in the fake site, so incremental syncs have something to pick up."""
    keys: list[Any] = sorted(i.key for i in jira.dataset.issues.values())
    for key in rng.sample(keys, min(5, len(keys))):
        jira.dataset.edit_issue(key, summary=f"{key} edited at the demo site")
    jira.dataset.add_issue(rng.choice(["ALPHA", "BETA", "TEAM"]), "A new issue in the demo site")
