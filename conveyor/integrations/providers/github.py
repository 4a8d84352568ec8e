"""The 'github' integration type: a token (personal access token or app installation token), the
GraphQL endpoint as base URL (https://api.github.com/graphql, GHES https://host/api/graphql, or
the local fake), the owner (organisation or user; empty: the token's own user), a repository
filter and the PR page size.
Test connection reports the login, the token's scopes and the GraphQL budget left."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.errors import GitHubError, GitHubRateLimited
from conveyor.etl.github.settings import GitHubSettings
from conveyor.integrations.types import (
    ConnectionReport,
    IntegrationInputError,
    IntegrationType,
    register_type,
)
from conveyor.integrations.validation import int_setting, refuse_unknown, secret_string

PIPELINE = "github"
SETTINGS = frozenset({"owner", "repositories", "pull_request_page_size"})
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]-]{1,100}$")


def validate_credentials(values: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(values, {"token"}, "credentials")
    if "token" not in values:
        raise IntegrationInputError("GitHub credentials need a token.", field="credentials.token",
                                    action="Create a token with the repo and read:org scopes at "
                                           "https://github.com/settings/tokens (or use an app installation token).")
    return {"token": secret_string(values, "token").strip()}


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(values, SETTINGS, "settings")
    owner = values.get("owner", "")  # empty: the token's own user
    if not isinstance(owner, str) or owner and not LOGIN.match(owner):
        raise IntegrationInputError(f"settings.owner must be a GitHub organisation or user login, got {owner!r}.",
                                    field="settings.owner", action="Such as \"acme\" for github.com/acme.")
    repositories = values.get("repositories", [])
    if not isinstance(repositories, list) or not all(isinstance(r, str) and PATTERN.match(r) for r in repositories):
        raise IntegrationInputError(f"settings.repositories must be a list of repository names or patterns "
                                    f"(such as \"api\" or \"web-*\"), got {repositories!r}.",
                                    field="settings.repositories", action="An empty list syncs every repository.")
    return {"owner": owner, "repositories": sorted(set(repositories)),
            "pull_request_page_size": int_setting(values, "pull_request_page_size", 25, 1, 100)}


def normalize_base_url(url: str) -> str:
    """The GraphQL endpoint; a bare https://api.github.com (or a GHES host's /api) gets /graphql."""
    url = url.rstrip("/")
    if url.endswith("/graphql"):
        return url
    if url in ("https://api.github.com",) or url.endswith("/api"):
        return url + "/graphql"
    raise IntegrationInputError(f"base_url {url!r} is not a GitHub GraphQL endpoint.", field="base_url",
                                action="Use https://api.github.com/graphql, https://HOST/api/graphql for GitHub "
                                       "Enterprise Server, or the fake's http://127.0.0.1:PORT/graphql.")


def test_connection(base_url: str, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> ConnectionReport:
    try:
        with GitHubClient(str(credentials["token"]), base_url, timeout=15.0, transient_retries=0) as client:
            report = client.test_connection()
    except GitHubRateLimited as exc:
        return ConnectionReport(ok=False, problem=f"GitHub is rate limiting this token: {exc}",
                                details={"resume_at": exc.decision.resume_at.isoformat()})
    except GitHubError as exc:
        return ConnectionReport(ok=False, problem=str(exc))
    rate = report.rate_limit
    details: dict[str, Any] = {"scopes": list(report.scopes)}
    if rate is not None:
        details.update(rate_limit_remaining=rate.remaining, rate_limit_limit=rate.limit,
                       rate_limit_reset_at=rate.reset_at.isoformat())
    return ConnectionReport(ok=True, user=report.login, details=details)


def settings_for_integration(database_url: str, tenant: str, integration_id: Any) -> GitHubSettings:
    """What a GitHub stage needs from the integration: decrypted token, endpoint, owner, filter."""
    from conveyor.integrations.service import Integrations

    integrations = Integrations(database_url)
    integration = integrations.get(str(integration_id), tenant)
    if integration.type != "github":
        raise ValueError(f"integration {integration_id} is of type {integration.type!r}, not 'github'")
    settings = validate_settings(integration.settings)
    token = str(integrations.credentials(integration.id)["token"])
    owner = settings["owner"]
    if not owner:
        with GitHubClient(token, integration.base_url) as client:
            owner = client.execute("viewer").data["viewer"]["login"]
    return GitHubSettings(token=token, owner=owner,
                          endpoint=integration.base_url, repositories=tuple(settings["repositories"]),
                          pull_request_page_size=settings["pull_request_page_size"])


register_type(IntegrationType(
    name="github", label="GitHub", credential_fields=("token",), validate_credentials=validate_credentials,
    validate_settings=validate_settings, test_connection=test_connection, pipeline=PIPELINE,
    normalize_base_url=normalize_base_url,
))
