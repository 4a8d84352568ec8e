"""The fake GitHub speaks GitHub's GraphQL API with GitHub's rules (real HTTP, real schema)."""

from __future__ import annotations

import httpx
import pytest
from graphql import parse, validate

from conveyor.etl.github.fake import FakeGitHub, fake_schema
from conveyor.etl.github.queries import QUERY_NAMES, load_query
from tests.etl_github.conftest import Clock, post


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_every_etl_query_validates_against_the_fakes_schema(name: str) -> None:
    errors = validate(fake_schema(), parse(load_query(name)))
    assert errors == [], [e.message for e in errors]


def test_an_unknown_field_is_rejected_by_validation(github: FakeGitHub) -> None:
    body = post(github, "{ viewer { login nonsense } }").json()
    assert "nonsense" in body["errors"][0]["message"] and "data" not in body


def test_cost_and_node_count_are_computed_the_documented_way(github: FakeGitHub) -> None:
    query = """query { repositoryOwner(login: "acme") { repositories(first: 50) { nodes {
        pullRequests(first: 20) { nodes { comments(first: 10) { nodes { body } } } } } } }
        rateLimit { cost nodeCount remaining used limit resetAt } }"""
    answer = post(github, query)
    rate = answer.json()["data"]["rateLimit"]
    # nodes: 50 + 50*20 + 50*20*10; requests: 1 + 50 + 50*20 = 1,051 -> 10.51 -> 11 points
    assert rate["nodeCount"] == 11_050 and rate["cost"] == 11
    assert rate["limit"] == 5000 and rate["used"] == 11 and rate["remaining"] == 4989
    assert answer.headers["x-ratelimit-remaining"] == "4989" and answer.headers["x-ratelimit-resource"] == "graphql"
    assert post(github, "{ viewer { login } rateLimit { cost } }").json()["data"]["rateLimit"]["cost"] == 1


