"""Workflow metrics of one work item, exactly as docs/workflow-metrics.md defines them.

Pure functions: a complete changelog (its status changes by status id), the issue's creation
instant and current status, and a status-id → workflow-step mapping go in; the fifteen metric
columns come out. Nothing here reads names from the changelog: team-managed projects have their
own statuses whose names repeat the global ones, so only ids are trustworthy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from conveyor.etl.jira.changelog import StatusChange, parse_jira_datetime, status_changes


class WorkflowStep(StrEnum):
    BACKLOG = "BACKLOG"
    TODO = "TODO"
    IN_PROGRESS = "IN_PROGRESS"
    IN_REVIEW = "IN_REVIEW"
    DONE = "DONE"


ACTIVE_STEPS = frozenset({WorkflowStep.IN_PROGRESS, WorkflowStep.IN_REVIEW})

# Status category keys as real payloads spell them (`/status`), and as `/statuses/search` does.
_CATEGORY_STEP = {
    "new": WorkflowStep.TODO, "todo": WorkflowStep.TODO, "to_do": WorkflowStep.TODO,
    "indeterminate": WorkflowStep.IN_PROGRESS, "in_progress": WorkflowStep.IN_PROGRESS,
    "done": WorkflowStep.DONE,
}


class UnmappedStatusError(ValueError):
    """A status id in a changelog or an issue has no workflow step in the mapping."""

    def __init__(self, status_ids: Iterable[str]) -> None:
        self.status_ids = sorted(set(status_ids))
        super().__init__(
            f"no workflow step is mapped for status id(s) {', '.join(self.status_ids)}: "
            "add them to the status mappings (or re-run the statuses step) and transform again")


def default_workflow_step(category: str, name: str) -> WorkflowStep:
    """The default step of a status from its category key and name (workflow-metrics.md)."""
    key = category.strip().lower().replace(" ", "_")
    step = _CATEGORY_STEP.get(key)
    if step is None:
        raise ValueError(f"unknown status category {category!r} for status {name!r}: "
                         "expected new/indeterminate/done (or TODO/IN_PROGRESS/DONE)")
    if step is WorkflowStep.TODO and name.strip().lower() == "backlog":
        return WorkflowStep.BACKLOG
    if step is WorkflowStep.IN_PROGRESS and "review" in name.lower():
        return WorkflowStep.IN_REVIEW
    return step


def status_category_key(status: Mapping[str, Any]) -> str:
    """The category of a status payload of either endpoint: `/status` nests an object with a
    `key`; `/statuses/search` gives a bare string such as `IN_PROGRESS`."""
    category = status.get("statusCategory")
    if isinstance(category, Mapping):
        return str(category.get("key", ""))
    return str(category or "")


def default_status_mapping(statuses: Iterable[Mapping[str, Any]]) -> dict[str, WorkflowStep]:
    """Status id → default step for status payloads of `/status` or `/statuses/search`."""
    return {str(s["id"]): default_workflow_step(status_category_key(s), str(s.get("name", "")))
            for s in statuses}


@dataclass(frozen=True, slots=True)
class WorkflowMetrics:
    work_first_committed_at: datetime | None
    work_first_started_at: datetime | None
    work_last_started_at: datetime | None
    total_work_starts: int
    work_first_completed_at: datetime | None
    work_last_completed_at: datetime | None
    total_completions: int
    total_backlog_returns: int
    total_work_time_seconds: int
    total_review_time_seconds: int
    total_cycle_time_seconds: int | None
    total_lead_time_seconds: int | None
    rework_indicator: bool
    direct_completion: bool
    workflow_complexity_score: int

    def as_columns(self) -> dict[str, Any]:
        """The metric columns of `work_items`, by name."""
        return asdict(self)


def _seconds(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    return delta.days * 86_400 + delta.seconds  # floor to whole seconds, exact for negatives too


@dataclass(slots=True)
class _Entry:
    """The issue entering a step: at creation (`from_step` None) or by a status change."""

    at: datetime
    step: WorkflowStep
    from_step: WorkflowStep | None


def compute_workflow_metrics(
    created: datetime,
    changes: Sequence[StatusChange],
    current_status_id: str,
    step_of: Mapping[str, WorkflowStep],
) -> WorkflowMetrics:
    """The fifteen metrics of one issue from its complete, ordered status changes.

    `created` must be timezone-aware. `current_status_id` is the issue's status now; it is the
    initial status when there are no changes. Raises UnmappedStatusError naming every status id
    the mapping lacks, rather than guessing a step.
    """
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    created = created.astimezone(UTC)
    initial_id = changes[0].from_id if changes and changes[0].from_id is not None else current_status_id
    needed = {initial_id, current_status_id} | {c.to_id for c in changes if c.to_id is not None}
    missing = [s for s in needed if s not in step_of]
    if missing:
        raise UnmappedStatusError(missing)

    entries = [_Entry(created, step_of[initial_id], None)]
    for change in changes:
        if change.to_id is None:
            raise ValueError(f"status change in history {change.history_id} has no target status id")
        entries.append(_Entry(change.at, step_of[change.to_id], entries[-1].step))

    def first(pred: Any) -> datetime | None:
        return next((e.at for e in entries if pred(e)), None)

    committed = first(lambda e: e.step is WorkflowStep.TODO)
    first_started = first(lambda e: e.step in ACTIVE_STEPS)
    first_completed = first(lambda e: e.step is WorkflowStep.DONE)
    starts = [e.at for e in entries if e.step in ACTIVE_STEPS and e.from_step not in ACTIVE_STEPS]
    completions = [e.at for e in entries if e.step is WorkflowStep.DONE and e.from_step is not WorkflowStep.DONE]
    backlog_returns = sum(1 for e in entries[1:]
                          if e.step is WorkflowStep.BACKLOG and e.from_step is not WorkflowStep.BACKLOG)
    reopens = sum(1 for e in entries[1:]
                  if e.from_step is WorkflowStep.DONE and e.step is not WorkflowStep.DONE)

    # Time per ended interval: each entry's step lasts until the next entry.
    work_time = review_time = 0
    for entry, following in zip(entries, entries[1:], strict=False):
        if entry.step is WorkflowStep.IN_PROGRESS:
            work_time += max(0, _seconds(following.at, entry.at))
        elif entry.step is WorkflowStep.IN_REVIEW:
            review_time += max(0, _seconds(following.at, entry.at))

    last_completed = completions[-1] if completions else None
    done_now = step_of[current_status_id] is WorkflowStep.DONE
    cycle: int | None = None
    lead: int | None = None
    if done_now and last_completed is not None:
        if first_started is not None and _seconds(last_completed, first_started) >= 0:
            cycle = _seconds(last_completed, first_started)
        commit_candidates = [t for t in (committed, first_started) if t is not None]
        commit_point = min(commit_candidates) if commit_candidates else created
        lead_seconds = _seconds(last_completed, commit_point)
        lead = lead_seconds if lead_seconds >= 0 else None

    direct = False
    if first_completed is not None:
        first_done = next(i for i, e in enumerate(entries) if e.step is WorkflowStep.DONE)
        direct = not any(e.step in ACTIVE_STEPS for e in entries[:first_done])

    return WorkflowMetrics(
        work_first_committed_at=committed,
        work_first_started_at=first_started,
        work_last_started_at=starts[-1] if starts else None,
        total_work_starts=len(starts),
        work_first_completed_at=first_completed,
        work_last_completed_at=last_completed,
        total_completions=len(completions),
        total_backlog_returns=backlog_returns,
        total_work_time_seconds=work_time,
        total_review_time_seconds=review_time,
        total_cycle_time_seconds=cycle,
        total_lead_time_seconds=lead,
        rework_indicator=reopens > 0 or len(starts) > 1,
        direct_completion=direct,
        workflow_complexity_score=len(changes) + backlog_returns + 2 * reopens,
    )


def metrics_from_histories(
    created: datetime | str,
    histories: Iterable[Mapping[str, Any]],
    current_status_id: str,
    step_of: Mapping[str, WorkflowStep],
) -> WorkflowMetrics:
    """compute_workflow_metrics on raw changelog histories (any endpoint's shape, any order)."""
    created_at = parse_jira_datetime(created) if isinstance(created, str) else created
    return compute_workflow_metrics(created_at, status_changes(histories), str(current_status_id), step_of)
