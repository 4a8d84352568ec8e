"""What a GitHub sync needs to know, and where a run finds it.

A run's params are stored in plain JSON (pipeline_runs.params), so they never hold the token.
They name where the settings come from:

* `{"integration_id": ...}` -- an integration of type `github` (conveyor/integrations/providers/
  github.py: the token decrypted only here, in the worker);
* `{"owner": ..., "endpoint": ..., "token_env": "GITHUB_TOKEN", "repositories": [...]}` -- plain
  settings, the token read from the named environment variable of the worker (tests, the demo,
  a one-off sync from the CLI).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import ConveyorError, PermanentError

DEFAULT_ENDPOINT = "https://api.github.com/graphql"


@dataclass(frozen=True)
class GitHubSettings:
    token: str = field(repr=False)
    owner: str
    endpoint: str = DEFAULT_ENDPOINT
    repositories: tuple[str, ...] = ()  # name patterns (fnmatch, case-insensitive); empty: every repository
    pull_request_page_size: int | None = None  # None: the documented maximum (100), halved on 502/504

    def __post_init__(self) -> None:
        if not self.token or not self.token.strip():
            raise ValueError("a GitHub token is required")
        if not self.owner or "/" in self.owner:
            raise ValueError(f"owner must be an organisation or user login, got {self.owner!r}")
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"the GraphQL endpoint must be an http(s) URL, got {self.endpoint!r}")

    def wants(self, name: str) -> bool:
        """Whether repository `name` (without the owner) is in the repository filter."""
        return matches_filter(name, self.repositories)

    @property
    def scope(self) -> str:
        """What a watermark is kept for: the same endpoint, owner and filter."""
        return f"{self.endpoint}|{self.owner.lower()}|{','.join(sorted(self.repositories))}"


def matches_filter(name: str, patterns: Sequence[str]) -> bool:
    """Whether repository `name` matches one of `patterns` (fnmatch, case-insensitive); an empty
    filter takes every repository."""
    return not patterns or any(fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)


def repository_filter(value: Any) -> tuple[str, ...]:
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        value = [v for v in value.replace("\n", ",").split(",")]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"repositories must be a list of names or patterns, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def settings_from_params(database_url: str, tenant: str, params: dict[str, Any]) -> GitHubSettings:
    """The settings a run's params point at; PermanentError (the run fails with the reason) when
    they cannot be had: retrying will not make a missing token appear."""
    try:
        if params.get("integration_id") is not None:
            from conveyor.integrations.providers.github import settings_for_integration

            return settings_for_integration(database_url, tenant, params["integration_id"])
        token_env = str(params.get("token_env") or "GITHUB_TOKEN")
        token = os.environ.get(token_env, "")
        if not token:
            raise ValueError(f"the environment variable {token_env} that should hold the GitHub token is empty "
                             "or unset in this worker")
        return GitHubSettings(token=token, owner=str(params.get("owner") or ""),
                              endpoint=str(params.get("endpoint") or DEFAULT_ENDPOINT),
                              repositories=repository_filter(params.get("repositories")),
                              pull_request_page_size=params.get("pull_request_page_size"))
    except (ValueError, KeyError, LookupError, ConveyorError) as exc:
        raise PermanentError(f"GitHub sync settings: {exc}") from exc


def repository_patterns(database_url: str, tenant: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The repository filter of a run (for stages that load rather than fetch)."""
    if params.get("integration_id") is not None:
        return settings_from_params(database_url, tenant, params).repositories
    return repository_filter(params.get("repositories"))