def test_pagination_bounds_and_the_node_limit(github: FakeGitHub) -> None:
    missing = post(github, '{ repository(owner: "acme", name: "api") { pullRequests { nodes { number } } } }').json()
    assert missing["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert missing["errors"][0]["path"] == ["repository", "pullRequests"]
    count_only = post(github, '{ repository(owner: "acme", name: "api") { pullRequests { totalCount } } }').json()
    assert count_only["data"]["repository"]["pullRequests"]["totalCount"] == 30
    excessive = post(github, '{ repository(owner: "acme", name: "api") { pullRequests(first: 101) { nodes { number } } } }').json()
    assert excessive["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    huge = """{ repositoryOwner(login: "acme") { repositories(first: 100) { nodes { pullRequests(first: 100) {
        nodes { commits(first: 100) { nodes { id } } } } } } } }"""
    over = post(github, huge)
    assert over.status_code == 200 and over.json()["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "data" not in over.json()


def test_pages_over_large_answers_get_a_502(clock: Clock) -> None:
    with FakeGitHub(bad_gateway_above_nodes=1_000, clock=clock) as github:
        big = post(github, '{ repository(owner: "acme", name: "api") { pullRequests(first: 20) { nodes { commits(first: 100) { totalCount } } } } }')
        assert big.status_code == 502 and "timeout" in big.json()["errors"][0]["message"]
        small = post(github, '{ repository(owner: "acme", name: "api") { pullRequests(first: 5) { nodes { commits(first: 100) { totalCount } } } } }')
        assert small.status_code == 200


def test_authentication(github: FakeGitHub) -> None:
    none = httpx.post(github.graphql_url, json={"query": "{ viewer { login } }"})
    assert none.status_code == 401 and "authenticated" in none.json()["message"]
    bad = post(github, "{ viewer { login } }", token="ghp_wrong")
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    user = httpx.get(f"{github.url}/user", headers={"Authorization": f"token {github.token}"})
    assert user.status_code == 200 and user.json()["login"] == "conveyor-bot"
    assert user.headers["x-oauth-scopes"] == "repo, read:org"
    assert all(github.token not in str(r.as_dict()) for r in github.requests)


def test_primary_rate_limit_is_an_http_200_with_rate_limited(github: FakeGitHub, clock: Clock) -> None:
    github.set_rate_limit(remaining=0, reset_in=1200)
    answer = post(github, "{ viewer { login } }")
    assert answer.status_code == 200 and answer.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert int(answer.headers["x-ratelimit-reset"]) == int(clock.now.timestamp()) + 1200
    clock.now = clock.now.replace(hour=13)  # the hour is over: a fresh window
    assert post(github, "{ viewer { login } }").json()["data"]["viewer"]["login"] == "conveyor-bot"


def test_secondary_limit_per_minute(clock: Clock) -> None:
    with FakeGitHub(secondary_per_minute=2, clock=clock) as github:
        assert post(github, "{ viewer { login } }").status_code == 200
        assert post(github, "{ viewer { login } }").status_code == 200
        third = post(github, "{ viewer { login } }")
        assert third.status_code == 403 and "secondary rate limit" in third.json()["message"]
        assert third.headers["retry-after"] == "60" and third.headers["x-ratelimit-remaining"] != "0"


def test_pull_requests_page_by_updated_at_desc_with_cursors_and_an_edit_moves_a_pr_to_the_front(github: FakeGitHub) -> None:
    query = """query($cursor: String) { repository(owner: "acme", name: "web") {
        pullRequests(first: 7, after: $cursor, orderBy: {field: UPDATED_AT, direction: DESC}) {
          totalCount pageInfo { hasNextPage endCursor } edges { cursor node { number updatedAt state } } } } }"""
    seen, cursor = [], None
    while True:
        connection = post(github, query, {"cursor": cursor}).json()["data"]["repository"]["pullRequests"]
        seen += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        cursor = connection["pageInfo"]["endCursor"]
    assert len(seen) == 30 == len({pr["number"] for pr in seen})
    assert [pr["updatedAt"] for pr in seen] == sorted((pr["updatedAt"] for pr in seen), reverse=True)
    merged = next(pr for pr in seen[10:] if pr["state"] == "MERGED")
    github.dataset.edit_pull_request("acme/web", merged["number"], title="edited after merge")
    first = post(github, query, {"cursor": None}).json()["data"]["repository"]["pullRequests"]["edges"][0]["node"]
    assert first["number"] == merged["number"] and first["updatedAt"] > seen[0]["updatedAt"]


def test_node_lookup_and_not_found(github: FakeGitHub) -> None:
    pr = post(github, '{ repository(owner: "acme", name: "api") { pullRequest(number: 30) { id reviewThreads(first: 1) { nodes { id } } } } }').json()
    pr = pr["data"]["repository"]["pullRequest"]
    thread_id = pr["reviewThreads"]["nodes"][0]["id"]
    found = post(github, "query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }", {"ids": [pr["id"], thread_id]}).json()
    assert [n["__typename"] for n in found["data"]["nodes"]] == ["PullRequest", "PullRequestReviewThread"]
    missing = post(github, '{ node(id: "PR_bm9wZQ") { id } }').json()
    assert missing["data"]["node"] is None and missing["errors"][0]["type"] == "NOT_FOUND"


def test_faults_switch_at_run_time_over_http_and_the_request_log_shows_them(github: FakeGitHub) -> None:
    created = httpx.post(f"{github.url}/_fake/faults", json={"kind": "secondary", "status": 429, "retry_after": 7})
    assert created.status_code == 201
    assert httpx.post(f"{github.url}/_fake/faults", json={"kind": "nonsense"}).status_code == 400
    limited = post(github, "query Probe { viewer { login } }")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert post(github, "query Probe { viewer { login } }").status_code == 200
    log = httpx.get(f"{github.url}/_fake/requests").json()
    assert [(r["operation"], r["status"], r["fault"]) for r in log] == [("Probe", 429, "secondary"), ("Probe", 200, None)]
    edit = httpx.post(f"{github.url}/_fake/edits", json={"repository": "acme/api", "number": 3, "title": "new"})
    assert edit.status_code == 200 and edit.json()["title"] == "new"
