"""Reading loaded work items: filtered keyset pages, and one item with its changelog, its pull
requests (dev-status) and the GitHub pull requests linked to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from conveyor.etl.github.tables import work_items_prs_links
from conveyor.etl.jira.tables import work_item_changelogs, work_item_pull_requests, work_items

W = work_items


def _plain(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row._mapping.items()}


def list_work_items(engine: Engine, *, tenant: str | None, project: str | None = None, status: str | None = None,
                    key: str | None = None, updated_since: datetime | None = None, include_deleted: bool = False,
                    limit: int = 50, after: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    query = select(W).order_by(W.c.updated.desc(), W.c.external_id.desc()).limit(limit)
    conditions = []
    if tenant is not None:
        conditions.append(W.c.tenant == tenant)
    if project:
        conditions.append(W.c.project_key == project)
    if status:
        conditions.append(or_(W.c.status_name == status, W.c.workflow_step == status))
    if key:
        conditions.append(W.c.key == key)
    if updated_since is not None:
        conditions.append(W.c.updated >= updated_since)
    if not include_deleted:
        conditions.append(W.c.deleted.is_(False))
    if after is not None:
        when = datetime.fromisoformat(after[0])
        conditions.append(or_(W.c.updated < when, and_(W.c.updated == when, W.c.external_id < after[1])))
    if conditions:
        query = query.where(and_(*conditions))
    with engine.connect() as conn:
        return [_plain(r) for r in conn.execute(query)]


def get_work_item(engine: Engine, key: str, tenant: str | None) -> dict[str, Any] | None:
    query = select(W).where(W.c.key == key).order_by(W.c.deleted, W.c.updated.desc()).limit(1)
    if tenant is not None:
        query = query.where(W.c.tenant == tenant)
    with engine.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            return None
        owner = and_(work_item_changelogs.c.tenant == row.tenant,
                     work_item_changelogs.c.integration_id == row.integration_id,
                     work_item_changelogs.c.issue_external_id == row.external_id)
        changes = conn.execute(select(work_item_changelogs).where(owner).order_by(
            work_item_changelogs.c.created, work_item_changelogs.c.history_id, work_item_changelogs.c.item_index))
        P = work_item_pull_requests
        pulls = conn.execute(select(P).where(and_(P.c.tenant == row.tenant, P.c.integration_id == row.integration_id,
                                                  P.c.issue_external_id == row.external_id)).order_by(P.c.pr_id))
        item = _plain(row)
        item["changelog"] = [_plain(c) for c in changes]
        item["pull_requests"] = [_plain(p) for p in pulls]
        L = work_items_prs_links  # the GitHub PRs linked to it: by dev-status, or by its key in a PR's text
        links = conn.execute(select(L).where(and_(L.c.tenant == row.tenant, L.c.work_item_key == row.key))
                             .order_by(L.c.repository, L.c.number, L.c.source))
        item["linked_pull_requests"] = [_plain(link) for link in links]
        return item
