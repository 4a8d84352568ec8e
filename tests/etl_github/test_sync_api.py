# ruff: noqa: F811 - the API fixtures imported below are test parameters here
"""POST /api/integrations/{id}/sync for a GitHub integration on an app that does not declare the
`github` pipeline: a 409 that says what to do, and no run. (The path that starts a run is
driven from the dashboard in tests/e2e/test_github_pages.py.)"""

from __future__ import annotations

import httpx
import pytest
from cryptography.fernet import Fernet

from conveyor import Conveyor
from tests.api.conftest import admin_key, api_server, client, make_key, server  # noqa: F401 - fixtures reused


def test_sync_of_a_github_integration_on_an_app_without_the_pipeline(
        app: Conveyor, client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())
    created = client.post("/api/integrations", json={
        "type": "github", "name": "Acme GitHub", "base_url": "https://api.github.com/graphql",
        "credentials": {"token": "ghp_example"}, "settings": {"owner": "acme"}, "tenant": "default"})
    assert created.status_code == 201, created.text
    assert "ghp_example" not in created.text and created.json()["credentials_set"] == ["token"]
    answer = client.post(f"/api/integrations/{created.json()['id']}/sync", json={})
    assert answer.status_code == 409, answer.text
    assert "does not declare the 'github' pipeline" in answer.json()["error"]
    assert "register_github_pipeline" in answer.json()["action"]
    assert "github" not in app.pipelines and app.runs.list(limit=10) == []
