"""The transform stage of the Jira steps, load inside: one raw row (or the sweep's rows) in,
upserts out. Pure functions of the stored raw answers and the current mappings, so a mapping
change re-runs this over the raw rows without any HTTP call (conveyor/etl/jira/retransform.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update

from conveyor.errors import PermanentError
from conveyor.etl.db import upsert
from conveyor.etl.jira.custom_fields import CustomFieldMapping, default_mapping, discover_custom_fields
from conveyor.etl.jira.dev_load import load_dev_status
from conveyor.etl.jira.dev_status import pull_request_count
from conveyor.etl.jira.metrics import UnmappedStatusError, WorkflowStep, default_status_mapping
from conveyor.etl.jira.state import RawRow, load_raw
from conveyor.etl.jira.tables import (
    custom_fields,
    custom_fields_mapping,
    link_types,
    projects,
    projects_custom_fields,
    status_mappings,
    statuses,
    work_item_changelogs,
    work_item_comments,
    work_item_links,
    work_item_types,
    work_items,
)
from conveyor.etl.jira.transform import changelog_rows, comment_rows, link_rows, work_item

Loaded = dict[str, list[str]]  # table -> external ids written (what an embedding stage reads)


class Owner:
    """The tenant and integration every row of a load carries."""

    def __init__(self, tenant: str, integration_id: str) -> None:
        self.tenant, self.integration_id = tenant, integration_id

    def row(self, **values: Any) -> dict[str, Any]:
        return {"tenant": self.tenant, "integration_id": self.integration_id, **values}

    def where(self, table: Any) -> Any:
        return and_(table.c.tenant == self.tenant, table.c.integration_id == self.integration_id)


def _now() -> datetime:
    return datetime.now(UTC)


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(kind: type) -> tuple[str, ...]:
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in dataclass_fields(kind))
    return names


def _shallow(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are: `asdict` deep-copies every value, a
    tenth of a page's transform time for rows of plain scalars."""
    return {name: getattr(record, name) for name in _names(type(record))}


def _keys(table: Any) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def load_item(engine: Engine, owner: Owner, item: Any) -> Loaded:
    """Transform and load one emitted item: a raw row id, {"raw": [ids]} (each loaded in turn), or
    {"sweep": [raw ids]} (the deletion sweep's pages, together)."""
    if isinstance(item, Mapping) and "sweep" in item:
        return load_sweep(engine, owner, [int(i) for i in item["sweep"]])
    if isinstance(item, Mapping) and "raw" in item:  # a batch (dev-status pages): one transaction
        loaded: Loaded = defaultdict(list)
        rows = load_raw(engine, [int(i) for i in item["raw"]])
        dev = [row for row in rows if row.source.startswith("jira:dev:")]
        with engine.begin() as conn:
            for row in rows:
                if not row.source.startswith("jira:dev:"):
                    for table, ids in load_row(engine, owner, row, conn).items():
                        loaded[table] += ids
            if dev:  # the batch's dev-status pages together: a few statements, not several per issue
                for table, ids in load_dev_status(conn, owner, dev).items():
                    loaded[table] += ids
        return dict(loaded)
    if isinstance(item, bool) or not isinstance(item, int):
        raise PermanentError(f"a Jira transform item is a raw row id or {{'sweep': [ids]}}, got {item!r}")
    rows = load_raw(engine, [item])
    if not rows:
        raise PermanentError(f"raw row {item} does not exist (pruned?): run the step again")
    return load_row(engine, owner, rows[0])


def load_row(engine: Engine, owner: Owner, raw: RawRow, conn: Connection | None = None) -> Loaded:
    """One raw row, in its own transaction or in `conn`'s (companions must then be read already:
    a search page is never loaded that way)."""
    source = raw.source
    kind = source.removeprefix("jira:").partition(":")[0]
    if conn is not None:
        if kind == "search":
            raise ValueError("a search page is loaded in its own transaction (its companions are read first)")
        return _load_row(conn, owner, raw, [])
    companions = (load_raw(engine, run_id=raw.run_id, step=raw.step, prefix=f"jira:companion:{raw.fingerprint}:")
                  if kind == "search" else [])  # read before the write transaction: SQLite has one writer
    with engine.begin() as own:
        return _load_row(own, owner, raw, companions)


def _load_row(conn: Connection, owner: Owner, raw: RawRow, companions: list[RawRow]) -> Loaded:
    source, body = raw.source, raw.body
    kind, _, rest = source.removeprefix("jira:").partition(":")
    if kind == "projects":
        return _projects(conn, owner, body.get("values") or [])
    if kind == "issuetypes":
        return _types(conn, owner, body, None)
    if kind == "project-issuetypes":
        return _types(conn, owner, body, rest)
    if kind == "fields":
        return _fields(conn, owner, body)
    if kind == "status":
        return _statuses(conn, owner, body)
    if kind == "statuses-search":
        return _statuses(conn, owner, body.get("values") or [])
    if kind == "linktypes":
        upsert(conn, link_types, [owner.row(external_id=str(t["id"]), name=t.get("name", ""),
                                            inward=t.get("inward"), outward=t.get("outward"))
                                  for t in body.get("issueLinkTypes") or []], keys=_keys(link_types))
        return {}
    if kind == "search":
        return load_issues(conn, owner, body.get("issues") or [], companions, raw.id)
    if kind == "dev":
        return load_dev_status(conn, owner, [raw])
    if kind in ("statuscategory", "companion", "sweep"):
        return {}  # categories come inline with statuses; companions and sweeps go with their group
    raise PermanentError(f"raw row {raw.id} has source {source!r}, which no Jira transform reads")


