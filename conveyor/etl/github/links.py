"""Linking pull requests to Jira work items: the Jira keys a PR names in its title, its branch
name or its body, and the PR a Jira dev-status entry points at. Pure functions.

A Jira key is a project key (an uppercase letter, then uppercase letters, digits or underscores:
two or more characters), a hyphen and an issue number without leading zeros: `EX-12`,
`OPS_2-7`. Branch names are matched case-insensitively (`feature/ex-12-login` names EX-12);
titles and bodies only in upper case, so prose such as "utf-8" or "covid-19" is not a key.
Pass `project_keys` (the projects the Jira integration knows) to drop look-alikes such as
`SHA-256` or `ISO-8601`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]+)-([1-9][0-9]*)(?![A-Za-z0-9])")
PULL_URL = re.compile(r"^https?://[^/]+/([^/]+)/([^/]+)/pull/([0-9]+)/?$")


@dataclass(frozen=True)
class JiraKeyLink:
    key: str
    sources: tuple[str, ...]  # where it was found, in order: "title", "branch", "body"


def _keys(text: str | None) -> list[str]:
    return [f"{m.group(1)}-{m.group(2)}" for m in KEY.finditer(text or "")]


def find_jira_keys(*, title: str | None, branch: str | None, body: str | None,
                   project_keys: Collection[str] | None = None) -> list[JiraKeyLink]:
    """The Jira keys a PR names, each once, in order of first appearance (title, then branch,
    then body), with every place it appears."""
    allowed = {p.upper() for p in project_keys} if project_keys is not None else None
    found: dict[str, list[str]] = {}
    for source, keys in (("title", _keys(title)), ("branch", _keys((branch or "").upper())), ("body", _keys(body))):
        for key in keys:
            if allowed is not None and key.rsplit("-", 1)[0] not in allowed:
                continue
            sources = found.setdefault(key, [])
            if source not in sources:
                sources.append(source)
    return [JiraKeyLink(key, tuple(sources)) for key, sources in found.items()]


@dataclass(frozen=True)
class PullRequestRef:
    repository: str  # owner/name
    number: int


def pull_request_from_dev_status(entry: dict[str, Any]) -> PullRequestRef | None:
    """The GitHub PR a Jira dev-status `pullRequests[]` entry points at, or None. The API is
    undocumented, so this reads defensively: the `url` first, else `repositoryName` + `id` ("#42")."""
    url = entry.get("url")
    if isinstance(url, str):
        match = PULL_URL.match(url.strip())
        if match:
            return PullRequestRef(f"{match.group(1)}/{match.group(2)}", int(match.group(3)))
    repository, raw_id = entry.get("repositoryName"), entry.get("id")
    if isinstance(repository, str) and "/" in repository and isinstance(raw_id, str | int):
        digits = str(raw_id).lstrip("#")
        if digits.isdigit():
            return PullRequestRef(repository, int(digits))
    return None
