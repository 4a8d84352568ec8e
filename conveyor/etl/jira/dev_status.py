"""Reading dev-status data defensively: the Development field that gates step 4, and the pull
requests of `dev-status/1.0/issue/detail` (an unsupported API whose shapes vary by integration)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_STATE_COUNT = re.compile(r"pullrequest=\{[^}]*?stateCount=(\d+)")
_OVERALL = re.compile(r"PullRequestOverallDetails\{([^}]*)\}")


def pull_request_count(development_field: Any) -> int | None:
    """Pull requests the issue's Development field announces: 0 for "{}" or empty, None when the
    value cannot be read (then ask dev-status rather than skip the issue)."""
    if development_field in (None, "", "{}", {}):
        return 0
    if isinstance(development_field, Mapping):
        development_field = json.dumps(development_field)
    text = str(development_field)
    marker = text.find("json=")
    if marker >= 0:
        try:
            cached = json.loads(text[marker + 5:-1] if text.endswith("}") else text[marker + 5:])
            overall = cached["cachedValue"]["summary"]["pullrequest"]["overall"]
            return int(overall.get("count", 0))
        except (ValueError, KeyError, TypeError):
            pass
    match = _STATE_COUNT.search(text)
    if match:
        return int(match.group(1))
    match = _OVERALL.search(text)
    if match:
        counts = dict(part.strip().split("=", 1) for part in match.group(1).split(",") if "=" in part)
        try:
            return sum(int(v) for k, v in counts.items() if k.endswith("Count"))
        except ValueError:
            return None
    return None if "pullrequest" in text.lower() else 0


def instance_types(summary_body: Mapping[str, Any]) -> list[str]:
    """The `applicationType`s to ask for pull requests: byInstanceType keys with a count."""
    by_type = (((summary_body.get("summary") or {}).get("pullrequest") or {}).get("byInstanceType") or {})
    return [name for name, entry in by_type.items() if (entry or {}).get("count", 0) > 0]


@dataclass(frozen=True, slots=True)
class PullRequestLink:
    """A pull request linked to an issue, as the `dev-status` detail shows it."""

    id: str
    url: str
    title: str
    status: str            # OPEN | MERGED | DECLINED
    repository: str
    source_branch: str | None
    destination_branch: str | None
    author: str | None
    last_update: str | None


def _branch(value: Any) -> str | None:
    if isinstance(value, Mapping):
        inner = value.get("branch", value.get("name"))
        return _branch(inner) if isinstance(inner, Mapping) else (None if inner is None else str(inner))
    return None if value is None else str(value)


def pull_requests(detail_body: Mapping[str, Any]) -> list[PullRequestLink]:
    """The pull requests of a `detail?dataType=pullrequest` answer, whatever the integration."""
    out = []
    for entry in detail_body.get("detail") or []:
        for pr in entry.get("pullRequests") or []:
            author = pr.get("author")
            out.append(PullRequestLink(
                id=str(pr.get("id", "")), url=str(pr.get("url", "")), title=str(pr.get("name", "")),
                status=str(pr.get("status", "")).upper(),
                repository=str(pr.get("repositoryName") or pr.get("repositoryUrl") or ""),
                source_branch=_branch(pr.get("source")), destination_branch=_branch(pr.get("destination")),
                author=author.get("name") if isinstance(author, Mapping) else (author and str(author)),
                last_update=pr.get("lastUpdate")))
    return out
