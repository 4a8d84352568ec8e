"""The Jira client under a hostile Jira: 429 storms, 401/403, 5xx, slow answers; credentials
that never leak; JQL dates in the user's time zone; incremental edits."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.errors import JiraPermissionError, JiraServerError, JiraUnavailableError
from conveyor.etl.jira.jql import issues_jql, jql_datetime, watermark
from conveyor.etl.jira.transport import BasicAuth, BearerAuth
from conveyor.etl.rate_limit import RateLimitParked, RateLimitPolicy
from conveyor.fakes.jira import FakeJira, FakeJiraConfig
from tests.etl.conftest import NOW, FakeTime


def ids_of(client: JiraClient, jql: str) -> set[str]:
    return {i["id"] for p in client.issue_id_pages(jql) for i in p.items}


def test_a_429_storm_parks_with_the_resume_time(client: JiraClient, fake_jira: FakeJira, fake_time: FakeTime) -> None:
    fake_jira.faults.rate_limit(count=None, retry_after=120)
    with pytest.raises(RateLimitParked) as parked:
        list(client.project_pages())
    assert parked.value.resume_at == NOW + timedelta(seconds=120)
    assert parked.value.reason == "jira-burst-based" and parked.value.endpoint == "GET /rest/api/3/project/search"
    assert fake_time.sleeps == []  # a long wait is never slept in the worker
    assert client.stats.rate_limit_hits == 1 and len(fake_jira.requests()) == 1


def test_short_waits_are_slept_and_the_call_goes_through(client: JiraClient, fake_jira: FakeJira,
                                                         fake_time: FakeTime) -> None:
    fake_jira.faults.rate_limit(count=3, retry_after=1)
    assert [p["key"] for page in client.project_pages() for p in page.items] == ["ALPHA", "BETA", "TEAM"]
    assert fake_time.sleeps == [1.0, 1.0, 1.0] and client.stats.rate_limit_hits == 3
    assert [r.status for r in fake_jira.requests()] == [429, 429, 429, 200]


def test_a_storm_of_short_waits_parks_once_the_sleep_budget_is_spent(
        make_client: Callable[..., JiraClient], fake_jira: FakeJira, fake_time: FakeTime) -> None:
    client = make_client(rate_limit=RateLimitPolicy(max_sleep_seconds=5, max_total_sleep_seconds=4))
    fake_jira.faults.rate_limit(count=None, retry_after=2, html=True)  # an HTML 429 body, as some sites send
    with pytest.raises(RateLimitParked) as parked:
        client.myself()
    assert fake_time.sleeps == [2.0, 2.0]
    assert parked.value.resume_at == NOW + timedelta(seconds=6)


def test_without_retry_after_the_reset_header_sets_the_wait(make_client: Callable[..., JiraClient],
                                                            fake_jira: FakeJira, fake_time: FakeTime) -> None:
    client = make_client(rate_limit=RateLimitPolicy(max_sleep_seconds=0))
    fake_time.now = datetime.now(UTC)  # X-RateLimit-Reset is wall-clock time, to the minute
    fake_jira.faults.rate_limit(count=None, retry_after=None)
    with pytest.raises(RateLimitParked) as parked:
        client.myself()
    resume = parked.value.resume_at
    assert fake_time.now < resume <= fake_time.now + timedelta(seconds=61)
    assert abs(resume - resume.replace(second=0, microsecond=0)) < timedelta(milliseconds=1)
    # A 503 with Retry-After is throttling too.
    fake_jira.faults.clear()
    fake_jira.faults.rate_limit(count=1, retry_after=3, status=503)
    assert make_client().myself()["timeZone"] == "Australia/Sydney"
    assert fake_time.sleeps == [3.0]


def test_retry_now_forever_still_parks(make_client: Callable[..., JiraClient], fake_jira: FakeJira,
                                       fake_time: FakeTime) -> None:
    client = make_client(rate_limit=RateLimitPolicy(max_total_sleep_seconds=3))
    fake_jira.faults.rate_limit(count=None, retry_after=0)
    with pytest.raises(RateLimitParked):
        client.myself()
    assert fake_time.sleeps == [1.0, 1.0, 1.0] and len(fake_jira.requests()) == 4


@pytest.mark.parametrize("auth", [None, BasicAuth("etl-bot@example.com", "wrong-token"), BearerAuth("nope")])
def test_401_is_a_clear_permission_error_and_never_retried(make_client: Callable[..., JiraClient],
                                                           fake_jira: FakeJira, auth: object) -> None:
    if auth is None:
        client = make_client()
        client._http.headers.pop("Authorization")
    else:
        client = make_client(auth=auth)
    with pytest.raises(JiraPermissionError) as refused:
        list(client.search_pages('project = "ALPHA"', ["summary"]))
    assert refused.value.status == 401
    assert "Jira refused the credentials (HTTP 401) for POST /rest/api/3/search/jql" in str(refused.value)
    assert "API token" in str(refused.value)
    assert len(fake_jira.requests()) == 1


def test_bearer_tokens_work(make_client: Callable[..., JiraClient], fake_jira: FakeJira) -> None:
    client = make_client(auth=BearerAuth(fake_jira.config.bearer_token))
    assert client.myself()["accountId"] == fake_jira.config.account_id
    assert fake_jira.requests()[0].auth == "bearer"


def test_403_names_the_missing_permission(client: JiraClient, fake_jira: FakeJira) -> None:
    fake_jira.faults.forbidden(path="/rest/api/3/statuses/search")
    with pytest.raises(JiraPermissionError, match="lacks permission \\(HTTP 403\\) for GET /rest/api/3/statuses/"
                                                  "search: You do not have permission.*Browse Projects"):
        list(client.status_pages("10000"))
    assert len(fake_jira.requests()) == 1


def test_server_errors_are_retried_with_backoff_then_reported(client: JiraClient, fake_jira: FakeJira,
                                                             fake_time: FakeTime) -> None:
    fake_jira.faults.server_error(count=2, status=502)
    assert client.fields().items
    assert fake_time.sleeps == [0.5, 1.0] and client.stats.retries == 2
    fake_jira.faults.server_error(count=None, status=504)
    with pytest.raises(JiraServerError, match="HTTP 504 to GET /rest/api/3/field 4 times in a row"):
        client.fields()


def test_a_slow_answer_times_out_and_is_retried(make_client: Callable[..., JiraClient], fake_jira: FakeJira) -> None:
    client = make_client(timeout_seconds=0.3, max_retries=1)
    fake_jira.faults.slow(1.0, count=1)
    assert client.myself()["displayName"] == "ETL Bot"
    assert client.stats.retries == 1
    fake_jira.faults.slow(1.0, count=None)
    with pytest.raises(JiraUnavailableError, match="did not answer GET /rest/api/3/myself after 2 attempts"):
        client.myself()
    fake_jira.faults.clear()


def test_credentials_never_reach_logs_errors_or_fingerprints(make_client: Callable[..., JiraClient],
                                                            fake_jira: FakeJira,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    cfg = fake_jira.config
    secrets = [cfg.api_token, base64.b64encode(f"{cfg.email}:{cfg.api_token}".encode()).decode(), "wrong-secret"]
    caplog.set_level(logging.DEBUG)
    client = make_client()
    fake_jira.faults.server_error(count=1)
    fake_jira.faults.rate_limit(count=1, retry_after=1)
    pages = list(client.search_pages('project = "ALPHA"', ["summary"], page_size=10))
    bad = make_client(auth=BasicAuth(cfg.email, "wrong-secret"))
    with pytest.raises(JiraPermissionError) as refused:
        bad.myself()
    text = caplog.text + str(refused.value) + repr(bad) + repr(BasicAuth(cfg.email, cfg.api_token))
    text += "".join(repr(p.request) for p in pages) + repr(fake_jira.requests())
    assert "JIRA_RETRY" in caplog.text and "JIRA_RATE_LIMITED" in caplog.text
    for secret in secrets:
        assert secret not in text


def test_jql_dates_are_read_in_the_users_time_zone() -> None:
    moment = datetime(2026, 6, 1, 0, 30, 59, tzinfo=UTC)
    assert jql_datetime(moment, "Australia/Sydney") == "2026-06-01 10:30"
    assert jql_datetime(moment, "America/Los_Angeles") == "2026-05-31 17:30"
    assert issues_jql(["ALPHA", "TEAM"], moment, "UTC") == \
        'project in ("ALPHA", "TEAM") AND updated >= "2026-06-01 00:30" ORDER BY updated ASC'
    assert watermark(moment, timedelta(minutes=15)) == moment - timedelta(minutes=15)
    with pytest.raises(ValueError, match="unbounded"):
        issues_jql([], None, "UTC")
    with pytest.raises(ValueError, match="not a Jira project key"):
        issues_jql(['A") OR ("B'], None, "UTC")
    with pytest.raises(ValueError, match="unknown time zone"):
        jql_datetime(moment, "Mars/Olympus")


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Australia/Sydney"])
def test_a_watermark_in_the_users_zone_skips_nothing(make_client: Callable[..., JiraClient], zone: str) -> None:
    with FakeJira(seed=7, issues=30, config=FakeJiraConfig(time_zone=zone)) as jira:
        client = make_client(jira)
        user_zone = client.myself()["timeZone"]
        assert user_zone == zone
        edited_at = datetime(2026, 6, 1, 3, 0, 20, tzinfo=UTC)
        jira.dataset.edit_issue("BETA-2", summary="edited", at=edited_at)
        since = edited_at - timedelta(minutes=1)
        found = ids_of(client, issues_jql(["BETA"], since, user_zone))
        assert found == {str(jira.dataset.find("BETA-2").id)}
        # The watermark written in UTC instead: in Los Angeles Jira reads it 7 hours later and
        # misses the edit; in Sydney it reads it 10 hours earlier and re-reads the edit.
        naive = f'project in ("BETA") AND updated >= "{since.strftime("%Y-%m-%d %H:%M")}"'
        assert bool(ids_of(client, naive)) == (zone == "Australia/Sydney")


def test_incremental_sync_sees_edits_new_issues_and_deletions(client: JiraClient, fake_jira: FakeJira) -> None:
    jql = issues_jql(["ALPHA", "BETA", "TEAM"], None, "UTC")
    before = ids_of(client, jql)
    run_started = datetime.now(UTC)
    data = fake_jira.dataset
    edited = data.edit_issue("TEAM-4", status="Done")
    added = data.add_issue("ALPHA", "brand new")
    gone = data.find("BETA-5")
    data.delete_issue("BETA-5")
    since = issues_jql(["ALPHA", "BETA", "TEAM"], watermark(run_started, timedelta(minutes=5)), "Australia/Sydney")
    changed = [i for p in client.search_pages(since, ["summary", "status", "updated"]) for i in p.items]
    assert {i["key"] for i in changed} == {edited.key, added.key}
    assert next(i for i in changed if i["key"] == "TEAM-4")["fields"]["status"]["id"] == edited.status_id
    after = ids_of(client, jql)  # the keys-only sweep: deleted = seen before, missing now
    assert before - after == {str(gone.id)} and after - before == {str(added.id)}
    sweep = fake_jira.requests(path="/rest/api/3/search/jql")[-1]
    assert sweep.body["fields"] == ["id", "key"] and sweep.body["maxResults"] == 5000
