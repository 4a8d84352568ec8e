"""Golden tests of the workflow metrics on hand-worked fixtures (workflow-metrics.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.etl.jira.changelog import format_jira_datetime, status_changes
from conveyor.etl.jira.metrics import (
    UnmappedStatusError,
    WorkflowStep,
    compute_workflow_metrics,
    default_status_mapping,
    default_workflow_step,
    metrics_from_histories,
)

S = WorkflowStep
DAY = datetime(2026, 1, 5, tzinfo=UTC)

# Global statuses as `/status` returns them (category objects with real keys).
GLOBAL = [
    {"id": "10000", "name": "Backlog", "statusCategory": {"key": "new"}},
    {"id": "10001", "name": "To Do", "statusCategory": {"key": "new"}},
    {"id": "3", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    {"id": "10002", "name": "In Review", "statusCategory": {"key": "indeterminate"}},
    {"id": "10003", "name": "Done", "statusCategory": {"key": "done"}},
    {"id": "10004", "name": "Won't Do", "statusCategory": {"key": "done"}},
]
# A team-managed project's own statuses as `/statuses/search` returns them: same names, other ids.
TEAM = [
    {"id": "10100", "name": "To Do", "statusCategory": "TODO"},
    {"id": "10101", "name": "In Progress", "statusCategory": "IN_PROGRESS"},
    {"id": "10102", "name": "In Review", "statusCategory": "IN_PROGRESS"},
    {"id": "10103", "name": "Done", "statusCategory": "DONE"},
]
NAMES = {s["id"]: s["name"] for s in GLOBAL + TEAM}
MAPPING = default_status_mapping(GLOBAL + TEAM)


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


def histories(start_id: str, moves: list[tuple[datetime, str]], *, history_id: int = 20000) -> list[dict]:
    """Changelog histories in the inline shape (newest first), one status item each."""
    out, current = [], start_id
    for i, (when, to_id) in enumerate(moves):
        out.append({"id": str(history_id + i), "created": format_jira_datetime(when, UTC),
                    "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                               "from": current, "fromString": NAMES[current],
                               "to": to_id, "toString": NAMES[to_id]}]})
        current = to_id
    return list(reversed(out))


def metrics(start_id: str, moves: list[tuple[datetime, str]], created: datetime | None = None, mapping=MAPPING):
    current = moves[-1][1] if moves else start_id
    return metrics_from_histories(created or at(9), histories(start_id, moves), current, mapping)


def test_default_mapping_follows_category_and_name_rules() -> None:
    assert MAPPING == {"10000": S.BACKLOG, "10001": S.TODO, "3": S.IN_PROGRESS, "10002": S.IN_REVIEW,
                       "10003": S.DONE, "10004": S.DONE, "10100": S.TODO, "10101": S.IN_PROGRESS,
                       "10102": S.IN_REVIEW, "10103": S.DONE}
    # Name rules apply only inside their category; "Backlog" must be the whole (trimmed) name.
    assert default_workflow_step("done", "Reviewed") is S.DONE
    assert default_workflow_step("new", "  backlog ") is S.BACKLOG
    assert default_workflow_step("new", "Product Backlog") is S.TODO
    assert default_workflow_step("indeterminate", "Code REVIEW") is S.IN_REVIEW
    with pytest.raises(ValueError, match="unknown status category 'blue'"):
        default_workflow_step("blue", "X")


def test_worked_example_of_the_definitions() -> None:
    m = metrics("10000", [(at(10), "10001"), (at(11), "3"), (at(12), "10002"), (at(12, 30), "3"),
                          (at(13), "10003"), (at(14), "3"), (at(15), "10003")])
    assert m.as_columns() == {
        "work_first_committed_at": at(10), "work_first_started_at": at(11),
        "work_last_started_at": at(14), "total_work_starts": 2,
        "work_first_completed_at": at(13), "work_last_completed_at": at(15),
        "total_completions": 2, "total_backlog_returns": 0,
        "total_work_time_seconds": 9_000, "total_review_time_seconds": 1_800,
        "total_cycle_time_seconds": 14_400, "total_lead_time_seconds": 18_000,
        "rework_indicator": True, "direct_completion": False, "workflow_complexity_score": 9,
    }


def test_no_start_open_issue_counts_zero_and_nulls() -> None:
    m = metrics("10000", [])
    assert m.as_columns() == {
        "work_first_committed_at": None, "work_first_started_at": None, "work_last_started_at": None,
        "total_work_starts": 0, "work_first_completed_at": None, "work_last_completed_at": None,
        "total_completions": 0, "total_backlog_returns": 0, "total_work_time_seconds": 0,
        "total_review_time_seconds": 0, "total_cycle_time_seconds": None, "total_lead_time_seconds": None,
        "rework_indicator": False, "direct_completion": False, "workflow_complexity_score": 0,
    }
    # Created in To Do and never started: creation is the commitment, nothing else happened.
    todo = metrics("10001", [])
    assert todo.work_first_committed_at == at(9) and todo.total_work_starts == 0


def test_done_without_start_has_no_cycle_time_but_a_lead_time() -> None:
    m = metrics("10001", [(at(10), "10003")])
    assert m.work_first_started_at is None and m.total_cycle_time_seconds is None
    assert m.total_lead_time_seconds == 3_600  # from the commitment at creation (To Do)
    assert m.direct_completion is True and m.total_completions == 1


def test_wont_do_straight_from_backlog() -> None:
    m = metrics("10000", [(at(11, 15), "10004")])
    assert m.work_first_committed_at is None and m.work_first_started_at is None
    assert m.work_first_completed_at == m.work_last_completed_at == at(11, 15)
    assert m.total_completions == 1 and m.total_backlog_returns == 0
    assert m.total_cycle_time_seconds is None
    assert m.total_lead_time_seconds == 8_100  # no commit point: from creation at 09:00
    assert m.direct_completion is True and m.rework_indicator is False
    assert m.workflow_complexity_score == 1


def test_reopen_then_back_to_backlog_and_still_open() -> None:
    m = metrics("10001", [(at(10), "3"), (at(11), "10003"), (at(12), "10001"), (at(13), "10000"),
                          (at(14), "3")])
    assert m.total_work_starts == 2 and m.work_last_started_at == at(14)
    assert m.total_completions == 1 and m.work_last_completed_at == at(11)
    assert m.total_backlog_returns == 1
    assert m.total_work_time_seconds == 3_600  # the interval still open at 14:00 counts nothing
    assert m.total_cycle_time_seconds is None and m.total_lead_time_seconds is None  # not done now
    assert m.rework_indicator is True and m.direct_completion is False
    assert m.workflow_complexity_score == 5 + 1 + 2 * 1


def test_created_in_progress_is_a_work_start_at_creation() -> None:
    m = metrics("3", [(at(10), "10002"), (at(10, 45), "10003")])
    assert m.work_first_started_at == m.work_last_started_at == at(9)
    assert m.total_work_starts == 1 and m.work_first_committed_at is None
    assert m.total_work_time_seconds == 3_600 and m.total_review_time_seconds == 2_700
    assert m.total_cycle_time_seconds == 6_300 and m.total_lead_time_seconds == 6_300
    assert m.direct_completion is False and m.rework_indicator is False


def test_created_in_done_counts_one_completion() -> None:
    m = metrics("10003", [])
    assert m.total_completions == 1 and m.work_first_completed_at == at(9)
    assert m.total_cycle_time_seconds is None and m.total_lead_time_seconds == 0
    assert m.direct_completion is True


def test_moves_between_statuses_of_one_step_end_and_start_intervals() -> None:
    # Team-managed "In Progress" → global "In Progress" (both IN_PROGRESS): no new work start,
    # but both intervals count toward work time.
    m = metrics("10100", [(at(10), "10101"), (at(11), "3"), (at(11, 30), "10103")])
    assert m.total_work_starts == 1 and m.total_work_time_seconds == 5_400
    assert m.workflow_complexity_score == 3


def test_team_managed_same_named_statuses_are_told_apart_by_id() -> None:
    moves_classic = [(at(10), "10001"), (at(11), "3"), (at(12), "10002"), (at(13), "10003")]
    moves_team = [(at(10), "10100"), (at(11), "10101"), (at(12), "10102"), (at(13), "10103")]
    classic, team = metrics("10000", moves_classic), metrics("10100", moves_team)
    assert team.total_review_time_seconds == classic.total_review_time_seconds == 3_600
    assert team.work_first_committed_at == at(9)  # created in the team's To Do: no Backlog there
    # A tenant override on the team's own "In Review" changes only the team-managed issue.
    override = {**MAPPING, "10102": S.IN_PROGRESS}
    assert metrics("10000", moves_classic, mapping=override) == classic
    changed = metrics("10100", moves_team, mapping=override)
    assert changed.total_review_time_seconds == 0 and changed.total_work_time_seconds == 7_200


def test_names_in_the_changelog_are_ignored() -> None:
    hist = histories("10001", [(at(10), "3"), (at(11), "10003")])
    for h in hist:  # a rename after the fact: the strings lie, the ids do not
        for item in h["items"]:
            item["fromString"], item["toString"] = "Backlog", "Backlog"
    m = metrics_from_histories(at(9), hist, "10003", MAPPING)
    assert m.total_work_time_seconds == 3_600 and m.total_backlog_returns == 0


def test_ordering_by_instant_then_history_id_and_epoch_dates() -> None:
    # bulkfetch dates histories in epoch seconds; two changes in the same second order by id.
    hist = [
        {"id": "31", "created": int(at(10).timestamp()), "items": [
            {"field": "status", "fieldId": "status", "from": "3", "to": "10003"}]},
        {"id": "30", "created": int(at(10).timestamp()), "items": [
            {"field": "status", "fieldId": "status", "from": "10001", "to": "3"}]},
        {"id": "29", "created": "2026-01-05T20:30:00.000+1100", "items": [  # 09:30 UTC
            {"field": "assignee", "fieldId": "assignee", "from": None, "to": "abc"}]},
    ]
    assert [c.history_id for c in status_changes(hist)] == ["30", "31"]
    m = metrics_from_histories("2026-01-05T09:00:00.000+0000", hist, "10003", MAPPING)
    assert m.total_work_starts == 1 and m.total_work_time_seconds == 0
    assert m.total_cycle_time_seconds == 0 and m.workflow_complexity_score == 2


def test_unmapped_status_is_a_clear_error() -> None:
    with pytest.raises(UnmappedStatusError, match="status id\\(s\\) 777, 888"):
        metrics_from_histories(at(9), histories("10001", []) + [
            {"id": "1", "created": format_jira_datetime(at(10)), "items": [
                {"fieldId": "status", "from": "10001", "to": "777"}]},
            {"id": "2", "created": format_jira_datetime(at(11)), "items": [
                {"fieldId": "status", "from": "777", "to": "888"}]}], "888", MAPPING)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_workflow_metrics(datetime(2026, 1, 5), [], "10001", MAPPING)
