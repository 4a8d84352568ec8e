"""A Jira sync's bookkeeping: raw pages written with the step's cursor in one transaction, the
cursor a retried attempt resumes from, the watermark of the last successful run, and the run
metrics per step and stage."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    Table,
    Text,
    and_,
    cast,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from conveyor.etl.db import upsert
from conveyor.etl.jira.tables import jira_cursors, jira_step_metrics, jira_sync_runs

# The pipelines' raw table (migration 0006), written here in the cursor's transaction. Declared on
# its own MetaData: it belongs to the job store, not to the ETL's domain tables.
_raw_meta = MetaData()
RunId = Text().with_variant(postgresql.UUID(as_uuid=False), "postgresql")  # uuid there, text in SQLite
raw_table = Table(
    "raw_extraction_data", _raw_meta,
    Column("id", BigInteger, primary_key=True), Column("run_id", RunId), Column("step", Text),
    Column("tenant", Text), Column("token", Text), Column("source", Text), Column("fingerprint", Text),
    Column("payload", LargeBinary), Column("is_text", Boolean), Column("created_at", Float),
)
_pipeline_runs = Table("pipeline_runs", MetaData(), Column("id", RunId), Column("state", Text))


@dataclass(frozen=True, slots=True)
class RawPage:
    source: str
    fingerprint: str
    body: Any


def _now() -> datetime:
    return datetime.now(UTC)


def save_pages(engine: Engine, *, run_id: str, step: str, tenant: str, token: str, pages: Sequence[RawPage],
               cursor: Any, done: bool = False, cursor_step: str | None = None) -> list[int]:
    """Store `pages` (the JSON answers, unchanged) and the step's next cursor in one transaction:
    an attempt killed after this resumes from `cursor`; one killed before it fetches these pages
    again (the same request fingerprint updates the same raw row). `cursor` may be a function of
    the new rows' ids (a cursor that names the pages its job has stored). `cursor_step` keys the
    cursor apart from the step's (a batch of a step whose batches run side by side)."""
    with engine.begin() as conn:
        ids = _save_raw(conn, run_id, step, tenant, token, pages) if pages else []
        _set_cursor(conn, run_id, cursor_step or step, cursor(ids) if callable(cursor) else cursor, len(pages), done)
    return ids


def _save_raw(conn: Connection, run_id: str, step: str, tenant: str, token: str, pages: Sequence[RawPage]) -> list[int]:
    """One multi-row upsert for the pages; their row ids in the order of `pages`."""
    pg = conn.dialect.name == "postgresql"
    unique = {(page.source, page.fingerprint): page for page in pages}  # one row may not be hit twice
    rows = [{"run_id": run_id, "step": step, "tenant": tenant, "token": token, "source": page.source,
             "fingerprint": page.fingerprint, "is_text": True,
             "payload": json.dumps(page.body, separators=(",", ":"), ensure_ascii=False).encode(),
             **({} if pg else {"created_at": time.time()})} for page in unique.values()]
    statement = (postgresql if pg else sqlite).insert(raw_table)
    statement = statement.on_conflict_do_update(
        index_elements=["token", "source", "fingerprint"], set_={"payload": statement.excluded.payload})
    result = conn.execute(statement.returning(raw_table.c.id, sort_by_parameter_order=True), rows)
    by_key = {key: int(r[0]) for key, r in zip(unique, result, strict=True)}
    return [by_key[(page.source, page.fingerprint)] for page in pages]


def _set_cursor(conn: Connection, run_id: str, step: str, cursor: Any, pages: int, done: bool) -> None:
    current = conn.execute(select(jira_cursors.c.pages).where(
        and_(jira_cursors.c.run_id == run_id, jira_cursors.c.step == step))).scalar()
    upsert(conn, jira_cursors, [{"run_id": run_id, "step": step, "cursor": cursor, "pages": (current or 0) + pages,
                                 "done": done, "updated_at": _now()}], keys=["run_id", "step"])


def cursor_of(engine: Engine, run_id: str, step: str) -> tuple[Any, bool] | None:
    """(cursor, done) committed for this run and step, or None before its first page."""
    with engine.connect() as conn:
        row = conn.execute(select(jira_cursors.c.cursor, jira_cursors.c.done).where(
            and_(jira_cursors.c.run_id == run_id, jira_cursors.c.step == step))).first()
    return None if row is None else (row.cursor, bool(row.done))


