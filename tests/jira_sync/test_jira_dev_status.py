"""Step 4 against the fake Jira: pull requests that disappear from an issue's dev-status are
removed on the next sync, and dev-status links reach `work_items_prs_links`, so a work item
shows the GitHub PRs linked by dev-status beside those that name its key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import shared_engine, upsert
from conveyor.etl.github.tables import work_items_prs_links
from conveyor.etl.jira.tables import work_item_pull_requests
from conveyor.etl.jira.work_items import get_work_item
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import Integration
from tests.jira_sync.conftest import QUEUES, run_sync

L = work_items_prs_links.c


def _stored(app: Conveyor, key: str) -> tuple[set[str], set[tuple[str, int]]]:
    """(dev-status PR ids in work_item_pull_requests, (repository, number) of dev_status links)."""
    engine = shared_engine(app.settings.database_url)
    item = get_work_item(engine, key, "acme")
    assert item is not None
    with engine.connect() as conn:
        links = conn.execute(select(L.repository, L.number).where(L.tenant == "acme", L.work_item_key == key,
                                                                  L.source == "dev_status")).all()
    return {p["pr_id"] for p in item["pull_requests"]}, {(r.repository, r.number) for r in links}


def _expected(prs: list[dict[str, Any]]) -> tuple[set[str], set[tuple[str, int]]]:
    return {f"#{pr['number']}" for pr in prs}, {(pr["repository"], pr["number"]) for pr in prs}


def test_dev_status_links_follow_jira_and_vanished_prs_are_removed(app: Conveyor, start_worker: Any,
                                                                     jira_site: FakeJira,
                                                                     integration: Integration) -> None:
    start_worker(queues=QUEUES.split(","), concurrency=4)
    assert (first := run_sync(app, integration)).state == "FINISHED", first.error
    with_prs = sorted((i for i in jira_site.dataset.live_issues() if len(i.pull_requests) >= 2), key=lambda i: i.id)
    assert len(with_prs) >= 2
    shrinking, emptied = with_prs[0], with_prs[1]
    for issue in (shrinking, emptied):
        assert _stored(app, issue.key) == _expected(issue.pull_requests)
    # A PR that names the key in its title (the GitHub ETL's link) is shown beside dev-status's.
    with shared_engine(app.settings.database_url).begin() as conn:
        upsert(conn, work_items_prs_links, [{"tenant": "acme", "work_item_key": emptied.key, "repository": "acme/web",
                                             "number": 9001, "source": "title", "pull_request_id": None,
                                             "linked_at": datetime.now(UTC)}],
               keys=["tenant", "work_item_key", "repository", "number", "source"])

    kept = shrinking.pull_requests[:1]
    jira_site.dataset.set_pull_requests(shrinking.key, kept)
    jira_site.dataset.set_pull_requests(emptied.key, [])
    jira_site.clear_requests()
    assert (second := run_sync(app, integration)).state == "FINISHED", second.error

    assert _stored(app, shrinking.key) == _expected(kept)
    assert _stored(app, emptied.key) == (set(), set())
    # dev-status was asked about the emptied issue (its Development field shows none now), with its numeric id
    asked = {r.params.get("issueId") for r in jira_site.requests(path="/rest/dev-status/1.0/issue/summary")}
    assert str(emptied.id) in asked
    item = get_work_item(shared_engine(app.settings.database_url), emptied.key, "acme")
    assert item is not None and [(x["repository"], x["number"], x["source"]) for x in item["linked_pull_requests"]] \
        == [("acme/web", 9001, "title")]
    shrunk = get_work_item(shared_engine(app.settings.database_url), shrinking.key, "acme")
    assert shrunk is not None and {(x["repository"], x["number"]) for x in shrunk["linked_pull_requests"]} \
        == _expected(kept)[1]
    # A third sync asks dev-status about neither again: nothing changed.
    jira_site.clear_requests()
    assert (third := run_sync(app, integration)).state == "FINISHED", third.error
    asked = {r.params.get("issueId") for r in jira_site.requests(path="/rest/dev-status/1.0/issue/summary")}
    assert not asked & {str(shrinking.id), str(emptied.id)}
    with shared_engine(app.settings.database_url).connect() as conn:
        assert conn.execute(select(work_item_pull_requests.c.pr_id).where(
            work_item_pull_requests.c.issue_external_id == str(emptied.id))).all() == []
