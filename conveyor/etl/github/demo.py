"""The demo tenant's GitHub part: a fake GitHub next to `conveyor up`, a 'github' integration of
the demo tenant pointing at it, and a first sync.

Wiring (conveyor/demo.py and the `up` command call these three):

    register_github_pipeline(app)                    # at import (workers must serve its two queues)
    fake = start_demo_github()                       # in the server process, before the workers sync
    sync_github_demo(app, fake)                      # once a worker is live: integration + its ETL job run now
    demo_activity(fake); sync_github_demo(app, fake) # later, e.g. every few minutes: an incremental run

(seed_github_demo starts the pipeline directly, for tests that own the integration.)

The fake serves on 127.0.0.1 only; its port changes per start, so the integration's base URL is
updated each time. The token is the fake's own (encrypted like any other).
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING

from conveyor.errors import ConveyorError
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.integrations import Integration, IntegrationNotFoundError
from conveyor.integrations.wiring import integrations_for, sync_now

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.pipelines import PipelineRun

log = logging.getLogger("conveyor.demo")
DEMO_TENANT = "demo"
DEMO_INTEGRATION = "Demo GitHub (local fake)"
DEMO_SPEC = DatasetSpec(owner="acme", repositories=4, pull_requests_per_repository=40, huge_pull_requests=2,
                        huge_commits=150, huge_reviews=110, huge_comments=120, huge_threads=30, huge_thread_comments=40)


def start_demo_github(spec: DatasetSpec = DEMO_SPEC, port: int = 0) -> FakeGitHub:
    """The fake GitHub, started (stop it with .stop())."""
    return FakeGitHub(spec).start(port)


def demo_integration(app: Conveyor, fake: FakeGitHub, tenant: str = DEMO_TENANT) -> Integration:
    """The demo tenant's 'github' integration, created (with its ETL job) or pointed at this fake."""
    service = integrations_for(app)
    found = [i for i in service.list(tenant, "github") if i.name == DEMO_INTEGRATION]
    if not found:
        return service.create(tenant=tenant, type="github", name=DEMO_INTEGRATION, base_url=fake.graphql_url,
                              credentials={"token": fake.token},
                              settings={"owner": fake.dataset.spec.owner, "repositories": []})
    try:
        return service.update(found[0].id, tenant, base_url=fake.graphql_url, credentials={"token": fake.token})
    except IntegrationNotFoundError:  # deleted meanwhile: make it again
        return demo_integration(app, fake, tenant)


def demo_activity(fake: FakeGitHub, rng: random.Random | None = None) -> str:
    """Someone comments on (and so updates) a random pull request of the fake, merged ones too, so
    the next incremental sync has something to pick up. Returns "owner/name#number"."""
    rng = rng or random.Random()
    repo = rng.choice([r for r in fake.dataset.repositories if fake.dataset.pull_requests.get(r["index"])])
    pr = rng.choice(fake.dataset.pull_requests[repo["index"]])
    fake.dataset.edit_pull_request(repo["nameWithOwner"], pr["number"], add_comments=1)
    return f"{repo['nameWithOwner']}#{pr['number']}"


def seed_github_demo(app: Conveyor, fake: FakeGitHub, pipeline: str = "github",
                     tenant: str = DEMO_TENANT) -> PipelineRun:
    """Creates (or refreshes) the demo integration and starts a sync of it."""
    integration = demo_integration(app, fake, tenant)
    return app.pipelines[pipeline].start({"integration_id": integration.id}, tenant=tenant)


def sync_github_demo(app: Conveyor, fake: FakeGitHub, tenant: str = DEMO_TENANT) -> str:
    """Creates (or refreshes) the demo integration and runs its ETL job now; returns the run id."""
    return sync_now(app, demo_integration(app, fake, tenant))


def run_demo_github(app: Conveyor, stop: threading.Event, *, every: float = 180.0) -> None:
    """Serve the fake GitHub and sync it until `stop` is set (a `conveyor up` thread): a full sync
    at start, then, every `every` seconds, a little activity on the fake and an incremental sync."""
    fake = start_demo_github()
    try:
        rng = random.Random(11)
        while not stop.is_set():
            try:
                run_id = sync_github_demo(app, fake)  # through its ETL job: never beside the job's own run
                log.info("demo GitHub sync started on %s: run %s", fake.graphql_url, run_id)
            except ConveyorError as exc:  # already running, or every worker stopped from the dashboard
                log.info("demo GitHub sync not started: %s", exc.message)
            if stop.wait(every):
                return
            demo_activity(fake, rng)
    finally:
        fake.stop()
