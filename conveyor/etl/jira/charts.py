"""The Integrations page's charts of one Jira integration, per project, aggregated in SQL over every
loaded (not deleted) work item: cycle-time and lead-time distributions and weekly throughput.

Only the bins and weeks leave the database, so the charts cost the same for 500 items or 500,000.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Engine, cast, func, select

from conveyor.etl.jira.load import Owner
from conveyor.etl.jira.tables import work_items

T = work_items.c
DAY = 86_400


def _mine(owner: Owner, project: str | None) -> list[ColumnElement[bool]]:
    where = [T.tenant == owner.tenant, T.integration_id == owner.integration_id, T.deleted.is_(False)]
    if project is not None:
        where.append(T.project_key == project)
    return where


def projects(engine: Engine, owner: Owner) -> list[dict[str, Any]]:
    """The integration's projects that have work items, with their counts, by key."""
    query = (select(T.project_key, func.count().label("items")).where(*_mine(owner, None))
             .group_by(T.project_key).order_by(T.project_key))
    with engine.connect() as conn:
        return [{"key": r.project_key, "items": int(r.items)} for r in conn.execute(query)]


def distribution(engine: Engine, owner: Owner, project: str | None, column: str, bins: int) -> dict[str, Any]:
    """`bins` equal bins of whole days from 0 to the largest value (rounded up to a day): counts
    per bin, and how many items have a value."""
    seconds = T[column]
    where = [*_mine(owner, project), seconds.is_not(None), seconds >= 0]
    with engine.connect() as conn:
        top, n = conn.execute(select(func.max(seconds), func.count()).where(*where)).one()
        top_seconds = max(1, math.ceil((top or 0) / DAY)) * DAY
        # integer division on both engines; the largest value lands on `bins`: folded into the last bin
        bucket = (cast(seconds, BigInteger) * bins) / top_seconds
        rows = conn.execute(select(bucket.label("b"), func.count().label("n")).where(*where).group_by(bucket)).all()
    counts = [0] * bins
    for b, count in rows:
        counts[min(bins - 1, int(b))] += int(count)
    size = top_seconds / DAY / bins
    return {"items": int(n), "bins": [{"from_days": round(i * size, 3), "to_days": round((i + 1) * size, 3),
                                       "count": c} for i, c in enumerate(counts)]}


def _week(engine: Engine) -> Any:
    """Monday (UTC) of work_last_completed_at as 'YYYY-MM-DD', in the engine's SQL."""
    at = T.work_last_completed_at
    if engine.dialect.name == "sqlite":  # stored as naive UTC text; Sunday stays, then back 6 days
        return func.date(at, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc("week", func.timezone("UTC", at)), "YYYY-MM-DD")


def throughput(engine: Engine, owner: Owner, project: str | None, weeks: int) -> list[dict[str, Any]]:
    """Items completed per week (by their last completion), the latest `weeks` weeks that have
    any, oldest first."""
    week = _week(engine).label("week")
    query = (select(week, func.count().label("n")).where(*_mine(owner, project), T.work_last_completed_at.is_not(None))
             .group_by(week).order_by(week.desc()).limit(weeks))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{"week": str(r.week), "completed": int(r.n)} for r in reversed(rows)]


def charts(engine: Engine, owner: Owner, project: str | None, *, bins: int = 12, weeks: int = 16) -> dict[str, Any]:
    """All three charts of one project (every project of the integration when None)."""
    return {"project": project, "projects": projects(engine, owner),
            "cycle_time": distribution(engine, owner, project, "total_cycle_time_seconds", bins),
            "lead_time": distribution(engine, owner, project, "total_lead_time_seconds", bins),
            "throughput": throughput(engine, owner, project, weeks),
            "computed_at": datetime.now(UTC).isoformat()}
