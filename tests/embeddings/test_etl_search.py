"""The embedding stage of the Jira and GitHub steps, with real worker processes against the fake
Jira and the fake GitHub and the real model: after a sync, search finds a work item and a pull
request by paraphrase, a tenant never sees another's, and a second sync with nothing changed
writes nothing to the bridge table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.bridge_table import qdrant_vectors
from conveyor.etl.embeddings.search import search
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.jira.pipeline import start_sync
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration, Integrations
from conveyor.settings import Settings
from tests import etl_search_app
from tests.conftest import FAST, ROOT, wait_for

ISSUE = "Checkout page crashes when a customer pays with an expired credit card"
ISSUE_QUERY = "paying with an out-of-date card breaks the checkout"
PR_TITLE = "Retry webhook deliveries with exponential backoff when the receiver times out"
PR_QUERY = "resend failed webhooks later, waiting longer between tries"
GLOBEX_ISSUE = "Warehouse barcode scanner drops every third pallet label"


class Worker:
    """`conveyor worker --app tests.etl_search_app:app` as a real OS process."""

    def __init__(self, settings: Settings, queues: str, log_path: Path, env: dict[str, str]) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env, "CONVEYOR_DATABASE_URL": settings.database_url}
        full_env.update({f"CONVEYOR_{k.upper()}": str(v) for k, v in FAST.items()})
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "worker", "--app", "tests.etl_search_app:app", "--queues", queues,
             "--concurrency", "4"], env=full_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def search_app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conveyor]:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())  # workers inherit it
    bound = etl_search_app.app
    bound.close()
    bound.settings = settings
    bound.migrate()
    with shared_engine(settings.database_url).begin() as conn:
        conn.execute(qdrant_vectors.delete())
    yield bound
    bound.close()


@pytest.fixture
def workers(search_app: Conveyor, settings: Settings, tmp_path: Path, minilm: Any,
            model_cache: Path) -> Iterator[Callable[[], None]]:
    procs: list[Worker] = []

    def start() -> None:
        env = {"CONVEYOR_VECTOR_DIR": str(tmp_path / "vectors"), "CONVEYOR_MODEL_CACHE": str(model_cache),
               "CONVEYOR_EMBEDDER": "onnx", "HF_HUB_OFFLINE": "1"}
        procs.append(Worker(settings, etl_search_app.ETL_QUEUES, tmp_path / "etl.log", env))
        procs.append(Worker(settings, etl_search_app.EMBEDDING_QUEUES, tmp_path / "embedding.log", env))
        wait_for(lambda: all(search_app.store.live_worker_count(q, 30)[0] for q in ("transform", "embedding")),
                 timeout=60, message="workers up")

    yield start
    for p in procs:
        p.stop()


def jira_integration(app: Conveyor, tenant: str, jira: FakeJira) -> Integration:
    return Integrations(app.settings.database_url).create(
        tenant=tenant, type="jira", name=f"{tenant} jira", base_url=jira.url,
        credentials={"email": jira.config.email, "api_token": jira.config.api_token},
        settings={"max_sleep_seconds": 0.5, "max_total_sleep_seconds": 1.0, "max_retries": 1})


def finished(app: Conveyor, run_id: str) -> Any:
    run = wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout=240, interval=0.2,
                   message=f"run {run_id} to end")
    assert run.state == "FINISHED", run.error
    return run


def embedding_cells(run: Any) -> dict[str, dict[str, Any]]:
    return {step: cell["stages"]["embedding"] for step, cell in run.status["steps"].items()}


def bridge(app: Conveyor) -> list[tuple[Any, ...]]:
    with shared_engine(app.settings.database_url).connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(qdrant_vectors)))


def test_search_finds_synced_work_items_and_pull_requests(search_app: Conveyor, workers: Callable[[], None]) -> None:
    spec = DatasetSpec(owner="acme", repositories=2, pull_requests_per_repository=6, huge_pull_requests=0)
    with FakeJira(seed=5, issues=24) as acme_jira, FakeJira(seed=9, issues=8) as globex_jira, \
            FakeGitHub(spec) as gh:
        acme_jira.dataset.add_issue("ALPHA", ISSUE)
        globex_jira.dataset.add_issue(globex_jira.dataset.projects[0].key, GLOBEX_ISSUE)
        repo = gh.dataset.repositories[0]
        pr = gh.dataset.pull_requests[repo["index"]][0]
        gh.dataset.edit_pull_request(repo["nameWithOwner"], pr["number"], title=PR_TITLE,
                                     body="Deliveries that time out are queued again.")
        acme, globex = jira_integration(search_app, "acme", acme_jira), jira_integration(search_app, "globex",
                                                                                          globex_jira)
        # Made without an ETL job (integrations_for would add one, and its scheduled runs would race ours).
        github = Integrations(search_app.settings.database_url).create(
            tenant="acme", type="github", name="acme github", base_url=gh.graphql_url,
            credentials={"token": gh.token}, settings={"owner": "acme", "repositories": []})
        workers()

        runs = [finished(search_app, start_sync(search_app, acme.id, tenant="acme", full=True).id),
                finished(search_app, start_sync(search_app, globex.id, tenant="globex", full=True).id),
                finished(search_app, search_app.pipelines["github"].start({"integration_id": github.id},
                                                                         tenant="acme").id)]
        # The stage shows in each step's status like any stage, with its counts.
        jira_cells, github_cells = embedding_cells(runs[0]), embedding_cells(runs[2])
        assert set(jira_cells) == {"jira_projects_and_issue_types", "jira_statuses_and_relationships",
                                   "jira_issues_with_changelogs", "jira_dev_status"}
        assert jira_cells["jira_issues_with_changelogs"]["done"] >= 1
        assert all(c["failed"] == 0 for c in [*jira_cells.values(), *github_cells.values()])
        assert github_cells["github_prs_with_nested"]["done"] >= 1 and github_cells["github_repositories"]["done"] >= 1, \
            json.dumps(runs[2].status)
        rows = bridge(search_app)
        v = qdrant_vectors.c
        with shared_engine(search_app.settings.database_url).connect() as conn:
            tables = {tuple(r) for r in conn.execute(select(v.tenant, v.source_type, v.table_name).distinct())}
        assert tables == {("acme", "JIRA", "work_items"), ("acme", "JIRA", "projects"),
                          ("acme", "GITHUB", "pull_requests"), ("acme", "GITHUB", "repositories"),
                          ("globex", "JIRA", "work_items"), ("globex", "JIRA", "projects")}

        hit = search(search_app, ISSUE_QUERY, tenant="acme", limit=5)[0]
        assert hit["title"].endswith(ISSUE) and hit["source_type"] == "JIRA" and hit["project"] == "ALPHA"
        assert hit["external_id"].startswith(f"{acme.id}:") and hit["url"].startswith(f"{acme_jira.url}/browse/ALPHA-")
        hit = search(search_app, PR_QUERY, tenant="acme", limit=5)[0]
        assert hit["title"] == f"{repo['nameWithOwner']}#{pr['number']} {PR_TITLE}" and hit["source_type"] == "GITHUB"
        assert hit["project"] == repo["nameWithOwner"] and hit["url"] == pr["url"]
        only_jira = search(search_app, PR_QUERY, tenant="acme", source_type="JIRA", limit=5)
        assert only_jira and all(h["source_type"] == "JIRA" for h in only_jira)

        # Tenants: globex finds its own issue, never acme's; acme never finds globex's.
        globex_hits = search(search_app, PR_QUERY, tenant="globex", limit=20)
        assert globex_hits and all(h["external_id"].startswith(f"{globex.id}:") for h in globex_hits)
        assert search(search_app, "barcode scanner loses pallet labels", tenant="globex")[0]["title"].endswith(
            GLOBEX_ISSUE)
        acme_hits = search(search_app, "barcode scanner loses pallet labels", tenant="acme", limit=50)
        assert not any(h["external_id"].startswith(f"{globex.id}:") for h in acme_hits)

        # Nothing changed at either site: the second syncs write nothing to the bridge.
        again = [finished(search_app, start_sync(search_app, acme.id, tenant="acme").id),
                 finished(search_app, search_app.pipelines["github"].start({"integration_id": github.id},
                                                                          tenant="acme").id)]
        assert bridge(search_app) == rows
        results = [search_app.get_job(j).result for run in again for j in embedding_job_ids(search_app, run.id)]
        assert all(r["points_written"] == 0 and r["points_deleted"] == 0 and r["embedded"] == 0 for r in results)


def embedding_job_ids(app: Conveyor, run_id: str) -> list[str]:
    from conveyor.store.pipelines_common import pipeline_sql

    return [j[0] for j in pipeline_sql(app.store).job_ids(run_id, ("completed",)) if j[2] == "embedding"]