# -- structure ------------------------------------------------------------------------------
def _type_row(owner: Owner, t: Mapping[str, Any], project_id: str | None) -> dict[str, Any]:
    scope = ((t.get("scope") or {}).get("project") or {}).get("id")
    return owner.row(external_id=str(t["id"]), name=str(t.get("name", "")), project_external_id=scope or project_id,
                     subtask=bool(t.get("subtask")), hierarchy_level=t.get("hierarchyLevel"), updated_at=_now())


def _projects(conn: Connection, owner: Owner, values: list[Mapping[str, Any]]) -> Loaded:
    upsert(conn, projects, [owner.row(
        external_id=str(p["id"]), key=str(p["key"]), name=p.get("name"), style=p.get("style"),
        project_type=p.get("projectTypeKey"), lead_account_id=(p.get("lead") or {}).get("accountId"),
        updated_at=_now()) for p in values], keys=_keys(projects))
    types = [_type_row(owner, t, str(p["id"]) if p.get("simplified") else None)
             for p in values for t in p.get("issueTypes") or []]
    upsert(conn, work_item_types, list({r["external_id"]: r for r in types}.values()), keys=_keys(work_item_types))
    return {"projects": [str(p["id"]) for p in values]}


def _types(conn: Connection, owner: Owner, values: list[Mapping[str, Any]], project_id: str | None) -> Loaded:
    upsert(conn, work_item_types, [_type_row(owner, t, project_id) for t in values], keys=_keys(work_item_types))
    return {"work_item_types": [str(t["id"]) for t in values]}


def _fields(conn: Connection, owner: Owner, values: list[Mapping[str, Any]]) -> Loaded:
    discovery = discover_custom_fields(values)
    upsert(conn, custom_fields, [owner.row(
        external_id=f.id, name=f.name, custom_type=f.custom_type, schema_type=f.field_type, items=f.items,
        updated_at=_now()) for f in discovery.custom_fields], keys=_keys(custom_fields))
    edited = conn.execute(select(custom_fields_mapping.c.edited).where(owner.where(custom_fields_mapping))).scalar()
    if not edited:  # a mapping nobody edited follows the site's fields
        mapping = default_mapping(discovery)
        save_mapping(conn, owner, mapping, discovery.development.id if discovery.development else None, edited=False)
    return {}


def save_mapping(conn: Connection, owner: Owner, mapping: CustomFieldMapping, development_field_id: str | None,
                 *, edited: bool) -> None:
    upsert(conn, custom_fields_mapping, [owner.row(
        team_field_id=mapping.team_field_id, story_points_field_ids=list(mapping.story_points_field_ids),
        code_changed_field_id=mapping.code_changed_field_id, development_field_id=development_field_id,
        columns=dict(mapping.columns), edited=edited, updated_at=_now())], keys=_keys(custom_fields_mapping))


def _statuses(conn: Connection, owner: Owner, values: list[Mapping[str, Any]]) -> Loaded:
    def category(s: Mapping[str, Any]) -> str:
        c = s.get("statusCategory")
        return str(c.get("key", "")) if isinstance(c, Mapping) else str(c or "")

    upsert(conn, statuses, [owner.row(
        external_id=str(s["id"]), name=str(s.get("name", "")), category=category(s),
        project_external_id=((s.get("scope") or {}).get("project") or {}).get("id"), updated_at=_now())
        for s in values], keys=_keys(statuses))
    defaults = default_status_mapping(values)
    upsert(conn, status_mappings, [owner.row(status_external_id=sid, workflow_step=step.value, edited=False,
                                             updated_at=_now()) for sid, step in defaults.items()],
           keys=_keys(status_mappings), update=[])  # an existing (maybe edited) mapping is kept
    return {"statuses": [str(s["id"]) for s in values]}


# -- issues ---------------------------------------------------------------------------------
def current_mapping(conn: Connection, owner: Owner) -> tuple[CustomFieldMapping, str | None]:
    row = conn.execute(select(custom_fields_mapping).where(owner.where(custom_fields_mapping))).first()
    if row is None:
        return CustomFieldMapping(), None
    return (CustomFieldMapping(team_field_id=row.team_field_id,
                               story_points_field_ids=tuple(row.story_points_field_ids or ()),
                               code_changed_field_id=row.code_changed_field_id, columns=dict(row.columns or {})),
            row.development_field_id)


