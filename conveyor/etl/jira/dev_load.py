"""Loading step 4's dev-status pages: the issues' pull requests (`work_item_pull_requests`) and
their links to GitHub pull requests (`work_items_prs_links`, source `dev_status`, shared with the
GitHub ETL, whose own links come from keys in PR titles, branches and bodies).

dev-status is the truth for an issue's pull requests: a summary page clears what an earlier sync
stored for its issue, and the detail pages of the same batch (same transaction) write what is
there now, so a pull request that no longer shows up is gone after the next sync. A batch is
loaded in a handful of statements, not several per issue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, select, update

from conveyor.etl.db import upsert
from conveyor.etl.github.links import pull_request_from_dev_status
from conveyor.etl.github.tables import pull_requests as github_pull_requests
from conveyor.etl.github.tables import work_items_prs_links
from conveyor.etl.jira.dev_status import pull_requests
from conveyor.etl.jira.tables import work_item_pull_requests, work_items

if TYPE_CHECKING:
    from conveyor.etl.jira.load import Loaded, Owner
    from conveyor.etl.jira.state import RawRow

PR_KEYS = ["tenant", "integration_id", "issue_external_id", "pr_id"]
LINK_KEYS = ["tenant", "work_item_key", "repository", "number", "source"]
CHUNK = 500  # ids per IN (...) list


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i:i + CHUNK] for i in range(0, len(values), CHUNK)]


def load_dev_status(conn: Connection, owner: Owner, rows: Sequence[RawRow]) -> Loaded:
    """Dev-status pages (`jira:dev:summary:<id>`, `jira:dev:detail:<id>`) of a batch of issues."""
    W, P, L = work_items, work_item_pull_requests, work_items_prs_links
    parts = [(row.source.split(":")[2], row.source.split(":", 3)[3], row) for row in rows]
    issue_ids = sorted({issue for _, issue, _ in parts})
    keys: dict[str, str] = {}
    for chunk in _chunks(issue_ids):
        keys.update((str(r[0]), str(r[1])) for r in conn.execute(select(W.c.external_id, W.c.key).where(
            and_(owner.where(W), W.c.external_id.in_(chunk)))))
    cleared = sorted({issue for what, issue, _ in parts if what == "summary"})
    for chunk in _chunks(cleared):
        conn.execute(delete(P).where(and_(owner.where(P), P.c.issue_external_id.in_(chunk))))
    for chunk in _chunks(sorted({keys[i] for i in cleared if i in keys})):
        conn.execute(delete(L).where(and_(L.c.tenant == owner.tenant, L.c.work_item_key.in_(chunk),
                                          L.c.source == "dev_status")))
    prs: dict[tuple[str, str], dict[str, Any]] = {}
    refs: dict[tuple[str, str, int], None] = {}  # (work item key, repository, number), in order
    for what, issue, row in parts:
        if what != "detail":
            continue
        for pr in pull_requests(row.body):
            prs[(issue, pr.id)] = owner.row(issue_external_id=issue, pr_id=pr.id,
                                            **{k: v for k, v in asdict(pr).items() if k != "id"})
        for entry in [pr for d in row.body.get("detail") or [] for pr in d.get("pullRequests") or []]:
            ref = pull_request_from_dev_status(entry)
            if ref is not None and issue in keys:
                refs[(keys[issue], ref.repository, ref.number)] = None
    upsert(conn, P, list(prs.values()), keys=PR_KEYS)
    if refs:
        G = github_pull_requests
        known: dict[tuple[str, int], str] = {}
        for repository in sorted({r for _, r, _ in refs}):
            for chunk in _chunks(sorted({n for _, r, n in refs if r == repository})):
                known.update(((repository, int(r.number)), str(r.id)) for r in conn.execute(
                    select(G.c.number, G.c.id).where(and_(G.c.tenant == owner.tenant, G.c.repository == repository,
                                                           G.c.number.in_(chunk)))))
        now = datetime.now(UTC)
        upsert(conn, L, [{"tenant": owner.tenant, "work_item_key": key, "repository": repository, "number": number,
                          "source": "dev_status", "pull_request_id": known.get((repository, number)),
                          "linked_at": now} for key, repository, number in refs], keys=LINK_KEYS)
    for chunk in _chunks(issue_ids):
        conn.execute(update(W).where(and_(owner.where(W), W.c.external_id.in_(chunk)))
                     .values(dev_status_for=W.c.updated))
    return {"work_items": sorted({issue for what, issue, _ in parts if what == "detail"})}
