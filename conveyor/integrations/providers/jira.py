"""The 'jira' integration type: credentials (email + API token, or a bearer token), settings
(project filter, page sizes, overlap window, rate limits) and Test connection via /myself."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from conveyor.etl.jira.client import JiraClient
from conveyor.etl.jira.connection import check_connection
from conveyor.etl.jira.transport import BasicAuth, BearerAuth, JiraAuth, JiraClientSettings
from conveyor.etl.rate_limit import RateLimitPolicy
from conveyor.integrations.types import (
    ConnectionReport,
    IntegrationInputError,
    IntegrationType,
    register_type,
)
from conveyor.integrations.validation import int_setting, number_setting, refuse_unknown, secret_string

PIPELINE = "jira"
PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
SETTINGS = frozenset({
    "projects", "search_page_size", "changelog_page_size", "bulk_changelog_issues", "comment_page_size",
    "overlap_minutes", "deletion_sweep_hours", "timeout_seconds", "max_sleep_seconds",
    "max_total_sleep_seconds", "default_wait_seconds", "max_retries", "dev_status",
})


def validate_credentials(values: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(values, {"email", "api_token", "bearer_token"}, "credentials")
    if "bearer_token" in values:
        if "email" in values or "api_token" in values:
            raise IntegrationInputError("Give either email + api_token or bearer_token, not both.",
                                        field="credentials")
        return {"bearer_token": secret_string(values, "bearer_token")}
    if "email" not in values or "api_token" not in values:
        raise IntegrationInputError(
            "Jira credentials need email and api_token (Jira Cloud), or bearer_token (OAuth / Data Center).",
            field="credentials", action="Create an API token at https://id.atlassian.com/manage-profile/security/api-tokens.")
    email = secret_string(values, "email")
    if "@" not in email:
        raise IntegrationInputError("credentials.email is not an email address.", field="credentials.email")
    return {"email": email, "api_token": secret_string(values, "api_token")}


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(values, SETTINGS, "settings")
    projects = values.get("projects", [])
    if not isinstance(projects, list) or not all(isinstance(p, str) and PROJECT_KEY.match(p) for p in projects):
        raise IntegrationInputError(f"settings.projects must be a list of project keys (such as \"ALPHA\"), got "
                                    f"{projects!r}.", field="settings.projects",
                                    action="An empty list syncs every project the user can see.")
    dev_status = values.get("dev_status", True)
    if not isinstance(dev_status, bool):
        raise IntegrationInputError("settings.dev_status must be true or false.", field="settings.dev_status")
    return {
        "projects": sorted(set(projects)),
        "search_page_size": int_setting(values, "search_page_size", 100, 1, 100),
        "changelog_page_size": int_setting(values, "changelog_page_size", 100, 1, 100),
        "comment_page_size": int_setting(values, "comment_page_size", 100, 1, 100),
        "bulk_changelog_issues": int_setting(values, "bulk_changelog_issues", 1000, 1, 1000),
        "overlap_minutes": int_setting(values, "overlap_minutes", 15, 0, 24 * 60),
        "deletion_sweep_hours": int_setting(values, "deletion_sweep_hours", 24, 1, 24 * 30),
        "timeout_seconds": number_setting(values, "timeout_seconds", 30.0, 1.0, 300.0),
        "max_retries": int_setting(values, "max_retries", 3, 0, 10),
        "max_sleep_seconds": number_setting(values, "max_sleep_seconds", 10.0, 0.0, 300.0),
        "max_total_sleep_seconds": number_setting(values, "max_total_sleep_seconds", 60.0, 0.0, 3600.0),
        "default_wait_seconds": number_setting(values, "default_wait_seconds", 30.0, 1.0, 3600.0),
        "dev_status": dev_status,
    }


def client_auth(credentials: Mapping[str, Any]) -> JiraAuth:
    if "bearer_token" in credentials:
        return BearerAuth(str(credentials["bearer_token"]))
    return BasicAuth(str(credentials["email"]), str(credentials["api_token"]))


def client_settings(settings: Mapping[str, Any]) -> JiraClientSettings:
    s = validate_settings(settings)
    return JiraClientSettings(
        search_page_size=s["search_page_size"], changelog_page_size=s["changelog_page_size"],
        comment_page_size=s["comment_page_size"], bulk_changelog_issues=s["bulk_changelog_issues"],
        timeout_seconds=s["timeout_seconds"], max_retries=s["max_retries"],
        rate_limit=RateLimitPolicy(max_sleep_seconds=s["max_sleep_seconds"],
                                   max_total_sleep_seconds=s["max_total_sleep_seconds"],
                                   default_wait_seconds=s["default_wait_seconds"]))


def client_for(base_url: str, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> JiraClient:
    return JiraClient(base_url, client_auth(credentials), client_settings(settings))


def test_connection(base_url: str, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> ConnectionReport:
    quick = {**settings, "max_retries": 0, "timeout_seconds": min(float(settings.get("timeout_seconds", 30)), 15.0),
             "max_total_sleep_seconds": 0.0}  # a button press: answer fast, never sleep on a 429
    with client_for(base_url, credentials, quick) as client:
        check = check_connection(client)
    return ConnectionReport(
        ok=check.ok, user=check.display_name, account_id=check.account_id, time_zone=check.time_zone,
        problem=check.problem, details={"projects_visible": check.projects_visible})


register_type(IntegrationType(
    name="jira", label="Jira", credential_fields=("email", "api_token", "bearer_token"),
    validate_credentials=validate_credentials, validate_settings=validate_settings,
    test_connection=test_connection, pipeline=PIPELINE,
))
