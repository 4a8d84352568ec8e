"""The pieces together against the fake Jira: test connection, then the four steps' reads,
complete changelogs, transform with custom fields and metrics — and a re-transform from the
kept raw answers that makes no HTTP call."""

from __future__ import annotations

from collections.abc import Callable

from conveyor.etl.jira.client import ISSUE_SYSTEM_FIELDS, JiraClient
from conveyor.etl.jira.connection import check_connection
from conveyor.etl.jira.custom_fields import default_mapping, discover_custom_fields
from conveyor.etl.jira.metrics import WorkflowStep, default_status_mapping, metrics_from_histories
from conveyor.etl.jira.transform import changelog_rows, comment_rows, link_rows, work_item
from conveyor.etl.jira.transport import BasicAuth, Page
from conveyor.fakes.jira import FakeJira


def test_connection_check_in_plain_words(make_client: Callable[..., JiraClient], fake_jira: FakeJira) -> None:
    good = check_connection(make_client())
    assert good.ok and good.display_name == "ETL Bot" and good.time_zone == "Australia/Sydney"
    assert good.projects_visible == 3 and good.problem is None
    refused = check_connection(make_client(auth=BasicAuth(fake_jira.config.email, "stale-token")))
    assert not refused.ok and "refused the credentials (HTTP 401)" in (refused.problem or "")
    fake_jira.faults.forbidden(path="/rest/api/3/project/search")
    blind = check_connection(make_client())
    assert not blind.ok and blind.time_zone == "Australia/Sydney" and "HTTP 403" in (blind.problem or "")


def test_a_full_read_and_transform_of_the_site(client: JiraClient, fake_jira: FakeJira) -> None:
    raw: list[Page] = []  # what the raw table would keep, page by page
    raw.append(client.fields())
    projects = [p for page in client.project_pages() for p in page.items]
    raw.append(client.statuses())
    for project in projects:
        raw.extend(client.status_pages(project["id"]))
    jql = 'project in ("ALPHA", "BETA", "TEAM") ORDER BY updated ASC'
    discovery = discover_custom_fields(raw[0].items)
    fields = [*ISSUE_SYSTEM_FIELDS, *(f.id for f in discovery.custom_fields)]
    search = list(client.search_pages(jql, fields, page_size=25))
    issues = [i for page in search for i in page.items]
    topped_up: list[Page] = []
    changelogs = client.complete_changelogs(issues, topped_up)
    expected = client.approximate_count(jql)
    calls = client.stats.api_calls
    assert len(issues) == expected == 60
    assert calls == 1 + 1 + 1 + 3 + 3 + 1 + 1  # field, projects, status, 3x statuses, 3 search pages, bulk, count

    def transform(step_of: dict) -> dict:
        mapping = default_mapping(discover_custom_fields(raw[0].items))
        return {i["key"]: work_item(i, changelogs[i["id"]], mapping, step_of) for i in issues}

    statuses = raw[1].items
    items = transform(default_status_mapping(statuses))
    data = fake_jira.dataset
    for key, item in items.items():
        source = data.find(key)
        assert item.history_count == len(source.histories) and item.status_external_id == source.status_id
        direct = metrics_from_histories(source.created, [
            {"id": h.id, "created": h.created.isoformat(), "items": h.items} for h in source.histories],
            source.status_id, default_status_mapping(statuses))
        assert item.metrics == direct  # the trip through HTTP, 40-cap and bulkfetch changed nothing
    assert items["TEAM-1"].project_key == "TEAM" and items["ALPHA-1"].description.startswith("Generated issue")
    team_points = {k: i.story_points for k, i in items.items() if k.startswith("TEAM")}
    assert any(p is not None for p in team_points.values())  # from the team-managed "Story point estimate"
    long_key = data.long_changelog_key
    rows = changelog_rows(items[long_key].external_id, changelogs[items[long_key].external_id])
    assert len(rows) == 220 and rows[0].created <= rows[-1].created
    links = [row for i in issues for row in link_rows(i)]
    assert links and {row.direction for row in links} == {"outward", "inward"}
    comments = comment_rows(issues[0]["id"], client.complete_comments(issues[0]))
    assert all(c.body.startswith("Comment ") for c in comments)

    # A mapping change (the team's own "In Review" counted as work) re-transforms from the kept
    # raw answers: zero HTTP calls.
    assert {r.path for r in fake_jira.requests()} & {"/rest/api/3/search", "/rest/api/2/search"} == set()
    fake_jira.clear_requests()
    team_review = next(s["id"] for s in statuses if s["name"] == "In Review" and "scope" in s)
    override = {**default_status_mapping(statuses), team_review: WorkflowStep.IN_PROGRESS}
    again = transform(override)
    assert fake_jira.requests() == []
    changed = [k for k in items if again[k].metrics != items[k].metrics]
    assert changed and all(k.startswith("TEAM-") for k in changed)
