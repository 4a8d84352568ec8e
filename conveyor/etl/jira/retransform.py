"""Re-run the issues transform from the stored raw pages, with no HTTP call: after the custom
field mapping or the status mappings changed. Every work item remembers the raw page it was
last loaded from (`work_items.raw_id`); each such page is loaded again with its companions."""

from __future__ import annotations

from sqlalchemy import Engine, and_, select

from conveyor.etl.jira.load import Owner, load_issues
from conveyor.etl.jira.state import load_raw
from conveyor.etl.jira.tables import work_items


def retransform(engine: Engine, tenant: str, integration_id: str) -> int:
    """Reload every work item of the integration from raw; returns the issues written."""
    owner = Owner(tenant, integration_id)
    with engine.connect() as conn:
        raw_ids = sorted({int(r[0]) for r in conn.execute(select(work_items.c.raw_id).distinct().where(
            and_(owner.where(work_items), work_items.c.raw_id.is_not(None))))})
    written = 0
    for start in range(0, len(raw_ids), 50):
        for page in load_raw(engine, raw_ids[start:start + 50]):
            companions = load_raw(engine, run_id=page.run_id, step=page.step,
                                  prefix=f"jira:companion:{page.fingerprint}:")
            issues = page.body.get("issues") or []
            with engine.begin() as conn:
                # Only the issues whose newest load came from this page: a later page may hold a newer version.
                current = {str(r[0]) for r in conn.execute(select(work_items.c.external_id).where(
                    and_(owner.where(work_items), work_items.c.raw_id == page.id, work_items.c.deleted.is_(False))))}
                load_issues(conn, owner, [i for i in issues if str(i["id"]) in current], companions, page.id)
            written += len(current)
    return written
