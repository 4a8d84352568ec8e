"""The extraction stage of the four Jira steps. Each stores every answer page unchanged (raw
first) with the step's cursor, then emits the raw row ids for the transform stage.

Emits are written with the attempt's completion, so an extraction killed mid-step emits nothing;
its retry resumes from the committed cursor and emits every raw page of the run's step once.
The two long steps (issues, dev-status) work in bounded jobs that continue their stage
(`ctx.continue_stage`), so the transform starts on the first pages instead of after the last.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select

from conveyor.etl.jira.client import ISSUE_SYSTEM_FIELDS, JiraClient
from conveyor.etl.jira.dev_status import instance_types
from conveyor.etl.jira.jql import issues_jql
from conveyor.etl.jira.state import (
    RawPage,
    cursor_of,
    last_success,
    raw_rows,
    record_sync_run,
    save_pages,
    sync_run,
    watermark_for,
)
from conveyor.etl.jira.sync import Sync, measured
from conveyor.etl.jira.tables import custom_fields, projects, work_item_pull_requests, work_items
from conveyor.etl.jira.transport import Page

DEV_BATCH = 50  # dev-status: issues per committed batch (and about 2 raw pages each per transform job)


def _raw(source: str, page: Page) -> RawPage:
    return RawPage(source, page.request.fingerprint, page.body)


def _emit_step_rows(sync: Sync, *, exclude_prefix: tuple[str, ...] = ()) -> int:
    """Every raw row of this run's step, for the transform (companion and sweep pages go with
    the row they belong to, not on their own)."""
    rows = [rid for rid, source in raw_rows(sync.engine, sync.run_id, sync.step) if not source.startswith(exclude_prefix)]
    sync.ctx.emit(*rows)
    sync.metrics(items=len(rows))
    return len(rows)


def _save(sync: Sync, pages: list[RawPage], cursor: Any, done: bool = False) -> list[int]:
    return save_pages(sync.engine, run_id=sync.run_id, step=sync.step, tenant=sync.tenant, token=sync.token,
                      pages=pages, cursor=cursor, done=done)


# -- step 1 ---------------------------------------------------------------------------------
def extract_projects(sync: Sync, item: Any = None) -> int:
    """Projects (paged, with their issue types), every issue type, team-managed projects' own
    types, and the site's fields (custom-field discovery)."""
    with sync.client() as client, measured(sync, client):
        wanted = set(sync.settings.get("projects") or [])
        team_managed: list[str] = []
        for page in client.project_pages():
            _save(sync, [_raw("jira:projects", page)], {"projects": page.next_cursor})
            team_managed += [str(p["id"]) for p in page.items
                             if p.get("simplified") and (not wanted or p.get("key") in wanted)]
        _save(sync, [_raw("jira:issuetypes", client.issue_types())], {"issuetypes": True})
        for project_id in team_managed:
            _save(sync, [_raw(f"jira:project-issuetypes:{project_id}", client.project_issue_types(project_id))], None)
        _save(sync, [_raw("jira:fields", client.fields())], None, done=True)
        return _emit_step_rows(sync)


# -- step 2 ---------------------------------------------------------------------------------
def extract_statuses(sync: Sync, item: Any = None) -> int:
    """Every status (`/status`), each project's statuses (`/statuses/search`, where team-managed
    projects' same-named statuses differ by id), status categories and issue link types."""
    with sync.client() as client, measured(sync, client):
        _save(sync, [_raw("jira:status", client.statuses())], None)
        _save(sync, [_raw("jira:statuscategory", client.status_categories())], None)
        for project_id in _project_ids(sync):
            for page in client.status_pages(project_id):
                _save(sync, [_raw(f"jira:statuses-search:{project_id}", page)], None)
        _save(sync, [_raw("jira:linktypes", client.issue_link_types())], None, done=True)
        return _emit_step_rows(sync)


def _project_ids(sync: Sync) -> list[str]:
    query = select(projects.c.external_id).where(and_(
        projects.c.tenant == sync.tenant, projects.c.integration_id == sync.integration.id)).order_by(projects.c.key)
    wanted = sync.settings.get("projects") or []
    if wanted:
        query = query.where(projects.c.key.in_(wanted))
    with sync.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(query)]


def _project_keys(sync: Sync) -> list[str]:
    if sync.settings.get("projects"):
        return list(sync.settings["projects"])
    query = select(projects.c.key).where(and_(
        projects.c.tenant == sync.tenant, projects.c.integration_id == sync.integration.id)).order_by(projects.c.key)
    with sync.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(query)]


# -- step 3 ---------------------------------------------------------------------------------
def _job_number(item: Any) -> int:
    """0 for the step's entry job (its item is the run's params), n for its n-th continuation."""
    return int(item["continue"]) if isinstance(item, dict) and "continue" in item else 0


