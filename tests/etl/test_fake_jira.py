"""The fake Jira itself: a deterministic dataset, Jira Cloud's shapes and limits, its controls."""

from __future__ import annotations

import re

import httpx
import pytest

from conveyor.etl.jira.changelog import status_changes
from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.metrics import default_status_mapping, metrics_from_histories
from conveyor.fakes.jira import FakeJira, JiraDataset
from conveyor.fakes.jira.server import API_ROUTES


def api(jira: FakeJira) -> httpx.Client:
    return httpx.Client(base_url=jira.url, auth=(jira.config.email, jira.config.api_token))


def test_the_dataset_is_a_function_of_seed_and_size() -> None:
    a, b = JiraDataset.generate(seed=11, issues=80), JiraDataset.generate(seed=11, issues=80)
    assert a.fingerprint() == b.fingerprint()
    assert JiraDataset.generate(seed=12, issues=80).fingerprint() != a.fingerprint()
    assert JiraDataset.generate(seed=11, issues=81).fingerprint() != a.fingerprint()
    with pytest.raises(ValueError, match="bad dataset size"):
        JiraDataset.generate(issues=-1)


def test_equal_seeds_serve_equal_answers() -> None:
    bodies = []
    for _ in range(2):
        with FakeJira(seed=5, issues=40) as jira, api(jira) as http:
            answer = http.post("/rest/api/3/search/jql", json={
                "jql": 'project in (ALPHA, BETA, TEAM) ORDER BY key ASC', "fields": ["*all"], "expand": "changelog",
                "maxResults": 100}).text
            bodies.append(answer.replace(jira.url, "http://fake"))
    assert bodies[0] == bodies[1] and len(bodies[0]) > 50_000


def test_the_dataset_looks_like_a_real_site() -> None:
    data = JiraDataset.generate(seed=7, issues=300)
    team = next(p for p in data.projects if p.team_managed)
    team_statuses = data.project_statuses(team)
    global_names = {s.name for s in data.statuses if s.project_id is None}
    assert {s.name for s in team_statuses} <= global_names  # same names ...
    assert not {s.id for s in team_statuses} & {s.id for s in data.statuses if s.project_id is None}  # ... other ids
    lengths = sorted(len(i.histories) for i in data.issues.values())
    assert lengths[-1] == 220 and len(data.issues[data.by_key[data.long_changelog_key]].histories) == 220
    assert sum(n > 100 for n in lengths) >= 3 and lengths[0] == 0
    mapping = default_status_mapping(
        [{"id": s.id, "name": s.name, "statusCategory": {"key": s.category}} for s in data.statuses])
    seen = {"reopen": 0, "backlog_return": 0, "wont_do": 0, "created_in_progress": 0}
    for issue in data.issues.values():
        histories = [{"id": h.id, "created": h.created.isoformat(), "items": h.items} for h in issue.histories]
        changes = status_changes(histories)
        current = changes[0].from_id if changes else issue.status_id
        for change in changes:  # an unbroken chain of status ids, ending in the current status
            assert change.from_id == current
            current = change.to_id
        assert current == issue.status_id
        m = metrics_from_histories(issue.created, histories, issue.status_id, mapping)
        seen["reopen"] += m.rework_indicator and m.total_completions > 1
        seen["backlog_return"] += m.total_backlog_returns > 0
        seen["wont_do"] += issue.status_id == "10004"
        seen["created_in_progress"] += m.work_first_started_at == issue.created
    assert all(seen.values()), seen


def test_search_follows_jira_clouds_rules(fake_jira: FakeJira) -> None:
    with api(fake_jira) as http:
        first = http.post("/rest/api/3/search/jql", json={"jql": "project = ALPHA"}).json()
        assert set(first["issues"][0]) == {"expand", "id", "self", "key"}  # default fields: id only
        capped = http.post("/rest/api/3/search/jql", json={"jql": "project = ALPHA", "fields": ["summary"],
                                                           "maxResults": 500}).json()
        assert len(capped["issues"]) == 20 and capped["isLast"] is True and "nextPageToken" not in capped
        ids = http.post("/rest/api/3/search/jql", json={"jql": "project in (ALPHA, BETA, TEAM)", "fields": ["id"],
                                                        "maxResults": 5000}).json()
        assert len(ids["issues"]) == 60
        paged = http.get("/rest/api/3/search/jql", params={"jql": "project = BETA ORDER BY key DESC",
                                                           "fields": "summary", "maxResults": 3}).json()
        assert [i["key"] for i in paged["issues"]] == ["BETA-20", "BETA-19", "BETA-18"] and paged["nextPageToken"]
        bad = http.post("/rest/api/3/search/jql", json={"jql": "project = BETA", "nextPageToken": "garbage"})
        assert bad.status_code == 400 and bad.json() == {
            "errorMessages": ["The provided next page token is invalid or expired."], "errors": {}}
        for jql, message in [("project = A OR project = B", "OR is not supported"),
                             ('updated >= "yesterday"', "Date value 'yesterday'"),
                             ("ORDER BY key", "Unbounded JQL")]:
            answer = http.post("/rest/api/3/search/jql", json={"jql": jql})
            assert answer.status_code == 400 and message in answer.json()["errorMessages"][0]
        count = http.post("/rest/api/3/search/approximate-count", json={"jql": 'status = "Done" AND project = ALPHA'})
        done = [i for i in fake_jira.dataset.issues.values() if i.key.startswith("ALPHA-") and i.status_id == "10003"]
        assert count.json() == {"count": len(done)}