def current_steps(conn: Connection, owner: Owner) -> dict[str, WorkflowStep]:
    rows = conn.execute(select(status_mappings.c.status_external_id, status_mappings.c.workflow_step)
                        .where(owner.where(status_mappings)))
    return {str(r[0]): WorkflowStep(r[1]) for r in rows}


def _companion_parts(companions: Iterable[RawRow]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Extra histories and comments by issue id, from bulkfetch and per-issue pages."""
    histories: dict[str, list[Any]] = defaultdict(list)
    comments: dict[str, list[Any]] = defaultdict(list)
    for row in companions:
        kind = row.source.rsplit(":", 2)
        if row.source.endswith(":bulk"):
            for entry in row.body.get("issueChangeLogs") or []:
                histories[str(entry.get("issueId"))].extend(entry.get("changeHistories") or [])
        elif kind[-2] == "changelog":
            histories[kind[-1]].extend(row.body.get("values") or [])
        elif kind[-2] == "comment":
            comments[kind[-1]].extend(row.body.get("comments") or [])
    return histories, comments


def load_issues(conn: Connection, owner: Owner, issues: list[Mapping[str, Any]], companions: list[RawRow],
                raw_id: int | None) -> Loaded:
    mapping, development = current_mapping(conn, owner)
    step_of = current_steps(conn, owner)
    extra_histories, extra_comments = _companion_parts(companions)
    items, changes, links, notes, used = [], [], [], [], set()
    now = _now()
    for issue in issues:
        issue_id = str(issue["id"])
        histories = [*((issue.get("changelog") or {}).get("histories") or []), *extra_histories.get(issue_id, [])]
        try:
            record = work_item(issue, histories, mapping, step_of)
        except UnmappedStatusError as exc:
            raise PermanentError(f"issue {issue.get('key')}: {exc}") from None
        fields = issue.get("fields") or {}
        row = {k: v for k, v in _shallow(record).items()
               if k not in ("metrics", "custom_columns", "custom_overflow", "labels", "history_count")}
        items.append(owner.row(
            **row, labels=list(record.labels), **record.custom_columns, custom_fields_overflow=record.custom_overflow,
            **_shallow(record.metrics), history_count=record.history_count,
            workflow_step=step_of[record.status_external_id].value,
            pull_request_count=pull_request_count(fields.get(development)) if development else 0,
            deleted=False, deleted_at=None, raw_id=raw_id, loaded_at=now))
        index: dict[str, int] = defaultdict(int)
        for change in changelog_rows(issue_id, histories):
            changes.append(owner.row(**_shallow(change), item_index=index[change.history_id]))
            index[change.history_id] += 1
        links += [owner.row(**_shallow(link)) for link in link_rows(issue)]
        inline = fields.get("comment") or {}
        comment_list = extra_comments.get(issue_id) or list(inline.get("comments") or [])
        notes += [owner.row(**_shallow(c)) for c in comment_rows(issue_id, comment_list)]
        project = record.project_external_id
        used |= {(project, k) for k, v in fields.items() if k.startswith("customfield_") and v not in (None, [], "", {})
                 and project}
    upsert(conn, work_items, items, keys=_keys(work_items))
    upsert(conn, work_item_changelogs, changes, keys=_keys(work_item_changelogs))
    upsert(conn, work_item_links, links, keys=_keys(work_item_links))
    upsert(conn, work_item_comments, notes, keys=_keys(work_item_comments))
    upsert(conn, projects_custom_fields, [owner.row(project_external_id=p, field_external_id=f) for p, f in sorted(used)],
           keys=_keys(projects_custom_fields), update=[])
    return {"work_items": [str(i["id"]) for i in issues]}


def load_sweep(engine: Engine, owner: Owner, raw_ids: list[int]) -> Loaded:
    """Issues of the sweep's projects that Jira no longer has are marked deleted (kept, flagged).
    The sweep's pages are read one at a time, keeping only ids and project keys: parsed whole,
    50,000 issues' pages cost the transform worker tens of MB at once."""
    present: set[str] = set()
    keys: set[str] = set()
    for raw_id in raw_ids:
        for page in load_raw(engine, [raw_id]):
            for issue in page.body.get("issues") or []:
                present.add(str(issue["id"]))
                keys.add(str(issue["key"]).split("-")[0])
    with engine.begin() as conn:
        known = conn.execute(  # streamed: the row set is every issue of the integration
            select(work_items.c.external_id, work_items.c.project_key).where(
                and_(owner.where(work_items), work_items.c.deleted.is_(False))).execution_options(yield_per=5000))
        gone = [str(r[0]) for r in known if str(r[0]) not in present and (not keys or r[1] in keys)]
        for start in range(0, len(gone), 500):
            conn.execute(update(work_items).where(and_(owner.where(work_items),
                                                       work_items.c.external_id.in_(gone[start:start + 500])))
                         .values(deleted=True, deleted_at=_now()))
    return {"work_items": gone}
