"""Jira changelog histories in one shape, whichever endpoint they came from, and the status
changes read from them.

The inline changelog of `search/jql` is newest first and ISO-dated, `/issue/{id}/changelog` is
oldest first, and `changelog/bulkfetch` may date a history in epoch seconds. Everything here
returns histories oldest first with ISO `created` strings, so the transform and the metrics see
one format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Epoch values above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000


def parse_jira_datetime(value: str | int | float) -> datetime:
    """An aware datetime from Jira's `2026-01-05T09:12:00.000+0000`, any ISO 8601 variant, or
    epoch seconds / milliseconds. Raises ValueError naming the value when it is none of these."""
    if isinstance(value, bool):
        raise ValueError(f"not a Jira datetime: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return parse_jira_datetime(int(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a Jira datetime: {value!r}") from None
        if parsed.tzinfo is None:
            raise ValueError(f"Jira datetime without a UTC offset: {value!r}")
        return parsed
    raise ValueError(f"not a Jira datetime: {value!r}")


def format_jira_datetime(moment: datetime, tz: Any = UTC) -> str:
    """Jira's own rendering: milliseconds and an offset without a colon."""
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _id_order(history_id: Any) -> tuple[int, str]:
    text = str(history_id)
    return (int(text), text) if text.isdigit() else (2**63, text)


def normalize_history(history: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one history with `id` as a string and `created` as a Jira ISO string."""
    out = dict(history)
    out["id"] = str(history.get("id", ""))
    created = history.get("created")
    if created is None:
        raise ValueError(f"changelog history {out['id']!r} has no 'created'")
    if not isinstance(created, str) or created.strip().lstrip("-").isdigit():
        out["created"] = format_jira_datetime(parse_jira_datetime(created))
    out["items"] = list(history.get("items") or [])
    return out


def history_sort_key(history: Mapping[str, Any]) -> tuple[datetime, tuple[int, str]]:
    return parse_jira_datetime(history["created"]), _id_order(history.get("id"))


def merge_histories(*groups: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """All histories of the groups, each id once (the later group wins), oldest first, then by id."""
    by_id: dict[str, dict[str, Any]] = {}
    for group in groups:
        for history in group:
            normal = normalize_history(history)
            by_id[normal["id"]] = normal
    return sorted(by_id.values(), key=history_sort_key)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status transition: the changelog item's `from` and `to` status ids."""

    at: datetime
    from_id: str | None
    to_id: str | None
    history_id: str


def is_status_item(item: Mapping[str, Any]) -> bool:
    field_id = item.get("fieldId")
    if field_id is not None:
        return field_id == "status"
    return item.get("field") == "status" and item.get("fieldtype", "jira") == "jira"


def status_changes(histories: Iterable[Mapping[str, Any]]) -> list[StatusChange]:
    """Every status change in the histories, ordered by instant, then by history id."""
    ordered = sorted((normalize_history(h) for h in histories), key=history_sort_key)
    changes: list[StatusChange] = []
    for history in ordered:
        at = parse_jira_datetime(history["created"]).astimezone(UTC)
        for item in history["items"]:
            if is_status_item(item):
                from_id = item.get("from")
                to_id = item.get("to")
                changes.append(StatusChange(
                    at=at, from_id=None if from_id is None else str(from_id),
                    to_id=None if to_id is None else str(to_id), history_id=history["id"]))
    return changes
