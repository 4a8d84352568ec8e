"""Integrations over real HTTP on both engines, against a fake Jira: create, list, change, test
connection; bad input changes nothing; credentials never come back, never reach the logs and
are encrypted in the table."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conveyor import Conveyor
from conveyor.etl.db import declared_columns_missing, shared_engine
from conveyor.fakes.jira import FakeJira
from conveyor.integrations.table import integrations as T


def jira_body(jira: FakeJira, **extra: Any) -> dict[str, Any]:
    body = {"type": "jira", "name": "Acme Jira", "base_url": jira.url + "/",
            "credentials": {"email": jira.config.email, "api_token": jira.config.api_token},
            "settings": {"projects": ["ALPHA", "TEAM"], "search_page_size": 50}}
    body.update(extra)
    return body


def stored_rows(app: Conveyor) -> list[Any]:
    with shared_engine(app.settings.database_url).connect() as conn:
        return list(conn.execute(select(T)))


def test_table_matches_its_declaration(app: Conveyor) -> None:
    assert declared_columns_missing(shared_engine(app.settings.database_url), [T]) == {}


def test_create_list_patch_and_test_connection(app: Conveyor, client: httpx.Client, fake_jira: FakeJira,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = client.post("/api/integrations", json=jira_body(fake_jira))
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["base_url"] == fake_jira.url and created["tenant"] == "default"
    assert created["credentials_set"] == ["api_token", "email"] and created["pipeline"] == "jira"
    assert created["settings"]["projects"] == ["ALPHA", "TEAM"] and created["settings"]["search_page_size"] == 50
    assert created["settings"]["overlap_minutes"] == 15  # defaults filled in
    listed = client.get("/api/integrations").json()["items"]
    assert [i["id"] for i in listed] == [created["id"]]

    report = client.post(f"/api/integrations/{created['id']}/test").json()
    assert report["ok"] is True and report["problem"] is None
    assert report["user"] == fake_jira.config.display_name and report["time_zone"] == fake_jira.config.time_zone
    assert fake_jira.requests(path="/rest/api/3/myself")
    assert client.get(f"/api/integrations/{created['id']}").json()["last_test"]["ok"] is True

    changed = client.patch(f"/api/integrations/{created['id']}",
                           json={"settings": {"overlap_minutes": 30}, "active": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["overlap_minutes"] == 30
    assert changed.json()["settings"]["projects"] == ["ALPHA", "TEAM"]  # merged, not replaced
    assert changed.json()["active"] is False

    # Wrong token: the report says so in words; nothing raised, nothing 500.
    client.patch(f"/api/integrations/{created['id']}",
                 json={"credentials": {"email": fake_jira.config.email, "api_token": "wrong-token-42"}})
    report = client.post(f"/api/integrations/{created['id']}/test").json()
    assert report["ok"] is False and "refused the credentials" in report["problem"]

    # Credentials: encrypted in the table, absent from every answer and log line.
    row = stored_rows(app)[0]
    for secret in (fake_jira.config.api_token, "wrong-token-42"):
        assert secret not in row.credentials
        assert secret not in caplog.text
        for path in ("/api/integrations", f"/api/integrations/{created['id']}"):
            assert secret not in client.get(path).text


def test_bearer_token_and_a_forbidden_user(client: httpx.Client, fake_jira: FakeJira) -> None:
    body = jira_body(fake_jira, credentials={"bearer_token": fake_jira.config.bearer_token}, name="bearer")
    created = client.post("/api/integrations", json=body).json()
    fake_jira.faults.forbidden(path="/rest/api/3/project/search")
    try:
        report = client.post(f"/api/integrations/{created['id']}/test").json()
    finally:
        fake_jira.faults.clear()
    assert report["ok"] is False and report["user"] == fake_jira.config.display_name
    assert "lacks permission" in report["problem"] and "Browse Projects" in report["problem"]


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "trello"}, "type"),
    ({"name": ""}, "name"),
    ({"base_url": "ftp://jira.example.com"}, "base_url"),
    ({"base_url": "https://user:pw@acme.atlassian.net"}, "base_url"),
    ({"credentials": {"email": "a@b.c"}}, "credentials"),
    ({"credentials": {"email": "a@b.c", "api_token": "x", "bearer_token": "y"}}, "credentials"),
    ({"credentials": {"email": "a@b.c", "api_token": "x", "password": "y"}}, "credentials.password"),
    ({"settings": {"search_page_size": 500}}, "settings.search_page_size"),
    ({"settings": {"projects": "ALPHA"}}, "settings.projects"),
    ({"settings": {"colour": "blue"}}, "settings.colour"),
])
def test_bad_input_is_refused_and_nothing_is_written(app: Conveyor, client: httpx.Client, fake_jira: FakeJira,
                                                     change: dict[str, Any], field: str) -> None:
    answer = client.post("/api/integrations", json=jira_body(fake_jira, **change))
    assert answer.status_code == 422, answer.text
    assert answer.json()["fields"][0]["field"] == field
    assert stored_rows(app) == []


def test_patch_with_bad_input_changes_nothing_and_names_are_unique(app: Conveyor, client: httpx.Client,
                                                                    fake_jira: FakeJira) -> None:
    first = client.post("/api/integrations", json=jira_body(fake_jira)).json()
    second = client.post("/api/integrations", json=jira_body(fake_jira, name="Other")).json()
    taken = client.post("/api/integrations", json=jira_body(fake_jira))
    assert taken.status_code == 409 and "already has an integration named" in taken.json()["error"]
    before = stored_rows(app)
    for body in ({"name": "Other"}, {"settings": {"overlap_minutes": -1}, "name": "Renamed"},
                 {"credentials": {"api_token": "only"}}, {"active": "yes"}):
        answer = client.patch(f"/api/integrations/{first['id']}", json=body)
        assert answer.status_code in (409, 422), (body, answer.text)
    assert stored_rows(app) == before
    assert client.patch("/api/integrations/no-such-id", json={"active": False}).status_code == 404
    assert client.post("/api/integrations/no-such-id/test").status_code == 404
    assert second["id"] != first["id"]


def test_tenant_keys_see_only_their_tenant(client: httpx.Client, server: Any, make_key: Any,
                                           fake_jira: FakeJira) -> None:
    other = client.post("/api/integrations", json=jira_body(fake_jira, tenant="globex")).json()
    acme_key = make_key("acme", "admin", "acme admin")
    with server.client(acme_key) as acme:
        mine = acme.post("/api/integrations", json=jira_body(fake_jira)).json()
        assert mine["tenant"] == "acme"
        assert [i["id"] for i in acme.get("/api/integrations").json()["items"]] == [mine["id"]]
        assert acme.get(f"/api/integrations/{other['id']}").status_code == 404
        assert acme.patch(f"/api/integrations/{other['id']}", json={"active": False}).status_code == 404
        assert acme.post("/api/integrations", json=jira_body(fake_jira, tenant="globex")).status_code == 403
    viewer = make_key("acme", "viewer", "acme viewer")
    with server.client(viewer) as read_only:
        assert read_only.get("/api/integrations").status_code == 200
        assert read_only.post("/api/integrations", json=jira_body(fake_jira, name="v")).status_code == 403


def test_without_a_secret_key_nothing_is_created(app: Conveyor, client: httpx.Client, fake_jira: FakeJira,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_SECRET_KEY")
    answer = client.post("/api/integrations", json=jira_body(fake_jira))
    assert answer.status_code == 500 and "CONVEYOR_SECRET_KEY is not set" in answer.json()["error"]
    assert "Fernet.generate_key" in answer.json()["action"]
    assert stored_rows(app) == []


def test_types_are_listed(client: httpx.Client) -> None:
    types = {t["type"]: t for t in client.get("/api/integrations/types").json()}
    assert types["jira"]["credential_fields"] == ["email", "api_token", "bearer_token"]
    assert types["jira"]["default_settings"]["search_page_size"] == 100
