"""The Jira client against the fake Jira over real HTTP: paging, complete changelogs, dev-status."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from conveyor.etl.jira.client import ISSUE_SYSTEM_FIELDS, JiraClient
from conveyor.etl.jira.errors import JiraRequestError
from conveyor.etl.jira.jql import issues_jql
from conveyor.fakes.jira import FakeJira

ALL_PROJECTS = ("ALPHA", "BETA", "TEAM")
OLD_SEARCH = ("/rest/api/3/search", "/rest/api/2/search")


def search_all(client: JiraClient, jql: str, **kwargs) -> list[dict]:
    return [issue for page in client.search_pages(jql, ISSUE_SYSTEM_FIELDS, **kwargs) for issue in page.items]


def assert_old_search_never_called(jira: FakeJira) -> None:
    assert [r for r in jira.requests() if r.path in OLD_SEARCH] == []


def test_projects_page_by_start_at_until_is_last(client: JiraClient, fake_jira: FakeJira) -> None:
    pages = list(client.project_pages(page_size=1))
    assert [p.next_cursor for p in pages] == [1, 2, None]
    assert [p.items[0]["key"] for p in pages] == ["ALPHA", "BETA", "TEAM"]
    sent = fake_jira.requests(path="/rest/api/3/project/search")
    assert [r.params["startAt"] for r in sent] == ["0", "1", "2"]
    assert all(r.params["expand"] == "issueTypes,description" for r in sent)
    team = pages[2].items[0]
    assert team["simplified"] is True and team["style"] == "next-gen"
    assert all(t["scope"] == {"type": "PROJECT", "project": {"id": team["id"]}} for t in team["issueTypes"])
    scoped = client.project_issue_types(team["id"])
    assert {t["name"] for t in scoped.items} == {"Story", "Bug", "Task", "Subtask", "Epic"}
    assert len(client.issue_types().items) == 10  # global and team-managed types together


def test_statuses_of_every_kind(client: JiraClient, fake_jira: FakeJira) -> None:
    team_id = "10002"
    pages = list(client.status_pages(team_id, page_size=3))
    assert [len(p.items) for p in pages] == [3, 1] and pages[-1].next_cursor is None
    team = [s for p in pages for s in p.items]
    assert {s["name"] for s in team} == {"To Do", "In Progress", "In Review", "Done"}
    assert all(s["scope"]["project"]["id"] == team_id for s in team)
    legacy = client.statuses().items
    same_named = [s for s in legacy if s["name"] == "In Progress"]
    assert len(same_named) == 2 and len({s["id"] for s in same_named}) == 2
    assert {s["statusCategory"]["key"] for s in legacy} == {"new", "indeterminate", "done"}
    every = [s for p in client.status_pages(page_size=4) for s in p.items]
    assert len(every) == len(legacy) == 10
    assert [c["key"] for c in client.status_categories().items] == ["new", "indeterminate", "done"]
    assert {t["name"] for t in client.issue_link_types().items} == {"Blocks", "Cloners", "Duplicate", "Relates"}


def test_search_pages_by_token_and_returns_every_issue_once(client: JiraClient, fake_jira: FakeJira) -> None:
    jql = issues_jql(ALL_PROJECTS, None, "UTC")
    pages = list(client.search_pages(jql, ISSUE_SYSTEM_FIELDS, page_size=7))
    assert len(pages) == 9 and pages[-1].next_cursor is None and len(pages[-1].items) == 4
    ids = [i["id"] for p in pages for i in p.items]
    assert sorted(ids) == sorted(str(i) for i in fake_jira.dataset.issues) and len(set(ids)) == 60
    updated = [i["fields"]["updated"] for p in pages for i in p.items]
    assert [i["fields"]["updated"] for p in pages for i in p.items] == updated
    sent = fake_jira.requests(path="/rest/api/3/search/jql")
    assert all(r.method == "POST" and r.body["fields"] == list(ISSUE_SYSTEM_FIELDS) for r in sent)
    assert "nextPageToken" not in sent[0].body
    assert [r.body["nextPageToken"] for r in sent[1:]] == [p.next_cursor for p in pages[:-1]]
    assert client.approximate_count(jql) == 60
    assert_old_search_never_called(fake_jira)


def test_the_retired_search_answers_410_and_the_client_refuses_it(client: JiraClient, fake_jira: FakeJira) -> None:
    cfg = fake_jira.config
    for path in OLD_SEARCH:
        answer = httpx.post(fake_jira.url + path, json={"jql": "project = ALPHA"}, auth=(cfg.email, cfg.api_token))
        assert answer.status_code == 410 and "search/jql" in answer.json()["errorMessages"][0]
    fake_jira.clear_requests()
    with pytest.raises(ValueError, match="retired"):
        client.call("POST", "/rest/api/3/search", body={"jql": "project = ALPHA"})
    assert fake_jira.requests() == []


def test_search_resumes_from_a_committed_token(client: JiraClient) -> None:
    jql = issues_jql(["ALPHA"], None, "UTC")
    first = next(iter(client.search_pages(jql, ["summary"], page_size=5)))
    rest = [i["id"] for p in client.search_pages(jql, ["summary"], page_size=5, start_token=first.next_cursor)
            for i in p.items]
    everything = [i["id"] for p in client.search_pages(jql, ["summary"], page_size=5) for i in p.items]
    assert [i["id"] for i in first.items] + rest == everything and len(everything) == 20


@pytest.mark.parametrize("fault", ["empty_page_with_token", "repeated_token"])
def test_search_stops_on_an_empty_page_or_a_repeated_token(client: JiraClient, fake_jira: FakeJira,
                                                           fault: str) -> None:
    jql = issues_jql(["ALPHA"], None, "UTC")
    pages = client.search_pages(jql, ["summary"], page_size=5)
    next(pages)
    getattr(fake_jira.faults, fault)(count=None)
    rest = list(pages)
    assert len(rest) == 1 and rest[0].next_cursor is None
    assert client.stats.paging_anomalies == 1
    assert len(fake_jira.requests(path="/rest/api/3/search/jql")) == 2


def test_search_without_fields_or_with_bad_jql_is_refused(client: JiraClient) -> None:
    with pytest.raises(ValueError, match="explicit list of fields"):
        client.search_pages("project = ALPHA", [])
    with pytest.raises(JiraRequestError, match="HTTP 400 .*Unbounded JQL"):
        list(client.search_pages("ORDER BY updated ASC", ["summary"]))
    with pytest.raises(JiraRequestError, match="Field 'sprintx' does not exist"):
        list(client.search_pages('sprintx = "1"', ["summary"]))


def test_an_issue_with_220_histories_comes_back_whole(make_client: Callable[..., JiraClient],
                                                     fake_jira: FakeJira) -> None:
    client = make_client(bulk_changelog_page_size=50)
    key = fake_jira.dataset.long_changelog_key
    issues = search_all(client, f'key = "{key}"')
    assert issues[0]["changelog"]["total"] == 220 and len(issues[0]["changelog"]["histories"]) == 40
    pages: list = []
    complete = client.complete_changelogs(issues, pages)
    histories = complete[issues[0]["id"]]
    expected = fake_jira.dataset.issues[int(issues[0]["id"])].histories
    assert [h["id"] for h in histories] == [str(h.id) for h in expected]  # all 220, oldest first
    assert len(fake_jira.requests(path="/rest/api/3/changelog/bulkfetch")) == 5 == len(pages)
    assert [r for r in fake_jira.requests() if r.path.endswith("/changelog")] == []
    # bulkfetch dates histories in epoch seconds: normalised to Jira's ISO form like the inline ones
    assert all(isinstance(h["created"], str) and h["created"].endswith("+0000") for h in histories[:5])


def test_changelogs_of_a_whole_search_are_completed_in_one_bulk_call(client: JiraClient,
                                                                     fake_jira: FakeJira) -> None:
    issues = search_all(client, issues_jql(ALL_PROJECTS, None, "UTC"))
    complete = client.complete_changelogs(issues)
    for issue_id, histories in complete.items():
        assert len(histories) == len(fake_jira.dataset.issues[int(issue_id)].histories)
    bulk = fake_jira.requests(path="/rest/api/3/changelog/bulkfetch")
    assert len(bulk) == 1 and len(bulk[0].body["issueIdsOrKeys"]) == 2  # only the two long ones


def test_changelog_falls_back_to_paging_per_issue_when_bulkfetch_fails(client: JiraClient,
                                                                      fake_jira: FakeJira) -> None:
    key = fake_jira.dataset.long_changelog_key
    issues = search_all(client, f'key = "{key}"')
    fake_jira.faults.server_error(count=None, status=404, path="/rest/api/3/changelog/bulkfetch")
    complete = client.complete_changelogs(issues)
    assert len(complete[issues[0]["id"]]) == 220
    paged = fake_jira.requests(path=f"/rest/api/3/issue/{issues[0]['id']}/changelog")
    assert [r.params["startAt"] for r in paged] == ["0", "100", "200"]
    # Remembered: the next completion goes straight to per-issue paging.
    fake_jira.clear_requests()
    client.complete_changelogs(issues)
    assert fake_jira.requests(path="/rest/api/3/changelog/bulkfetch") == []


def test_an_issue_without_an_inline_changelog_is_fetched_whole(client: JiraClient, fake_jira: FakeJira) -> None:
    issues = [i for p in client.search_pages('project = "TEAM"', ["summary"], expand_changelog=False)
              for i in p.items]
    complete = client.complete_changelogs(issues)
    assert {k: len(v) for k, v in complete.items()} == {
        str(i.id): len(i.histories) for i in fake_jira.dataset.issues.values() if i.key.startswith("TEAM-")}
    assert len(fake_jira.requests(path="/rest/api/3/changelog/bulkfetch")) == 1
    assert [r for r in fake_jira.requests() if r.path.endswith("/changelog")] == []


def test_comments_beyond_the_inline_twenty(make_client: Callable[..., JiraClient], fake_jira: FakeJira) -> None:
    client = make_client(comment_page_size=10)
    many = next(i for i in fake_jira.dataset.issues.values() if len(i.comments) > 20)
    issue = search_all(client, f'key = "{many.key}"')[0]
    assert len(issue["fields"]["comment"]["comments"]) == 20
    comments = client.complete_comments(issue)
    assert [c["id"] for c in comments] == [str(c.id) for c in many.comments]
    paged = fake_jira.requests(path=f"/rest/api/3/issue/{issue['id']}/comment")
    assert [r.params["startAt"] for r in paged] == ["0", "10", "20"]
    few = search_all(client, 'key = "ALPHA-2"')[0]
    fake_jira.clear_requests()
    assert len(client.complete_comments(few)) == few["fields"]["comment"]["total"]
    assert fake_jira.requests() == []


def test_dev_status_by_numeric_id(client: JiraClient, fake_jira: FakeJira) -> None:
    issue = next(i for i in fake_jira.dataset.issues.values() if i.pull_requests)
    summary = client.dev_status_summary(issue.id)
    overall = summary.body["summary"]["pullrequest"]["overall"]
    assert overall["count"] == len(issue.pull_requests)
    prs = client.dev_status_pull_requests(str(issue.id), "GitHub")
    assert len(prs.items) == len(issue.pull_requests)
    assert prs.request.params == {"issueId": str(issue.id), "applicationType": "GitHub", "dataType": "pullrequest"}
    fake_jira.clear_requests()
    with pytest.raises(ValueError, match="numeric issue id"):
        client.dev_status_summary(issue.key)
    assert fake_jira.requests() == []
    with pytest.raises(JiraRequestError, match="HTTP 400"):
        client.call("GET", "/rest/dev-status/1.0/issue/summary", {"issueId": issue.key})


def test_fields_and_a_deleted_issue(client: JiraClient, fake_jira: FakeJira) -> None:
    ids = {f["id"] for f in client.fields().items}
    assert {"summary", "customfield_10016", "customfield_10026", "customfield_10001"} <= ids
    deleted = fake_jira.dataset.find("ALPHA-3").id
    fake_jira.dataset.delete_issue("ALPHA-3")
    with pytest.raises(JiraRequestError, match="HTTP 404"):
        client.call("GET", "/rest/api/3/issue/ALPHA-3")
    # An issue deleted between the search and the top-up is not silently completed as empty.
    with pytest.raises(JiraRequestError, match=f"HTTP 404 to GET /rest/api/3/issue/{deleted}/changelog"):
        client.complete_changelogs([{"id": str(deleted), "changelog": {"total": 3, "histories": []}}])


def test_links_come_inline_from_both_sides(client: JiraClient, fake_jira: FakeJira) -> None:
    issues = {i["key"]: i for i in search_all(client, 'project in ("ALPHA", "BETA", "TEAM")')}
    pairs = set()
    for key, issue in issues.items():
        for link in issue["fields"]["issuelinks"]:
            other = link.get("outwardIssue") or link.get("inwardIssue")
            direction = "outwardIssue" if "outwardIssue" in link else "inwardIssue"
            mirror = [lk for lk in issues[other["key"]]["fields"]["issuelinks"] if lk["id"] == link["id"]]
            assert len(mirror) == 1 and (mirror[0].get("outwardIssue") or mirror[0]["inwardIssue"])["key"] == key
            assert direction not in mirror[0] and link["type"]["name"] == mirror[0]["type"]["name"]
            pairs.add(link["id"])
    assert len(pairs) >= 5
