"""A JobFilter as SQL conditions and parameters, the same way on both engines.

Each engine lists its conditions in `queries/job_filter.sql`; this module decides which apply and
what their parameters are (the LIKE pattern, the chain root a token stands for)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from conveyor.store.base import JobFilter

TimeParam = Callable[[datetime], Any]
ListParam = Callable[[list[str]], Any]


def conditions(text: str) -> dict[str, str]:
    """The "name: condition" lines of a job_filter.sql file."""
    found = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("--"):
            name, _, condition = line.partition(": ")
            found[name.strip()] = condition.strip()
    return found


def chain_root(token: str) -> str | None:
    """The job id a root token (32 hex digits) stands for, else None. A job that starts its own
    chain stores token NULL (its token is its id's hex)."""
    if len(token) != 32:
        return None
    try:
        job_id = uuid.UUID(hex=token)
    except ValueError:
        return None
    return str(job_id) if job_id.hex == token else None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def where(
    f: JobFilter, sql: dict[str, str], *, time: TimeParam, array: ListParam, before: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(condition joined with AND, or "1 = 1"; its parameters)."""
    parts: list[str] = []
    params: dict[str, Any] = {}

    def use(name: str, value: Any, condition: str | None = None) -> None:
        parts.append(sql[condition or name])
        params[name] = value

    if f.states:
        use("states", array([str(s) for s in f.states]))
    for name in ("queue", "task", "tenant"):
        if getattr(f, name) is not None:
            use(name, getattr(f, name))
    if f.token is not None:
        root = chain_root(f.token)
        use("token", f.token, "token" if root is None else "chain_root")
        if root is not None:
            params["chain_root"] = root
    if f.parent_id:
        use("parent_id", f.parent_id)
    if f.error_contains:
        use("error_contains", "%" + f.error_contains.replace("%", r"\%").replace("_", r"\_") + "%")
    if f.created_after:
        use("created_after", time(f.created_after))
    if f.created_before:
        use("created_before", time(f.created_before))
    if before is not None:
        use("before", before)
    return " AND ".join(parts) or "1 = 1", params
