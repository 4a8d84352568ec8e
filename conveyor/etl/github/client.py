"""The GitHub GraphQL client of the ETL (httpx, synchronous).

* posts the ETL's named queries (conveyor/etl/github/queries/) with the token;
* reads `rateLimit` (or the x-ratelimit-* headers) on every answer: `rate_limit`, `points_spent`;
  counts what the run metrics show: `requests_sent`, `rate_limit_hits`, `waited_seconds`,
  `retries`, `page_shrinks`;
* rate limits become a `GitHubRateLimited` carrying a `ParkDecision` (until `resetAt` or
  `retry-after`) instead of a long sleep; waits up to `max_inline_wait` seconds are slept here;
* 401, a plain 403 and FORBIDDEN/INSUFFICIENT_SCOPES raise `GitHubPermissionError` with GitHub's reason;
* `execute_paged` sizes pages itself: it starts at the documented maximum, halves on 502/504 or
  resource-limit errors and grows back after a success;
* 500/503 and network errors are retried a few times with a short backoff.

The token is sent and never logged, stored in errors or shown by repr().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from conveyor.etl.github.errors import (
    GitHubPermissionError,
    GitHubQueryError,
    GitHubRateLimited,
    GitHubServerError,
    ParkDecision,
    RateLimitState,
    decide_throttle,
    permission_reason,
)
from conveyor.etl.github.queries import load_query, operation_name

log = logging.getLogger("conveyor.etl.github")

MAX_PAGE_SIZE = 100
PERMISSION_TYPES = ("FORBIDDEN", "INSUFFICIENT_SCOPES")
SHRINK_STATUSES = (502, 504)
RETRY_STATUSES = (500, 503)


@dataclass
class Answer:
    """One successful GraphQL answer: `data`, the raw JSON body unchanged (for the raw store),
    the page size used (paged queries) and the rate-limit state it reported."""

    query: str
    variables: dict[str, Any]
    data: dict[str, Any]
    raw: dict[str, Any]
    rate_limit: RateLimitState | None
    page_size: int | None = None
    text: str = ""  # the answer's body exactly as received


@dataclass(frozen=True)
class ConnectionReport:
    login: str
    scopes: tuple[str, ...]
    rate_limit: RateLimitState | None


class _Shrink(Exception):
    """The page asked too much of GitHub (502/504, resource limits): a smaller page may pass."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rest_base(graphql_url: str) -> str:
    """The REST root beside a GraphQL endpoint: https://api.github.com/graphql -> https://api.github.com,
    GHES https://host/api/graphql -> https://host/api/v3."""
    url = graphql_url.rstrip("/")
    if url.endswith("/api/graphql"):
        return url[: -len("/graphql")] + "/v3"
    return url.removesuffix("/graphql")


