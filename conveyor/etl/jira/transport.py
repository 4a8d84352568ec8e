"""One Jira HTTP call done right: auth, retries of 5xx and network errors, rate limits that
sleep briefly or park, permission errors that say why, and a fingerprint of every request.

Credentials live only in the Authorization header of the httpx client: they are never logged,
never part of a fingerprint, an error message or a repr.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from conveyor.etl.jira.changelog import parse_jira_datetime
from conveyor.etl.jira.errors import (
    JiraDataError,
    JiraPermissionError,
    JiraRequestError,
    JiraServerError,
    JiraUnavailableError,
)
from conveyor.etl.rate_limit import RateLimitPolicy, decide_wait, retry_after_seconds

log = logging.getLogger("conveyor.etl.jira")
RETIRED_PATHS = frozenset({"/rest/api/3/search", "/rest/api/2/search", "/rest/api/latest/search"})


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Jira Cloud's email + API token."""

    email: str
    api_token: str

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()

    def __repr__(self) -> str:
        return f"BasicAuth(email={self.email!r}, api_token=<hidden>)"


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """An OAuth 2.0 access token or a Data Center personal access token."""

    token: str

    def header(self) -> str:
        return f"Bearer {self.token}"

    def __repr__(self) -> str:
        return "BearerAuth(token=<hidden>)"


JiraAuth = BasicAuth | BearerAuth


@dataclass(frozen=True, slots=True)
class JiraClientSettings:
    search_page_size: int = 100          # search/jql with fields; Jira caps it at 100
    id_page_size: int = 5000             # search/jql asking only for ids (the deletion sweep)
    bulk_changelog_issues: int = 1000    # issues per changelog/bulkfetch call (Jira's maximum)
    bulk_changelog_page_size: int = 1000
    changelog_page_size: int = 100
    comment_page_size: int = 100
    timeout_seconds: float = 30.0
    max_retries: int = 3                 # extra attempts after a 5xx or a network error
    retry_backoff_seconds: float = 0.5   # doubled on every retry
    max_pages: int = 100_000             # hard cap on any paging loop
    rate_limit: RateLimitPolicy = field(default_factory=RateLimitPolicy)


@dataclass(slots=True)
class ClientStats:
    """What the client did, for the run metrics."""

    api_calls: int = 0
    pages: int = 0
    rate_limit_hits: int = 0
    seconds_slept: float = 0.0
    retries: int = 0
    paging_anomalies: int = 0


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    path: str
    params: Mapping[str, Any]
    body: Any
    fingerprint: str  # sha256 of method, path, sorted params and body: the raw row's request key


@dataclass(frozen=True, slots=True)
class Page:
    """One answer, unchanged (`body`), with its request, the records in it, and the cursor of
    the next page (None on the last page): commit the body and the cursor together."""

    request: RequestInfo
    body: Any
    items: list[Any]
    next_cursor: Any = None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle, about 20 ms of CPU, which
    a client made per stage job (one page of a paged step) would otherwise pay every time."""
    return httpx.create_ssl_context()


def fingerprint(method: str, path: str, params: Mapping[str, Any] | None, body: Any) -> RequestInfo:
    params = dict(params or {})
    canonical = json.dumps([method.upper(), path, sorted((k, str(v)) for k, v in params.items()), body],
                           sort_keys=True, separators=(",", ":"), default=str)
    return RequestInfo(method.upper(), path, params, body, hashlib.sha256(canonical.encode()).hexdigest())


def _jira_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200] if text and "<html" not in text.lower() else ""
    if isinstance(body, dict):
        messages = [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors")
        if isinstance(errors, dict):
            messages += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):
            messages += [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        if body.get("message"):
            messages.append(str(body["message"]))
        return "; ".join(messages)
    return ""


def rate_limit_wait(response: httpx.Response, now: datetime) -> float | None:
    """Seconds Jira asks us to wait: Retry-After first, then X-RateLimit-Reset (ISO 8601)."""
    wait = retry_after_seconds(response.headers.get("retry-after"), now)
    if wait is not None:
        return wait
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, (parse_jira_datetime(reset.replace("Z", "+00:00")) - now).total_seconds())
        except ValueError:
            return None
    return None


class JiraTransport:
    def __init__(self, base_url: str, auth: JiraAuth, settings: JiraClientSettings | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Jira base URL must start with http:// or https://, got {base_url!r}")
        self.settings = settings or JiraClientSettings()
        self.stats = ClientStats()
        self._sleep, self._clock = sleep, clock
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=self.settings.timeout_seconds, transport=transport,
            verify=_tls_context(),
            headers={"Authorization": auth.header(), "Accept": "application/json",
                     "User-Agent": "conveyor-etl/jira"})

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None,
             body: Any = None) -> tuple[RequestInfo, Any]:
        """The JSON answer of one request, after retries; raises a JiraError or RateLimitParked."""
        if path.rstrip("/") in RETIRED_PATHS:
            raise ValueError(f"{path} is retired on Jira Cloud (HTTP 410): use /rest/api/3/search/jql")
        info = fingerprint(method, path, params, body)
        endpoint = f"{method.upper()} {path}"
        failures = 0
        slept_for_rate = 0.0
        while True:
            started = time.monotonic()
            try:
                response = self._http.request(method, path, params=params, json=body)
            except httpx.TransportError as exc:
                failures += 1
                if failures > self.settings.max_retries:
                    raise JiraUnavailableError(endpoint, failures, type(exc).__name__) from None
                self._retry_pause(failures, endpoint, type(exc).__name__)
                continue
            self.stats.api_calls += 1
            status = response.status_code
            log.debug("JIRA_CALL %s %d %.0fms", endpoint, status, 1000 * (time.monotonic() - started))
            if status == 429 or (status == 503 and "retry-after" in response.headers):
                self.stats.rate_limit_hits += 1
                now = self._clock()
                reason = response.headers.get("ratelimit-reason") or f"HTTP {status}"
                decision = decide_wait(self.settings.rate_limit, rate_limit_wait(response, now), slept_for_rate,
                                       now, reason, endpoint)
                log.info("JIRA_RATE_LIMITED %s %s: sleeping %.1fs", endpoint, reason, decision.seconds)
                self._sleep(decision.seconds)
                slept_for_rate += decision.seconds
                self.stats.seconds_slept += decision.seconds
                continue
            if status in (401, 403):
                raise JiraPermissionError(status, endpoint, _jira_message(response))
            if status >= 500:
                failures += 1
                if failures > self.settings.max_retries:
                    raise JiraServerError(status, endpoint, failures, _jira_message(response))
                self._retry_pause(failures, endpoint, f"HTTP {status}")
                continue
            if status >= 400:
                raise JiraRequestError(status, endpoint, _jira_message(response))
            try:
                return info, response.json()
            except ValueError:
                kind = response.headers.get("content-type", "unknown content")
                raise JiraDataError(f"Jira answered {endpoint} with {kind}, not JSON: is the base URL the "
                                    "site's root (https://<site>.atlassian.net)?") from None

    def _retry_pause(self, failures: int, endpoint: str, cause: str) -> None:
        pause = self.settings.retry_backoff_seconds * 2 ** (failures - 1)
        self.stats.retries += 1
        log.warning("JIRA_RETRY %s after %s (attempt %d), waiting %.1fs", endpoint, cause, failures + 1, pause)
        self._sleep(pause)
        self.stats.seconds_slept += pause