def _resume(sync: Sync, job: int) -> tuple[dict[str, Any], bool, list[int]]:
    """The committed cursor state, whether the step is done, and the rows this job already stored
    in an earlier attempt (never emitted: emits land only with a completion)."""
    committed = cursor_of(sync.engine, sync.run_id, sync.step)
    state: dict[str, Any] = dict((committed[0] if committed else None) or {})
    mine = [int(i) for i in state.get("raw", [])] if state.get("job") == job else []
    return state, bool(committed and committed[1]), mine


def _with(rows: list[int], row: int) -> list[int]:
    return rows if row in rows else [*rows, row]  # a page served again (repeated token) is emitted once


def extract_issues(sync: Sync, item: Any = None) -> int:
    """search/jql with explicit fields and token paging, from the watermark (in the Jira user's
    time zone); each page's changelogs and comments completed; then, when due, the keys-only
    sweep that finds deleted issues.

    One job stores at most `issue_pages_per_job` search pages (each with the cursor, naming the
    job and its pages, in one transaction), emits them and continues the stage with the next job
    in its completion: the transform loads pages while the search goes on. A retried job emits the
    pages its killed attempt stored and resumes from the committed cursor."""
    job = _job_number(item)
    state, done, mine = _resume(sync, job)
    if done:  # a retry after everything was stored
        return _emit_issue_rows(sync, mine, last=True)
    per_job = max(1, int(sync.settings.get("issue_pages_per_job", 1)))
    with sync.client() as client, measured(sync, client):
        run = sync_run(sync.engine, sync.run_id)
        if run is None:
            run = _start_issue_sync(sync, client)
        if not state.get("search_done") and len(mine) >= per_job:  # a retry after this job's pages were stored
            return _emit_issue_rows(sync, mine, next_job=job + 1)
        if not state.get("search_done"):
            fields = [*ISSUE_SYSTEM_FIELDS, *_custom_field_ids(sync)]
            seen = set(state.get("tokens", []))  # every token the step used: a cycle across jobs stops too
            for page in client.search_pages(run.jql, fields, start_token=state.get("token"), seen=seen):
                extra: list[Page] = []
                client.complete_changelogs(page.items, extra)
                for issue in page.items:
                    client.complete_comments(issue, extra)
                companions = [_companion(page.request.fingerprint, p) for p in extra]
                state.update(token=page.next_cursor, search_done=page.next_cursor is None, job=job, tokens=sorted(seen),
                             issues=int(state.get("issues", 0)) + len(page.items))
                ids = _save(sync, [_raw("jira:search", page), *companions],
                            lambda ids, mine=mine: {**state, "raw": _with(mine, ids[0])})
                mine = _with(mine, ids[0])
                if len(mine) >= per_job and not state["search_done"]:
                    break
            else:  # the pages ran out (no token, a repeated token or an empty page)
                state["search_done"] = True
            if not state["search_done"]:
                return _emit_issue_rows(sync, mine, next_job=job + 1)
        if run.deletion_sweep and not state.get("sweep_done"):
            jql = issues_jql(_project_keys(sync), None, run.time_zone)
            for page in client.issue_id_pages(jql, start_token=state.get("sweep_token")):
                state.update(sweep_token=page.next_cursor, sweep_done=page.next_cursor is None)
                _save(sync, [_raw("jira:sweep", page)], {**state, "job": job, "raw": mine})
        _save(sync, [], {**state, "job": job, "raw": mine}, done=True)
        fetched, expected = int(state.get("issues", 0)), run.expected_issues
        note = (f"fetched {fetched} issues, fewer than the {expected} Jira expected"
                if expected is not None and fetched < expected else None)
        sync.metrics(records=fetched, expected=expected, note=note)
    return _emit_issue_rows(sync, mine, last=True)


def _start_issue_sync(sync: Sync, client: JiraClient) -> Any:
    """The run's watermark, JQL (dates in the Jira user's zone) and expected count, recorded once."""
    zone = str(client.myself().get("timeZone") or "UTC")
    overlap = int(sync.settings.get("overlap_minutes", 15))
    since = None if sync.params.get("full") else watermark_for(sync.engine, sync.integration.id, overlap)
    keys = _project_keys(sync)
    jql = issues_jql(keys, since, zone)
    last_sweep = last_success(sync.engine, sync.integration.id, sweep=True)
    hours = int(sync.settings.get("deletion_sweep_hours", 24))
    # Deleted issues leave no trace in an `updated >=` search: a keys-only sweep finds them, on the
    # first run and then every `deletion_sweep_hours` (or when asked).
    sweep = (sync.params.get("sweep") is True or last_sweep is None
             or datetime.now(UTC) - last_sweep >= timedelta(hours=hours))
    record_sync_run(sync.engine, run_id=sync.run_id, tenant=sync.tenant, integration_id=sync.integration.id,
                    updated_since=since, time_zone=zone, jql=jql, expected=client.approximate_count(jql),
                    deletion_sweep=sweep)
    return sync_run(sync.engine, sync.run_id)


