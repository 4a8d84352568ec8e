"""The 'github' integration type: credentials and settings checked at the door, Test connection
against the fake (login, scopes, rate limit left; a bad token in plain words), and a pipeline run
that takes everything -- the encrypted token included -- from the integration."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from conveyor import Conveyor
from conveyor.etl.github.fake import DatasetSpec, FakeGitHub
from conveyor.etl.github.tables import pull_requests, repositories
from conveyor.integrations import IntegrationInputError, Integrations, get_type
from tests.etl_github.github_app import github
from tests.etl_github.sync_helpers import count, ended, new_tenant, stored_pull_request_by_number, workers_up


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", key)
    return key


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(DatasetSpec(repositories=4, pull_requests_per_repository=6, huge_pull_requests=0)) as f:
        yield f


def test_settings_and_credentials_are_checked() -> None:
    kind = get_type("github")
    assert kind.validate_settings({"owner": "acme"}) == {"owner": "acme", "repositories": [],
                                                         "pull_request_page_size": 25}
    assert kind.validate_settings({})["owner"] == ""  # the token's own user
    for bad, field in (({"owner": "a/b"}, "settings.owner"), ({"owner": "acme", "repositories": "api"},
                                                               "settings.repositories"),
                       ({"owner": "acme", "pull_request_page_size": 500}, "settings.pull_request_page_size"),
                       ({"owner": "acme", "org": "x"}, "settings.org")):
        with pytest.raises(IntegrationInputError) as err:
            kind.validate_settings(bad)
        assert err.value.field == field
    with pytest.raises(IntegrationInputError, match="need a token"):
        kind.validate_credentials({})
    assert kind.normalize_base_url is not None
    assert kind.normalize_base_url("https://api.github.com") == "https://api.github.com/graphql"
    assert kind.normalize_base_url("https://ghe.acme.com/api") == "https://ghe.acme.com/api/graphql"
    with pytest.raises(IntegrationInputError, match="not a GitHub GraphQL endpoint"):
        kind.normalize_base_url("https://github.com/acme")


def test_test_connection_reports_login_scopes_and_rate_limit(fake: FakeGitHub) -> None:
    kind = get_type("github")
    report = kind.test_connection(fake.graphql_url, {"token": fake.token}, {"owner": "acme"})
    assert report.ok and report.user == "conveyor-bot"
    assert report.details["scopes"] == ["repo", "read:org"]
    assert 0 < report.details["rate_limit_remaining"] <= report.details["rate_limit_limit"] == 5000
    bad = kind.test_connection(fake.graphql_url, {"token": "ghp_nope"}, {"owner": "acme"})
    assert not bad.ok and "HTTP 401" in (bad.problem or "") and "Bad credentials" in (bad.problem or "")


def test_a_run_from_an_integration(gh_app: Conveyor, fake: FakeGitHub, secret_key: str,
                                   spawn_github_worker: Any) -> None:
    tenant = new_tenant()
    integration = Integrations(gh_app.settings.database_url).create(
        tenant=tenant, type="github", name="Acme GitHub", base_url=fake.graphql_url, credentials={"token": fake.token},
        settings={"owner": "acme", "repositories": ["api", "we*"]})
    assert integration.pipeline == "github" and integration.to_dict()["credentials_set"] == ["token"]
    spawn_github_worker("unused", CONVEYOR_SECRET_KEY=secret_key)
    workers_up(gh_app)
    run = github.start({"integration_id": integration.id}, tenant=tenant)
    assert "token" not in str(run.params)
    done = ended(gh_app, run.id)
    assert done.state == "FINISHED", done.error
    assert count(gh_app, repositories, tenant) == 2  # api and web, by the filter
    assert count(gh_app, pull_requests, tenant) == 12


def test_the_demo_tenant_syncs_from_the_fake(gh_app: Conveyor, secret_key: str, spawn_github_worker: Any) -> None:
    from conveyor.etl.github.demo import DEMO_TENANT, demo_activity, demo_integration, seed_github_demo
    from conveyor.etl.github.fake import DatasetSpec as Spec

    spawn_github_worker("unused", CONVEYOR_SECRET_KEY=secret_key)
    workers_up(gh_app)
    spec = Spec(repositories=2, pull_requests_per_repository=5, huge_pull_requests=1, huge_commits=120,
                huge_reviews=3, huge_comments=3, huge_threads=2, huge_thread_comments=3)
    with FakeGitHub(spec) as first:
        done = ended(gh_app, seed_github_demo(gh_app, first).id)
        assert done.state == "FINISHED", done.error
        assert count(gh_app, pull_requests, DEMO_TENANT) == 10
        edited = demo_activity(first, random.Random(3))
        again = ended(gh_app, seed_github_demo(gh_app, first).id)
        assert again.state == "FINISHED", again.error
        repository, number = edited.split("#")
        stored = stored_pull_request_by_number(gh_app, DEMO_TENANT, repository, int(number))
        assert stored["comment_count"] == len(first.dataset.children(
            first.dataset.pull_request(first.dataset.repository(*repository.split("/")), int(number)), "comments"))
    with FakeGitHub(spec) as second:  # a restart: another port, the same integration pointed at it
        again = demo_integration(gh_app, second)
        assert again.base_url == second.graphql_url
        assert len(Integrations(gh_app.settings.database_url).list(DEMO_TENANT, "github")) == 1
        (job,) = [j for j in gh_app.etl_jobs.list(DEMO_TENANT) if j.integration_id == again.id]
        assert job.pipeline == "github"  # the demo integration has its ETL job, as any integration
        assert job.params == {"integration_id": again.id}
