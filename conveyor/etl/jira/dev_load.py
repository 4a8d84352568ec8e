"""Loading step 4's dev-status pages: the issue's pull requests (`work_item_pull_requests`) and
its links to GitHub pull requests (`work_items_prs_links`, source `dev_status`, shared with the
GitHub ETL, whose own links come from keys in PR titles, branches and bodies).

dev-status is the truth for an issue's pull requests: its summary page, loaded before the detail
pages of the same issue and in the same transaction, clears what an earlier sync stored, so a pull
request that no longer shows up is gone after the next sync."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, select, update

from conveyor.etl.db import upsert
from conveyor.etl.github.load import link_dev_status
from conveyor.etl.github.tables import work_items_prs_links
from conveyor.etl.jira.dev_status import pull_requests
from conveyor.etl.jira.tables import work_item_pull_requests, work_items

if TYPE_CHECKING:
    from conveyor.etl.jira.load import Loaded, Owner

PR_KEYS = ["tenant", "integration_id", "issue_external_id", "pr_id"]


def load_dev_status(conn: Connection, owner: Owner, rest: str, body: Mapping[str, Any]) -> Loaded:
    """One dev-status page of one issue: `summary:<id>` clears the issue's pull requests and
    dev-status links; `detail:<id>` writes the ones it lists."""
    what, _, issue_id = rest.partition(":")
    P = work_item_pull_requests
    key = conn.execute(select(work_items.c.key).where(and_(
        owner.where(work_items), work_items.c.external_id == issue_id))).scalar()
    if what == "summary":
        conn.execute(delete(P).where(and_(owner.where(P), P.c.issue_external_id == issue_id)))
        if key is not None:
            L = work_items_prs_links
            conn.execute(delete(L).where(and_(L.c.tenant == owner.tenant, L.c.work_item_key == key,
                                              L.c.source == "dev_status")))
    elif what == "detail":
        upsert(conn, P, [owner.row(issue_external_id=issue_id, pr_id=pr.id,
                                   **{k: v for k, v in asdict(pr).items() if k != "id"})
                         for pr in pull_requests(body)], keys=PR_KEYS)
        if key is not None:
            link_dev_status(conn, owner.tenant, key, [pr for entry in body.get("detail") or []
                                                      for pr in entry.get("pullRequests") or []])
    conn.execute(update(work_items).where(and_(owner.where(work_items), work_items.c.external_id == issue_id))
                 .values(dev_status_for=work_items.c.updated))
    return {"work_items": [issue_id]} if what == "detail" else {}