def _companion(search_fingerprint: str, page: Page) -> RawPage:
    """A changelog or comment page fetched to complete a search page: its source names the page
    and the issue, so the transform finds it again (also when reprocessing)."""
    path = page.request.path
    if path.endswith("/changelog/bulkfetch"):
        kind = "bulk"
    else:
        issue = path.rstrip("/").split("/")[-2]
        kind = f"{path.rstrip('/').split('/')[-1]}:{issue}"  # changelog:<id> or comment:<id>
    return RawPage(f"jira:companion:{search_fingerprint}:{kind}", page.request.fingerprint, page.body)


def _custom_field_ids(sync: Sync) -> list[str]:
    query = select(custom_fields.c.external_id).where(and_(
        custom_fields.c.tenant == sync.tenant, custom_fields.c.integration_id == sync.integration.id))
    with sync.engine.connect() as conn:
        return sorted(str(r[0]) for r in conn.execute(query))


def _emit_issue_rows(sync: Sync, pages: list[int], *, next_job: int | None = None, last: bool = False) -> int:
    """This job's search pages for the transform, then either the next job of the stage or (the
    last job) the sweep's pages as one item: marking deletions needs every id Jira still has."""
    sync.ctx.emit(*pages)
    items = len(pages)
    if next_job is not None:
        sync.ctx.continue_stage({"continue": next_job})
    if last:
        sweep = [rid for rid, _ in raw_rows(sync.engine, sync.run_id, sync.step, source="jira:sweep")]
        if sweep:
            sync.ctx.emit({"sweep": sweep})
            items += 1
    sync.metrics(items=items)
    return len(pages)


# -- step 4 ---------------------------------------------------------------------------------
def extract_dev_status(sync: Sync, item: Any = None) -> int:
    """Pull requests of the issues whose Development field shows any (or that had some: dev-status
    then says they are gone), and whose `updated` moved since they were last read: dev-status
    summary, then detail per instance type (numeric ids).

    The entry job only plans: it continues the stage with one job per batch of `DEV_BATCH`
    issues, all at once, so batches are read side by side (the extraction worker's concurrency).
    A batch job stores its pages with its own cursor, marked done, in one transaction; a retried
    one finds them there and emits them without asking Jira again."""
    if not sync.settings.get("dev_status", True):
        return _emit_step_rows(sync)
    if isinstance(item, dict) and "issues" in item:
        return _dev_batch(sync, int(item["continue"]), [str(i) for i in item["issues"]])
    W, P = work_items, work_item_pull_requests
    query = (select(W.c.external_id).where(and_(
        W.c.tenant == sync.tenant, W.c.integration_id == sync.integration.id, W.c.deleted.is_(False),
        or_(W.c.pull_request_count > 0, W.c.pull_request_count.is_(None), exists().where(and_(
            P.c.tenant == W.c.tenant, P.c.integration_id == W.c.integration_id, P.c.issue_external_id == W.c.external_id))),
        or_(W.c.dev_status_for.is_(None), W.c.dev_status_for != W.c.updated)))
        .order_by(W.c.external_id))
    with sync.engine.connect() as conn:
        issue_ids = [str(r[0]) for r in conn.execute(query)]
    batches = [issue_ids[i:i + DEV_BATCH] for i in range(0, len(issue_ids), DEV_BATCH)]
    sync.ctx.continue_stage(*({"continue": n, "issues": batch} for n, batch in enumerate(batches, 1)))
    sync.metrics(records=len(issue_ids))
    return len(issue_ids)


def _dev_batch(sync: Sync, n: int, issue_ids: list[str]) -> int:
    cursor_step = f"{sync.step}#{n}"
    committed = cursor_of(sync.engine, sync.run_id, cursor_step)
    if committed is not None and committed[1]:  # stored by an earlier attempt, never emitted
        rows = [int(i) for i in (committed[0] or {}).get("raw", [])]
    else:
        with sync.client() as client, measured(sync, client):
            pages: list[RawPage] = []
            for issue_id in issue_ids:
                summary = client.dev_status_summary(issue_id)
                pages.append(_raw(f"jira:dev:summary:{issue_id}", summary))
                for kind in instance_types(summary.body):
                    pages.append(_raw(f"jira:dev:detail:{issue_id}", client.dev_status_pull_requests(issue_id, kind)))
            rows = save_pages(sync.engine, run_id=sync.run_id, step=sync.step, tenant=sync.tenant, token=sync.token,
                              pages=pages, cursor=lambda ids: {"raw": ids}, done=True, cursor_step=cursor_step)
    if rows:
        sync.ctx.emit({"raw": rows})  # one transform job per batch, not per page
    sync.metrics(items=1 if rows else 0)
    return len(rows)
