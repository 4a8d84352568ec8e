"""Errors of the Jira client: each names the endpoint and says what to do."""

from __future__ import annotations


class JiraError(Exception):
    """Anything that stopped a Jira call from returning data."""


class JiraPermissionError(JiraError):
    """401 or 403: the credentials were refused or lack a permission. Never retried; a step that
    meets it fails with this message instead of reporting zero records."""

    def __init__(self, status: int, endpoint: str, jira_message: str) -> None:
        self.status, self.endpoint, self.jira_message = status, endpoint, jira_message
        if status == 401:
            what = ("Jira refused the credentials (HTTP 401)",
                    "check the integration's email and API token (or its bearer token) and the base URL")
        else:
            what = ("the Jira user lacks permission (HTTP 403)",
                    "give the user Browse Projects permission on these projects, or remove them from the "
                    "integration's project filter")
        self.reason = what[0]
        detail = f": {jira_message}" if jira_message else ""
        super().__init__(f"{what[0]} for {endpoint}{detail} — {what[1]}")


class JiraRequestError(JiraError):
    """A 4xx other than 401/403/429: the request itself is wrong (bad JQL, unknown issue, ...)."""

    def __init__(self, status: int, endpoint: str, jira_message: str) -> None:
        self.status, self.endpoint, self.jira_message = status, endpoint, jira_message
        super().__init__(f"Jira answered HTTP {status} to {endpoint}: {jira_message or 'no message'}")


class JiraServerError(JiraError):
    """5xx answers that outlasted the retries."""

    def __init__(self, status: int, endpoint: str, attempts: int, jira_message: str) -> None:
        self.status, self.endpoint, self.attempts = status, endpoint, attempts
        super().__init__(f"Jira answered HTTP {status} to {endpoint} {attempts} times in a row"
                         f"{': ' + jira_message if jira_message else ''}; try again later")


class JiraUnavailableError(JiraError):
    """No answer at all (connection refused, timeouts) after the retries."""

    def __init__(self, endpoint: str, attempts: int, cause: str) -> None:
        self.endpoint, self.attempts = endpoint, attempts
        super().__init__(f"Jira did not answer {endpoint} after {attempts} attempts ({cause}); "
                         "check the base URL and the network")


class JiraDataError(JiraError):
    """An answer that cannot be right: not JSON, a paging loop past its cap, a changelog that
    stays incomplete after every way of completing it."""