class GitHubClient:
    def __init__(self, token: str, endpoint: str = "https://api.github.com/graphql", *,
                 http: httpx.Client | None = None, timeout: float = 60.0,
                 clock: Callable[[], datetime] | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_inline_wait: float = 0.0, transient_retries: int = 3, reserve_points: int = 0) -> None:
        if not token or not token.strip():
            raise ValueError("a GitHub token is required (a personal access token or an app installation token)")
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"the GitHub GraphQL endpoint must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint
        self._token = token.strip()
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self.max_inline_wait = max_inline_wait
        self.transient_retries = transient_retries
        self.reserve_points = reserve_points
        self.rate_limit: RateLimitState | None = None
        self.points_spent = 0
        self.requests_sent = 0
        self.page_sizes: dict[str, int] = {}
        # for the run metrics: throttled answers, seconds slept through them, retries, halvings
        self.rate_limit_hits = 0
        self.waited_seconds = 0.0
        self.retries = 0
        self.page_shrinks = 0
        self._secondary_hits = 0

    def __repr__(self) -> str:
        return f"GitHubClient(endpoint={self.endpoint!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/vnd.github+json",
                "User-Agent": "conveyor-etl"}

    # ---- one request ---------------------------------------------------------------------------
    def execute(self, query: str, variables: dict[str, Any] | None = None) -> Answer:
        """Runs query file `query` (rate limits, permission and query errors raised typed;
        transient 500/503/network errors retried; 502/504 and resource limits are GitHubServerError
        here -- use execute_paged for queries that take `$pageSize`)."""
        try:
            return self._execute(query, dict(variables or {}))
        except _Shrink as shrink:
            raise GitHubServerError(f"GitHub query {operation_name(query)} failed: {shrink.reason}") from None

    def _execute(self, query: str, variables: dict[str, Any]) -> Answer:
        operation = operation_name(query)
        attempt = 0
        while True:
            self._check_budget()
            try:
                response = self._http.post(self.endpoint, headers=self._headers,
                                           json={"query": load_query(query), "variables": variables,
                                                 "operationName": operation})
            except httpx.TransportError as exc:
                attempt = self._retry_or_raise(attempt, operation, f"network error: {type(exc).__name__}: {exc}")
                continue
            self.requests_sent += 1
            body = _json(response)
            decision = decide_throttle(response.status_code, response.headers, body, self.clock(), self._secondary_hits)
            if decision is not None:
                self._throttled(decision, operation)
                continue
            self._secondary_hits = 0
            if response.status_code == 401 or response.status_code == 403:
                raise GitHubPermissionError(response.status_code, permission_reason(body))
            if response.status_code in SHRINK_STATUSES:
                raise _Shrink(f"HTTP {response.status_code}")
            if response.status_code in RETRY_STATUSES or response.status_code >= 500:
                attempt = self._retry_or_raise(attempt, operation, f"HTTP {response.status_code}")
                continue
            if response.status_code != 200 or not isinstance(body, dict):
                raise GitHubServerError(f"GitHub query {operation}: unexpected HTTP {response.status_code}: "
                                        f"{str(body)[:300]}")
            answer = self._answer(query, operation, variables, body, response.headers)
            answer.text = response.text
            return answer

    def _answer(self, query: str, operation: str, variables: dict[str, Any], body: dict[str, Any],
                headers: httpx.Headers) -> Answer:
        data = body.get("data") or {}
        state = RateLimitState.from_graphql(data.get("rateLimit")) or RateLimitState.from_headers(headers)
        if state is not None:
            self.rate_limit = state
            self.points_spent += state.cost
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if any(e.get("type") == "RESOURCE_LIMITS_EXCEEDED" or "resource limits" in str(e.get("message", "")).lower()
               for e in errors):
            raise _Shrink("resource limits exceeded")
        if errors:
            denied = [e for e in errors if e.get("type") in PERMISSION_TYPES]
            if denied:
                raise GitHubPermissionError(403, "; ".join(str(e.get("message")) for e in denied))
            raise GitHubQueryError(operation, errors)
        log.debug("GITHUB_QUERY %s cost=%s remaining=%s", operation, state.cost if state else None,
                  state.remaining if state else None)
        return Answer(query, variables, data, body, state)

    def _check_budget(self) -> None:
        """Parks before sending when the last answer said the budget is spent."""
        state, now = self.rate_limit, self.clock()
        if state is not None and state.remaining <= self.reserve_points and state.reset_at > now:
            decision = ParkDecision(state.reset_at, "primary",
                                    f"{state.remaining} of {state.limit} points left (reserve {self.reserve_points})")
            self._throttled(decision, "next query")

    def _throttled(self, decision: ParkDecision, operation: str) -> None:
        if decision.kind == "secondary":
            self._secondary_hits += 1
        self.rate_limit_hits += 1
        wait = decision.seconds_from(self.clock())
        log.warning("GITHUB_RATE_LIMITED %s kind=%s resume_at=%s", operation, decision.kind, decision.resume_at.isoformat())
        if wait > self.max_inline_wait:
            raise GitHubRateLimited(decision)
        self.sleep(wait)
        self.waited_seconds += wait
        if decision.kind == "primary" and self.rate_limit is not None and self.rate_limit.reset_at <= self.clock():
            self.rate_limit = None  # the window has reset

    def _retry_or_raise(self, attempt: int, operation: str, reason: str) -> int:
        if attempt >= self.transient_retries:
            raise GitHubServerError(f"GitHub query {operation} failed {attempt + 1} times: {reason}")
        log.warning("GITHUB_RETRY %s attempt=%d reason=%s", operation, attempt + 1, reason)
        self.retries += 1
        self.sleep(min(10.0, 0.5 * 2 ** attempt))
        return attempt + 1

    # ---- paged requests ----------------------------------------------------------------------------
    def execute_paged(self, query: str, variables: dict[str, Any], *, max_page_size: int | None = None) -> Answer:
        """Runs a query that takes `$pageSize`: at the remembered size for this query (the
        documented maximum at first), halving on 502/504/resource limits, doubling back after a
        success. Gives up with GitHubServerError when a page of 1 still fails."""
        ceiling = max_page_size or MAX_PAGE_SIZE
        size = min(ceiling, self.page_sizes.get(query, ceiling))
        while True:
            try:
                answer = self._execute(query, {**variables, "pageSize": size})
            except _Shrink as shrink:
                if size == 1:
                    raise GitHubServerError(f"GitHub query {operation_name(query)} failed even with pages of 1: "
                                            f"{shrink.reason}") from None
                log.warning("GITHUB_PAGE_SHRINK %s %d -> %d (%s)", operation_name(query), size, max(1, size // 2), shrink.reason)
                size = max(1, size // 2)
                self.page_sizes[query] = size
                self.page_shrinks += 1
                continue
            answer.page_size = size
            self.page_sizes[query] = min(ceiling, size * 2)
            return answer

    # ---- test connection ----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionReport:
        """Who the token is, its OAuth scopes (REST `GET /user`, X-OAuth-Scopes) and the GraphQL
        budget left (`rateLimit`)."""
        try:
            response = self._http.get(f"{rest_base(self.endpoint)}/user", headers=self._headers)
        except httpx.TransportError as exc:
            raise GitHubServerError(f"cannot reach GitHub at {rest_base(self.endpoint)}: {exc}") from exc
        body = _json(response)
        if response.status_code in (401, 403):
            decision = decide_throttle(response.status_code, response.headers, body, self.clock())
            if decision is not None:
                raise GitHubRateLimited(decision)
            raise GitHubPermissionError(response.status_code, permission_reason(body))
        if response.status_code != 200 or not isinstance(body, dict):
            raise GitHubServerError(f"GitHub GET /user answered HTTP {response.status_code}")
        scopes = tuple(s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s.strip())
        viewer = self.execute("viewer")
        return ConnectionReport(login=viewer.data["viewer"]["login"], scopes=scopes, rate_limit=viewer.rate_limit)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:1000]