def raw_rows(engine: Engine, run_id: str, step: str, source: str | None = None,
             prefix: str | None = None) -> list[tuple[int, str]]:
    """(id, source) of the raw rows of a run's step, in the order they were stored."""
    query = select(raw_table.c.id, raw_table.c.source).where(
        and_(raw_table.c.run_id == run_id, raw_table.c.step == step)).order_by(raw_table.c.id)
    if source is not None:
        query = query.where(raw_table.c.source == source)
    if prefix is not None:
        query = query.where(raw_table.c.source.startswith(prefix, autoescape=True))
    with engine.connect() as conn:
        return [(int(r.id), str(r.source)) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class RawRow:
    id: int
    source: str
    fingerprint: str
    run_id: str | None
    step: str | None
    body: Any


def load_raw(engine: Engine, raw_ids: Sequence[int] | None = None, *, run_id: str | None = None,
             step: str | None = None, prefix: str | None = None) -> list[RawRow]:
    """Raw rows by id, or those of a run's step whose source starts with `prefix`; id order."""
    T = raw_table
    query = select(T.c.id, T.c.source, T.c.fingerprint, T.c.run_id, T.c.step, T.c.payload).order_by(T.c.id)
    if raw_ids is not None:
        if not raw_ids:
            return []
        query = query.where(T.c.id.in_(list(raw_ids)))
    if run_id is not None:
        query = query.where(and_(T.c.run_id == run_id, T.c.step == step))
    if prefix is not None:
        query = query.where(T.c.source.startswith(prefix, autoescape=True))
    with engine.connect() as conn:
        return [RawRow(int(r.id), str(r.source), str(r.fingerprint), None if r.run_id is None else str(r.run_id),
                       r.step, json.loads(bytes(r.payload))) for r in conn.execute(query)]


# -- runs and the watermark -----------------------------------------------------------------
def record_sync_run(engine: Engine, *, run_id: str, tenant: str, integration_id: str, updated_since: datetime | None,
                    time_zone: str, jql: str, expected: int | None, deletion_sweep: bool) -> datetime:
    """The run's start as the issues step saw it (kept on a retry: the first attempt's)."""
    with engine.begin() as conn:
        existing = conn.execute(select(jira_sync_runs.c.started_at).where(jira_sync_runs.c.run_id == run_id)).scalar()
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        started = _now()
        conn.execute(jira_sync_runs.insert().values(
            run_id=run_id, tenant=tenant, integration_id=integration_id, started_at=started,
            updated_since=updated_since, time_zone=time_zone, jql=jql, expected_issues=expected,
            deletion_sweep=deletion_sweep))
        return started


def sync_run(engine: Engine, run_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(jira_sync_runs).where(jira_sync_runs.c.run_id == run_id)).first()


def last_success(engine: Engine, integration_id: str, *, sweep: bool = False) -> datetime | None:
    """Start of the newest FINISHED run of this integration (with a deletion sweep, if asked):
    the watermark moves only when a whole run succeeded."""
    query = (select(jira_sync_runs.c.started_at)
             .join(_pipeline_runs, _pipeline_runs.c.id == cast(jira_sync_runs.c.run_id, RunId))
             .where(and_(jira_sync_runs.c.integration_id == integration_id, _pipeline_runs.c.state == "FINISHED"))
             .order_by(jira_sync_runs.c.started_at.desc()).limit(1))
    if sweep:
        query = query.where(jira_sync_runs.c.deletion_sweep.is_(True))
    with engine.connect() as conn:
        return conn.execute(query).scalar()  # type: ignore[no-any-return]


def watermark_for(engine: Engine, integration_id: str, overlap_minutes: int) -> datetime | None:
    started = last_success(engine, integration_id)
    return None if started is None else started - timedelta(minutes=overlap_minutes)


# -- run metrics ----------------------------------------------------------------------------
def add_metrics(engine: Engine, *, run_id: str, step: str, stage: str, tenant: str, integration_id: str,
                expected: int | None = None, note: str | None = None, parked_until: datetime | None = None,
                **counts: float) -> None:
    """Add `counts` (api_calls, pages, records, rate_limit_hits, parked_seconds, retries, seconds,
    items) to the (run, step, stage) row; `expected`, `note` and `parked_until` replace."""
    keys = {"run_id": run_id, "step": step, "stage": stage}
    T = jira_step_metrics
    with engine.begin() as conn:
        upsert(conn, T, [{**keys, "tenant": tenant, "integration_id": integration_id, "updated_at": _now()}],
               keys=list(keys), update=[])
        values: dict[str, Any] = {name: T.c[name] + amount for name, amount in counts.items() if amount}
        values["updated_at"] = _now()
        values["parked_until"] = parked_until
        if expected is not None:
            values["expected"] = expected
        if note is not None:
            values["note"] = note
        conn.execute(update(T).where(and_(*[T.c[k] == v for k, v in keys.items()])).values(**values))


def run_metrics(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """Per step and stage; `waiting` is true while the stage is parked on a rate limit (until
    `parked_until`)."""
    now = _now()
    with engine.connect() as conn:
        rows = conn.execute(select(jira_step_metrics).where(jira_step_metrics.c.run_id == run_id)
                            .order_by(jira_step_metrics.c.step, jira_step_metrics.c.stage))
        return [{**{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._mapping.items()},
                 "waiting": r.parked_until is not None and r.parked_until > now} for r in rows]
