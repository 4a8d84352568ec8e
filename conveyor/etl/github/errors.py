"""What can go wrong talking to GitHub, and the rate-limit decision: park until a moment rather
than sleep through it.

Decision order (GitHub's documented behaviour): a `retry-after` header wins; else
`x-ratelimit-remaining: 0` means wait until `x-ratelimit-reset`; else a secondary limit waits at
least a minute, doubling per consecutive hit up to a cap. A 403 with none of these signs (no
`retry-after`, remaining above 0, no rate-limit message) is a permission error, never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from httpx import Headers

SECONDARY_FIRST_WAIT = 60.0
SECONDARY_MAX_WAIT = 15 * 60.0


class GitHubError(Exception):
    """Base of every error the GitHub client raises."""


class GitHubPermissionError(GitHubError):
    """401, a plain 403, or GraphQL FORBIDDEN/INSUFFICIENT_SCOPES: retrying will not help; the
    token or its access must change. `reason` is GitHub's own message."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        hint = ("check the integration's token: it may be wrong, expired or revoked" if status == 401 else
                "the token lacks access to this owner or repository (scopes, SSO authorisation or the "
                "organisation's app restrictions)")
        super().__init__(f"GitHub refused the request (HTTP {status}): {reason} -- {hint}")


class GitHubQueryError(GitHubError):
    """The GraphQL answer carried errors (other than rate limits and resource limits)."""

    def __init__(self, operation: str, errors: list[dict[str, Any]]) -> None:
        self.operation, self.errors = operation, errors
        self.types = tuple(str(e.get("type", "")) for e in errors)
        messages = "; ".join(f"{e.get('type') or 'ERROR'}: {e.get('message')}" for e in errors[:5])
        super().__init__(f"GitHub query {operation} failed: {messages}")


class GitHubServerError(GitHubError):
    """5xx or network failures that outlived the retries (and page-size halving down to 1)."""


class IncompleteConnection(GitHubError):
    """Fewer or more nested nodes were collected than GitHub's totalCount says exist."""

    def __init__(self, owner: str, connection: str, expected: int, collected: int) -> None:
        self.owner, self.connection, self.expected, self.collected = owner, connection, expected, collected
        super().__init__(f"{owner}: collected {collected} {connection} but GitHub's totalCount is {expected}; "
                         "refusing to store an incomplete record (it is retried whole on the next attempt)")


@dataclass(frozen=True)
class ParkDecision:
    """Stop calling GitHub until `resume_at`: the job should park (status `waiting`, `resume_at`)
    and release its worker rather than sleep."""

    resume_at: datetime
    kind: Literal["primary", "secondary"]
    reason: str

    def seconds_from(self, now: datetime) -> float:
        return max(0.0, (self.resume_at - now).total_seconds())


class GitHubRateLimited(GitHubError):
    def __init__(self, decision: ParkDecision) -> None:
        self.decision = decision
        super().__init__(f"GitHub {decision.kind} rate limit: {decision.reason}; resume at {decision.resume_at.isoformat()}")


@dataclass(frozen=True)
class RateLimitState:
    """GitHub's `rateLimit` object of an answer (or the equivalent x-ratelimit-* headers)."""

    limit: int
    remaining: int
    used: int
    reset_at: datetime
    cost: int = 0
    node_count: int = 0

    @classmethod
    def from_graphql(cls, value: dict[str, Any] | None) -> RateLimitState | None:
        if not value or value.get("resetAt") is None:
            return None
        return cls(limit=int(value.get("limit") or 0), remaining=int(value.get("remaining") or 0),
                   used=int(value.get("used") or 0), reset_at=parse_time(value["resetAt"]),
                   cost=int(value.get("cost") or 0), node_count=int(value.get("nodeCount") or 0))

    @classmethod
    def from_headers(cls, headers: Headers) -> RateLimitState | None:
        try:
            return cls(limit=int(headers["x-ratelimit-limit"]), remaining=int(headers["x-ratelimit-remaining"]),
                       used=int(headers.get("x-ratelimit-used", 0)),
                       reset_at=datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC))
        except (KeyError, ValueError):
            return None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def graphql_rate_limited(body: Any) -> bool:
    """GitHub's primary-limit answer on an HTTP 200 (seen as RATE_LIMITED and as RATE_LIMIT /
    graphql_rate_limit)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return any(isinstance(e, dict) and (e.get("type") in ("RATE_LIMITED", "RATE_LIMIT") or e.get("code") == "graphql_rate_limit")
               for e in errors or ())


def _message(body: Any) -> str:
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        errors = body.get("errors") or []
        return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    return str(body or "")[:300]


def _retry_after(headers: Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def decide_throttle(status: int, headers: Headers, body: Any, now: datetime, secondary_hits: int = 0) -> ParkDecision | None:
    """The park decision for an answer that is a rate limit, or None when it is not one.
    `secondary_hits` counts the secondary limits met in a row before this one (for the backoff)."""
    message = _message(body)
    primary_200 = status == 200 and graphql_rate_limited(body)
    if not primary_200 and status not in (403, 429):
        return None
    retry_after = _retry_after(headers)
    remaining = headers.get("x-ratelimit-remaining")
    reset = headers.get("x-ratelimit-reset")
    if retry_after is not None:
        kind: Literal["primary", "secondary"] = "primary" if primary_200 or remaining == "0" else "secondary"
        return ParkDecision(now + timedelta(seconds=retry_after), kind, f"retry-after {retry_after:g}s: {message}")
    if primary_200 or remaining == "0":
        if reset is not None and reset.isdigit():
            at = datetime.fromtimestamp(int(reset), UTC)
            return ParkDecision(max(at, now), "primary", f"points exhausted until x-ratelimit-reset: {message}")
        return ParkDecision(now + timedelta(seconds=SECONDARY_FIRST_WAIT), "primary", f"points exhausted: {message}")
    if status == 429 or "rate limit" in message.lower():
        wait = min(SECONDARY_MAX_WAIT, SECONDARY_FIRST_WAIT * 2 ** max(0, secondary_hits))
        return ParkDecision(now + timedelta(seconds=wait), "secondary", f"waiting {wait:g}s: {message}")
    return None  # a plain 403: permission


def permission_reason(body: Any) -> str:
    return _message(body) or "no reason given"
