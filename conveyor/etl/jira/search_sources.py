"""What the embedding stage reads from the Jira tables: work items (summary, description and
comments) and projects, as sources of type JIRA (conveyor/etl/embeddings/sources.py).

Ids are `<integration id>:<Jira id>`: a tenant may connect two Jira sites, whose numeric issue and
project ids overlap (every site starts at 10000), and the bridge keys points by tenant, table and
id only. The transform turns what it loaded into such items with `embedding_items_for`.

A hit links to the item on its Jira site (`<base url>/browse/<key>`). Rows marked deleted by the
deletion sweep are not returned, so their points go.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from conveyor.etl.embeddings.sources import SourceText, register_source
from conveyor.etl.embeddings.stage import embedding_items
from conveyor.etl.jira.tables import projects, work_item_comments, work_items
from conveyor.integrations.table import integrations

WORK_ITEMS, PROJECTS = "work_items", "projects"
SOURCE_TABLES = (WORK_ITEMS, PROJECTS)
BATCH = 400  # ids per SELECT: well under any driver's bound-parameter limit


def source_id(integration_id: str, external_id: str) -> str:
    return f"{integration_id}:{external_id}"


def split_ids(ids: Sequence[str]) -> dict[str, list[str]]:
    """integration id -> Jira ids; ids without the integration part are ignored (no such row)."""
    by_integration: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        integration_id, sep, external_id = i.rpartition(":")
        if sep and integration_id and external_id:
            by_integration[integration_id].append(external_id)
    return by_integration


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), BATCH):
        yield list(ids[start:start + BATCH])


def _browse(base_url: str | None, key: str) -> str | None:
    return f"{base_url.rstrip('/')}/browse/{key}" if base_url else None


def work_item_texts(conn: Connection, tenant: str, ids: Sequence[str]) -> list[SourceText]:
    w, c = work_items.c, work_item_comments.c
    found: list[SourceText] = []
    for integration_id, external_ids in split_ids(ids).items():
        for chunk in _chunks(external_ids):
            rows = conn.execute(
                select(w.external_id, w.key, w.summary, w.description, w.project_key, w.status_name,
                       integrations.c.base_url)
                .select_from(work_items.outerjoin(integrations, integrations.c.id == w.integration_id))
                .where(w.tenant == tenant, w.integration_id == integration_id, w.external_id.in_(chunk),
                       w.deleted.is_(False))).all()
            comments: dict[str, list[str]] = defaultdict(list)
            for issue_id, body in conn.execute(
                    select(c.issue_external_id, c.body)
                    .where(c.tenant == tenant, c.integration_id == integration_id, c.issue_external_id.in_(chunk))
                    .order_by(c.issue_external_id, c.created, c.comment_id)):
                if body and body.strip():
                    comments[issue_id].append(body.strip())
            for r in rows:
                text = "\n\n".join(part for part in (r.summary, r.description, *comments[r.external_id])
                                   if part and part.strip())
                found.append(SourceText(source_id(integration_id, r.external_id), text, {
                    "title": f"{r.key} {r.summary}", "key": r.key, "project": r.project_key,
                    "status": r.status_name, "url": _browse(r.base_url, r.key)}))
    return found


def project_texts(conn: Connection, tenant: str, ids: Sequence[str]) -> list[SourceText]:
    p = projects.c
    found: list[SourceText] = []
    for integration_id, external_ids in split_ids(ids).items():
        for chunk in _chunks(external_ids):
            for r in conn.execute(
                    select(p.external_id, p.key, p.name, p.project_type, integrations.c.base_url)
                    .select_from(projects.outerjoin(integrations, integrations.c.id == p.integration_id))
                    .where(p.tenant == tenant, p.integration_id == integration_id, p.external_id.in_(chunk))):
                text = "\n\n".join(x for x in (f"{r.key} {r.name or ''}".strip(),
                                               f"Jira {r.project_type} project" if r.project_type else "") if x)
                found.append(SourceText(source_id(integration_id, r.external_id), text, {
                    "title": f"{r.key} {r.name or ''}".strip(), "key": r.key, "project": r.key,
                    "url": _browse(r.base_url, r.key)}))
    return found


def _all_ids(table: Any, live: Any = None) -> Any:
    def all_ids(conn: Connection, tenant: str) -> list[str]:
        query = select(table.c.integration_id, table.c.external_id).where(table.c.tenant == tenant)
        if live is not None:
            query = query.where(live)
        return [source_id(i, e) for i, e in conn.execute(query)]
    return all_ids


def register() -> None:
    """Register the Jira sources (idempotent: the same functions each time)."""
    register_source(WORK_ITEMS, "JIRA", work_item_texts, all_ids=_ALL_WORK_ITEMS)
    register_source(PROJECTS, "JIRA", project_texts, all_ids=_ALL_PROJECTS)


_ALL_WORK_ITEMS = _all_ids(work_items, work_items.c.deleted.is_(False))
_ALL_PROJECTS = _all_ids(projects)


def embedding_items_for(tenant: str, integration_id: str, loaded: Mapping[str, Sequence[str]]
                        ) -> list[dict[str, Any]]:
    """The embedding stage's items for what one transform job loaded: the source tables only
    (statuses and types are not searched), ids qualified by the integration."""
    return [item for table in SOURCE_TABLES if loaded.get(table)
            for item in embedding_items(tenant, table, [source_id(integration_id, i) for i in loaded[table]])]


__all__ = ["SOURCE_TABLES", "embedding_items_for", "project_texts", "register", "source_id", "work_item_texts"]
