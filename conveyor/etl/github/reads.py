"""Reading the GitHub tables for the API and the dashboard: pull requests with filters and keyset
paging, one PR with everything it carries, and the PR metrics per week."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from conveyor.etl.github.tables import (
    github_run_metrics,
    pull_request_comments,
    pull_request_commits,
    pull_request_review_threads,
    pull_request_reviews,
    pull_requests,
    repositories,
    work_items_prs_links,
)

PR = pull_requests.c
LINK = work_items_prs_links.c
METRICS = ("coding_time_seconds", "pickup_time_seconds", "review_time_seconds", "open_to_merge_seconds")


@dataclass(frozen=True)
class PullRequestFilter:
    tenant: str | None = None            # None: every tenant (an admin key of every tenant)
    repository: str | None = None        # owner/name
    state: str | None = None             # OPEN | CLOSED | MERGED
    author: str | None = None
    merged_from: datetime | None = None
    merged_to: datetime | None = None
    work_item: str | None = None         # a Jira key the PR is linked to


def _json(row: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(row).items()}


def encode_cursor(row: dict[str, Any]) -> str:
    return f"{row['updated_at']}|{row['id']}"


def _decode_cursor(value: str) -> tuple[datetime, str]:
    stamp, sep, pr_id = value.partition("|")
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        at = None
    if not sep or not pr_id or at is None or at.tzinfo is None:
        raise ValueError(f"invalid cursor {value!r}: pass the next_cursor of the previous page")
    return at, pr_id


def list_pull_requests(engine: Engine, f: PullRequestFilter, *, limit: int = 50,
                       cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """PRs most recently updated first, each with the work item keys it is linked to; and the
    cursor of the next page (None on the last one)."""
    query = select(pull_requests)
    clauses = []
    if f.tenant is not None:
        clauses.append(PR.tenant == f.tenant)
    for column, value in (("repository", f.repository), ("state", f.state), ("author", f.author)):
        if value is not None:
            clauses.append(PR[column] == value)
    if f.merged_from is not None:
        clauses.append(PR.merged_at >= f.merged_from)
    if f.merged_to is not None:
        clauses.append(PR.merged_at < f.merged_to)
    if f.work_item is not None:
        linked = select(LINK.pull_request_id).where(LINK.work_item_key == f.work_item.upper(),
                                                    LINK.pull_request_id.is_not(None))
        if f.tenant is not None:
            linked = linked.where(LINK.tenant == f.tenant)
        clauses.append(PR.id.in_(linked))
    if cursor:
        at, pr_id = _decode_cursor(cursor)
        clauses.append(or_(PR.updated_at < at, and_(PR.updated_at == at, PR.id > pr_id)))
    query = query.where(*clauses).order_by(PR.updated_at.desc(), PR.id).limit(limit + 1)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        links = _links(conn, [(r["tenant"], r["id"]) for r in rows])
    items = [{**_json(r), "work_items": links.get((r["tenant"], r["id"]), [])} for r in rows]
    return items, encode_cursor(items[-1]) if more and items else None


def _links(conn: Any, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    if not keys:
        return {}
    found: dict[tuple[str, str], list[str]] = {}
    query = select(LINK.tenant, LINK.pull_request_id, LINK.work_item_key).where(
        LINK.pull_request_id.in_([k[1] for k in keys])).distinct().order_by(LINK.work_item_key)
    for row in conn.execute(query):
        if (row.tenant, row.pull_request_id) in keys:
            found.setdefault((row.tenant, row.pull_request_id), []).append(row.work_item_key)
    return found


def get_pull_request(engine: Engine, tenant: str | None, repository: str, number: int) -> dict[str, Any] | None:
    """One PR with its commits, reviews, comments, review threads and Jira links; None if unknown."""
    query = select(pull_requests).where(PR.repository == repository, PR.number == number)
    if tenant is not None:
        query = query.where(PR.tenant == tenant)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        pr = _json(row)

        def children(table: Any, order: Any) -> list[dict[str, Any]]:
            rows = conn.execute(select(table).where(table.c.tenant == row["tenant"], table.c.pull_request_id == row["id"])
                                .order_by(order, table.c.id)).mappings()
            return [{k: v for k, v in _json(r).items() if k not in ("tenant", "pull_request_id")} for r in rows]

        pr["commits"] = children(pull_request_commits, pull_request_commits.c.authored_at)
        pr["reviews"] = children(pull_request_reviews, pull_request_reviews.c.submitted_at)
        pr["comments"] = children(pull_request_comments, pull_request_comments.c.created_at)
        pr["review_threads"] = children(pull_request_review_threads, pull_request_review_threads.c.path)
        links = conn.execute(select(LINK.work_item_key, LINK.source).where(
            LINK.tenant == row["tenant"], LINK.repository == repository, LINK.number == number)
            .order_by(LINK.work_item_key, LINK.source)).all()
        pr["links"] = [{"work_item_key": k, "source": s} for k, s in links]
    return pr


def list_repositories(engine: Engine, tenant: str | None) -> list[dict[str, Any]]:
    query = select(repositories).order_by(repositories.c.name_with_owner)
    if tenant is not None:
        query = query.where(repositories.c.tenant == tenant)
    with engine.connect() as conn:
        return [_json(r) for r in conn.execute(query).mappings()]


def week_of(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week `at` falls in."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_metrics(engine: Engine, f: PullRequestFilter, weeks: int = 12,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """Per week of merge (the last `weeks`, oldest first): merged PRs and the median coding,
    pickup, review and open-to-merge times in seconds (None for a week without values)."""
    end = week_of(now or datetime.now(UTC)) + timedelta(days=7)
    start = end - timedelta(days=7 * weeks)
    merged = PullRequestFilter(**{**f.__dict__, "state": "MERGED", "merged_from": start, "merged_to": end})
    query = select(PR.merged_at, *[PR[m] for m in METRICS]).where(PR.merged_at.is_not(None))
    for column, value in (("tenant", merged.tenant), ("repository", merged.repository), ("author", merged.author)):
        if value is not None:
            query = query.where(PR[column] == value)
    query = query.where(PR.merged_at >= start, PR.merged_at < end)
    buckets: dict[datetime, list[Any]] = {start + timedelta(days=7 * i): [] for i in range(weeks)}
    with engine.connect() as conn:
        for row in conn.execute(query):
            buckets.setdefault(week_of(row.merged_at), []).append(row)
    out = []
    for week, rows in sorted(buckets.items()):
        entry: dict[str, Any] = {"week": week.date().isoformat(), "merged": len(rows)}
        for metric in METRICS:
            values = [getattr(r, metric) for r in rows if getattr(r, metric) is not None]
            entry[metric.replace("_seconds", "_median_seconds")] = statistics.median(values) if values else None
        out.append(entry)
    return out


def run_metrics(engine: Engine, run_id: str, tenant: str | None = None) -> dict[str, Any]:
    """What a run of the GitHub pipeline spent, per step and stage and in total: stage attempts,
    API calls, pages, records, GraphQL points spent, the points left at the last answer, parks,
    throttled answers, seconds slept through short rate-limit waits, retries and page halvings;
    `state` "waiting" with `resume_at` while a stage job is parked by a rate limit."""
    m = github_run_metrics.c
    query = select(m.step, m.stage, func.count().label("attempts"), func.sum(m.api_calls).label("api_calls"),
                   func.sum(m.pages).label("pages"), func.sum(m.records).label("records"),
                   func.sum(m.points_spent).label("points_spent"), func.count(m.parked_until).label("parks"),
                   func.sum(m.rate_limit_hits).label("rate_limit_hits"), func.sum(m.waited_seconds).label("waited_seconds"),
                   func.sum(m.retries).label("retries"), func.sum(m.page_shrinks).label("page_shrinks"),
                   func.max(m.parked_until).label("last_parked_until")).where(m.run_id == run_id)
    if tenant is not None:
        query = query.where(m.tenant == tenant)
    with engine.connect() as conn:
        stages = [_json(r) for r in conn.execute(query.group_by(m.step, m.stage).order_by(m.step, m.stage)).mappings()]
        last = conn.execute(select(m.points_remaining, m.rate_reset_at).where(
            m.run_id == run_id, m.points_remaining.is_not(None)).order_by(m.updated_at.desc()).limit(1)).first()
    now = datetime.now(UTC)
    for stage in stages:  # a stage whose job is parked until a moment still to come is waiting
        until = stage["last_parked_until"]
        stage["waiting_until"] = until if until and datetime.fromisoformat(until) > now else None
    totals: dict[str, float] = {k: sum(int(s[k] or 0) for s in stages) for k in (
        "attempts", "api_calls", "pages", "records", "points_spent", "parks", "rate_limit_hits", "retries", "page_shrinks")}
    totals["waited_seconds"] = round(sum(float(s["waited_seconds"] or 0) for s in stages), 3)
    waiting = [s["waiting_until"] for s in stages if s["waiting_until"]]
    return {"run_id": run_id, "state": "waiting" if waiting else None, "resume_at": max(waiting, default=None),
            "stages": stages, "totals": totals,
            "points_remaining": last.points_remaining if last else None,
            "rate_limit_reset_at": last.rate_reset_at.isoformat() if last and last.rate_reset_at else None}
