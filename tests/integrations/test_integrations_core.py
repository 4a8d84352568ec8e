"""The parts without HTTP: encryption and key rotation, the type registry, `conveyor up`'s local
key, and the CLI (credentials from the environment, never from argv)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from conveyor import Conveyor
from conveyor.cli import main
from conveyor.errors import ConfigurationError
from conveyor.fakes.jira import FakeJira
from conveyor.integrations import ConnectionReport, Integrations, IntegrationType, get_type, register_type
from conveyor.integrations.secrets import (
    decrypt_credentials,
    encrypt_credentials,
    local_secret_key,
    secret_box,
)
from conveyor.integrations.types import _types


def test_rotation_old_tokens_still_read_new_ones_use_the_first_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = encrypt_credentials({"api_token": "s3cret"}, secret_box(old))
    assert decrypt_credentials(token, secret_box(f"{new},{old}")) == {"api_token": "s3cret"}
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        decrypt_credentials(token, secret_box(new))
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        secret_box("not-a-key")


def test_conveyor_up_makes_one_key_and_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_SECRET_KEY")
    key = local_secret_key(tmp_path / ".conveyor")
    assert os.environ["CONVEYOR_SECRET_KEY"] == key
    path = tmp_path / ".conveyor" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.delenv("CONVEYOR_SECRET_KEY")
    assert local_secret_key(tmp_path / ".conveyor") == key  # kept across restarts
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", "given")
    assert local_secret_key(tmp_path / "elsewhere") == "given" and not (tmp_path / "elsewhere").exists()


def test_a_new_type_registers_without_touching_the_core(app: Conveyor) -> None:
    def validate(values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values)

    register_type(IntegrationType(
        name="example", label="Example", credential_fields=("token",), validate_credentials=validate,
        validate_settings=validate, pipeline="example_pipeline",
        test_connection=lambda url, creds, settings: ConnectionReport(ok=True, user=f"user at {url}")))
    try:
        service = Integrations(app.settings.database_url)
        created = service.create(tenant="t1", type="example", name="ex", base_url="https://example.com",
                                 credentials={"token": "abc"})
        assert created.pipeline == "example_pipeline" and get_type("jira").pipeline == "jira"
        assert service.test(created.id).user == "user at https://example.com"
        assert service.credentials(created.id) == {"token": "abc"}
        assert service.is_active(created.id) and not service.is_active("missing")
    finally:
        _types.pop("example", None)


def test_cli_create_list_test(app: Conveyor, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from conveyor import cli

    monkeypatch.setattr(cli, "configure_logging", lambda *a, **k: None)  # keep pytest's log capture
    url = app.settings.database_url
    monkeypatch.setenv("CONVEYOR_CREDENTIAL_API_TOKEN", fake_jira.config.api_token)
    code = main(["integrations", "create", "--database-url", url, "--app", "tests.tasks:app", "--type", "jira",
                 "--name", "cli jira", "--base-url", fake_jira.url, "--email", fake_jira.config.email,
                 "--credential", "api_token", "--projects", "ALPHA,BETA", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    created = json.loads(out)
    assert created["settings"]["projects"] == ["ALPHA", "BETA"]
    assert fake_jira.config.api_token not in out
    assert main(["integrations", "test", created["id"], "--database-url", url, "--app", "tests.tasks:app"]) == 0
    assert f"connected as {fake_jira.config.display_name}" in capsys.readouterr().out
    code = main(["integrations", "update", created["id"], "--database-url", url, "--app", "tests.tasks:app",
                 "--settings", '{"search_page_size": 0}'])
    captured = capsys.readouterr()
    assert code == 2 and "settings.search_page_size must be a whole number from 1 to 100" in captured.err
    assert main(["integrations", "list", "--database-url", url, "--app", "tests.tasks:app"]) == 0
    listed = capsys.readouterr().out
    assert "cli jira" in listed and "credentials: api_token, email" in listed
    assert fake_jira.config.api_token not in listed


def test_the_orchestrators_active_check_follows_the_flag(app: Conveyor, fake_jira: FakeJira) -> None:
    from conveyor.integrations.wiring import integration_active_check, integrations_for

    service = integrations_for(app)
    created = service.create(tenant="t1", type="jira", name="j", base_url=fake_jira.url,
                             credentials={"email": fake_jira.config.email, "api_token": fake_jira.config.api_token})
    active = integration_active_check(app)
    assert active(created.id) is True
    service.update(created.id, active=False)
    assert active(created.id) is False and active("no-such-id") is False