def test_changelog_endpoints(fake_jira: FakeJira) -> None:
    key = fake_jira.dataset.long_changelog_key
    issue = fake_jira.dataset.find(key)
    with api(fake_jira) as http:
        page = http.get(f"/rest/api/3/issue/{key}/changelog", params={"startAt": 200}).json()
        assert page["total"] == 220 and len(page["values"]) == 20 and page["isLast"] is True
        assert [v["id"] for v in page["values"]] == [str(h.id) for h in issue.histories[200:]]
        bulk = http.post("/rest/api/3/changelog/bulkfetch", json={"issueIdsOrKeys": [key], "fieldIds": ["status"]})
        histories = bulk.json()["issueChangeLogs"][0]["changeHistories"]
        assert all(isinstance(h["created"], int) for h in histories)
        assert [h["created"] for h in histories] == sorted(h["created"] for h in histories)
        assert {it["fieldId"] for h in histories for it in h["items"]} == {"status"}
        assert len(histories) == sum(1 for h in issue.histories if h.items[0]["fieldId"] == "status")
        too_many = http.post("/rest/api/3/changelog/bulkfetch", json={"issueIdsOrKeys": [str(i) for i in range(1001)]})
        assert too_many.status_code == 400
        inline = http.get(f"/rest/api/3/issue/{issue.id}", params={"expand": "changelog", "fields": "status"}).json()
        assert inline["changelog"]["total"] == 220 and len(inline["changelog"]["histories"]) == 40
        assert inline["changelog"]["histories"][0]["id"] == str(issue.histories[-1].id)  # newest first
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", inline["changelog"]["histories"][0]["created"])


def test_every_api_route_wants_credentials(fake_jira: FakeJira) -> None:
    with httpx.Client(base_url=fake_jira.url, headers={"Authorization": "Basic eDp5"}) as http:
        answers = [(method, path, http.request(method, path.replace("{id_or_key}", "ALPHA-1")))
                   for path, _, methods in API_ROUTES for method in methods]
    for method, path, answer in answers:
        assert answer.status_code == 401, (method, path)
        assert answer.json()["errorMessages"] == ["Client must be authenticated to access this resource."]
    assert {r.auth for r in fake_jira.requests()} == {"basic"}


def test_controls_over_http(fake_jira: FakeJira, client: JiraClient) -> None:
    with httpx.Client(base_url=fake_jira.url) as control:
        fault = control.post("/_fake/faults", json={"kind": "rate_limit", "remaining": 1, "retry_after": 7})
        assert fault.json()[0]["retry_after"] == 7
        with api(fake_jira) as http:
            throttled = http.get("/rest/api/3/myself")
            assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
            assert throttled.headers["ratelimit-reason"] == "jira-burst-based"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", throttled.headers["x-ratelimit-reset"])
            assert http.get("/rest/api/3/myself").status_code == 200
        assert control.post("/_fake/faults", json={"kind": "meteor"}).status_code == 400
        edited = control.post("/_fake/issues/ALPHA-1", json={"status": "Done"}).json()
        added = control.post("/_fake/projects/TEAM/issues", json={"summary": "new"})
        assert added.status_code == 201 and added.json()["key"] == "TEAM-21"
        assert control.delete("/_fake/issues/ALPHA-2").json() == {"deleted": "ALPHA-2"}
        assert control.post("/_fake/issues/ALPHA-2", json={}).status_code == 404
        logged = control.get("/_fake/requests").json()
        assert [(r["path"], r["status"]) for r in logged] == [("/rest/api/3/myself", 429), ("/rest/api/3/myself", 200)]
    assert fake_jira.dataset.find(edited["key"]).status_id == "10003"
