"""The embedding stage, reusable by any pipeline step, and the search task that serves the API.

A step ends with the embedding stage; the stage before it emits items naming rows it loaded:

    from conveyor.etl.embeddings.stage import embedding_items, embedding_stage

    jira = app.pipeline("jira", steps=[{"name": "issues", "stages": [
        {"name": "extraction", "task": extract_issues, "queue": "extraction_queue_{tier}"},
        {"name": "transform", "task": transform_issues, "queue": "transform_queue_{tier}"},
        embedding_stage(app),                              # queue "embedding_queue_{tier}"
    ]}])

    @app.task(...)
    def transform_issues(ctx, raw_id):
        keys = load_work_items(...)                        # upserts rows of work_items
        ctx.emit(*embedding_items(ctx.tenant, "work_items", keys))

An item is {"tenant": ..., "table": <a registered source table>, "ids": [external ids]}; the job
embeds what changed, skips what did not (same text hash and model), and deletes the points of ids
the table no longer has. Ids of one item share model batches, so items of ~100-250 ids keep the
model busy without making one job long.

Ownership of an embedded store: the worker process that runs these jobs opens the folder on its
first job and keeps it. Searches therefore run in that process too: the API enqueues a search job
on the search queue (served by the same worker) and waits for its result. Serve the embedding
queue(s) and the search queue with ONE worker process per embedded store folder; with a Qdrant
server (CONVEYOR_QDRANT_URL) any number of embedding workers may run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from conveyor.context import JobContext
from conveyor.errors import ParkJob, PermanentError
from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.folder_lock import StoreLockedError
from conveyor.etl.embeddings.service import EmbeddingService, process_service
from conveyor.etl.embeddings.sources import get_source
from conveyor.model import RetryPolicy

if TYPE_CHECKING:
    from conveyor.app import Conveyor

EMBED_TASK = "conveyor.embeddings.embed"
SEARCH_TASK = "conveyor.embeddings.search"
LIST_TASK = "conveyor.embeddings.list"
REINDEX_PIPELINE = "conveyor.embeddings.reindex"
EMBED_QUEUE = "embedding"  # the task's own queue; a stage usually names a tiered one
STAGE_QUEUE = "embedding_queue_{tier}"  # the seed's queue names
MAX_IDS = 2000  # per item: a job of minutes at most on a CPU
MAX_LIMIT = 100
EMBED_RETRY = RetryPolicy(base=1.0, factor=2.0, cap=60.0)
# A worker that finds the embedded store owned by another process hands its jobs back for this
# long (no attempt spent): the owner, serving the same queues, takes them meanwhile.
PARK_EMBED_S, PARK_SEARCH_S = 2.0, 0.1
log = logging.getLogger("conveyor.embeddings")
_told_locked: set[str] = set()  # folders this process has already logged as owned by another


def search_queue() -> str:
    """The queue of search jobs: served by the worker that owns the embedded store."""
    return os.environ.get("CONVEYOR_EMBEDDING_SEARCH_QUEUE", "embedding_search")


def embedding_stage(app: Conveyor, *, name: str = "embedding", queue: str | None = STAGE_QUEUE) -> dict[str, Any]:
    """A stage declaration for app.pipeline(...) steps; registers the embedding tasks on `app` once.
    queue: a queue name or template ('embedding_queue_{tier}'); None: the task's queue 'embedding'."""
    register_embedding_tasks(app)
    return {"name": name, "task": EMBED_TASK, "queue": queue}


def register_embedding_tasks(app: Conveyor) -> None:
    """The embedding and search tasks, on `app` (idempotent): the worker and the API load the same app."""
    if EMBED_TASK not in app.tasks:
        app.task(name=EMBED_TASK, queue=EMBED_QUEUE, max_attempts=5, timeout=900, retry=EMBED_RETRY)(embed_entities)
    if SEARCH_TASK not in app.tasks:
        # One attempt, short: a search nobody answers in time is answered 503 by the API, not retried.
        app.task(name=SEARCH_TASK, queue=search_queue(), priority=10, max_attempts=1, timeout=30,
                 policy="refuse")(search_entities)
    if LIST_TASK not in app.tasks:
        app.task(name=LIST_TASK, queue=EMBED_QUEUE, max_attempts=3, timeout=900, retry=EMBED_RETRY)(list_entities)
    if REINDEX_PIPELINE not in app.pipelines:
        # Re-embed a tenant (after a model change): list every row of the sources, embed what changed.
        # Both stages on the run's `queue` param: the queue of the worker that owns the store.
        app.pipeline(REINDEX_PIPELINE, steps=[{"name": "reindex", "display_name": "Re-embed", "stages": [
            {"name": "listing", "task": LIST_TASK, "queue": "{queue}"},
            {"name": "embedding", "task": EMBED_TASK, "queue": "{queue}"}]}])


def embedding_items(tenant: str, table: str, ids: Iterable[Any], per_item: int = 200) -> list[dict[str, Any]]:
    """Items for the embedding stage, `per_item` ids each (for ctx.emit(*items))."""
    if not 1 <= per_item <= MAX_IDS:
        raise ValueError(f"per_item must be between 1 and {MAX_IDS}, got {per_item}")
    unique = list(dict.fromkeys(str(i) for i in ids))
    return [{"tenant": tenant, "table": table, "ids": unique[i:i + per_item]} for i in range(0, len(unique), per_item)]


def parse_item(item: Any, job_tenant: str) -> tuple[str, str, list[str]]:
    """(tenant, table, ids) of an embedding item; PermanentError naming what is wrong."""
    if not isinstance(item, dict):
        raise PermanentError(f"an embedding item is {{'tenant', 'table', 'ids'}}, got {type(item).__name__}")
    extra = set(item) - {"tenant", "table", "ids"}
    if extra:
        raise PermanentError(f"an embedding item has unknown key(s) {sorted(extra)}; it takes tenant, table, ids")
    tenant = item.get("tenant", job_tenant)
    if not isinstance(tenant, str) or not tenant:
        raise PermanentError(f"the item's tenant must be a non-empty string, got {tenant!r}")
    if job_tenant not in ("default", tenant):
        raise PermanentError(f"the item names tenant {tenant!r} but its run belongs to tenant {job_tenant!r}")
    table = item.get("table")
    if not isinstance(table, str) or not table:
        raise PermanentError(f"the item's table must be a registered source table name, got {table!r}")
    ids = item.get("ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
        raise PermanentError(f"the item's ids must be a list of 1 to {MAX_IDS} external ids, got "
                             f"{type(ids).__name__ if not isinstance(ids, list) else f'{len(ids)} ids'}")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, str | int) or str(i).strip() == "":
            raise PermanentError(f"external ids are non-empty strings (or integers), got {i!r}")
    return tenant, table, [str(i) for i in ids]


def owned_service(park_seconds: float) -> EmbeddingService:
    """This process's embedding service; when another process owns the embedded store's folder,
    ParkJob: the job goes back to its queue for `park_seconds` without spending an attempt, for
    the owner to run (logged once per folder, not per job)."""
    try:
        return process_service()
    except StoreLockedError as exc:
        folder = str(exc.folder)
        if folder not in _told_locked:
            _told_locked.add(folder)
            log.warning("%s This worker hands every embedding and search job back (no attempt spent) for the "
                        "owner to run; serve queues %r and %r with that one process only.",
                        exc.message, EMBED_QUEUE, search_queue())
        raise ParkJob(datetime.now(UTC) + timedelta(seconds=park_seconds),
                      f"handed back: another process owns the embedded vector store {folder}") from None


def embed_entities(ctx: JobContext, item: dict[str, Any]) -> dict[str, int]:
    """The embedding stage's task: embed one item's rows (see the module doc)."""
    tenant, table, ids = parse_item(item, ctx.tenant)
    source = get_source(table)
    result = owned_service(PARK_EMBED_S).embed(shared_engine(ctx.store.url), tenant, source, ids)
    ctx.progress(100, processed=result.entities)
    return result.to_dict()


def list_entities(ctx: JobContext, params: dict[str, Any]) -> dict[str, int]:
    """The reindex pipeline's first stage: emit items for every row of the tenant's sources (or of
    params 'tables'), and for every row the bridge still has (deleted since: their points go)."""
    from conveyor.etl.embeddings import bridge_table
    from conveyor.etl.embeddings.sources import registered_sources

    tables = params.get("tables")
    per_item = params.get("per_item", 200)
    if tables is not None and (not isinstance(tables, list) or not all(isinstance(t, str) for t in tables)):
        raise PermanentError(f"tables must be a list of source table names, got {tables!r}")
    if isinstance(per_item, bool) or not isinstance(per_item, int) or not 1 <= per_item <= MAX_IDS:
        raise PermanentError(f"per_item must be an integer between 1 and {MAX_IDS}, got {per_item!r}")
    sources = [get_source(t) for t in tables] if tables else registered_sources()
    counts: dict[str, int] = {}
    with shared_engine(ctx.store.url).connect() as conn:
        for source in sources:
            if source.all_ids is None:
                if tables:
                    raise PermanentError(f"source {source.table!r} was registered without all_ids: it cannot be "
                                         "listed for a reindex")
                continue
            ids = list(dict.fromkeys([*source.all_ids(conn, ctx.tenant),
                                      *(r.external_id for r in bridge_table.rows_of_table(conn, ctx.tenant,
                                                                                          source.table))]))
            ctx.emit(*embedding_items(ctx.tenant, source.table, ids, per_item))
            counts[source.table] = len(ids)
    return counts


def reindex(app: Conveyor, *, tenant: str, queue: str = EMBED_QUEUE, tables: list[str] | None = None,
            per_item: int = 200) -> Any:
    """Start the reindex pipeline for `tenant` (one command after a model change); returns the run,
    whose status shows both stages live like any pipeline run."""
    register_embedding_tasks(app)
    params: dict[str, Any] = {"queue": queue, "per_item": per_item}
    if tables:
        params["tables"] = tables
    return app.runs.start(REINDEX_PIPELINE, params, tenant=tenant)


def search_entities(ctx: JobContext, query: str, source_type: str | None = None, project: str | None = None,
                    limit: int = 10) -> list[dict[str, Any]]:
    """Semantic search in the job's tenant (the API sets it from the caller's key): never another's."""
    query, source_type, project, limit = check_search_request(query, source_type, project, limit)
    return owned_service(PARK_SEARCH_S).search(query, tenant=ctx.tenant, source_type=source_type, project=project,
                                               limit=limit)


def check_search_request(query: Any, source_type: Any, project: Any, limit: Any,
                         ) -> tuple[str, str | None, str | None, int]:
    from conveyor.etl.embeddings.bridge import SOURCE_TYPES

    if not isinstance(query, str) or not query.strip() or len(query) > 1000 or "\x00" in query:
        raise PermanentError("the search query must be 1 to 1000 characters of text (no NUL)")
    if source_type is not None and source_type not in SOURCE_TYPES:
        raise PermanentError(f"source must be one of {', '.join(SOURCE_TYPES)}, got {source_type!r}")
    if project is not None and (not isinstance(project, str) or not project or "\x00" in project):
        raise PermanentError(f"project must be a non-empty string (no NUL), got {project!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise PermanentError(f"limit must be an integer between 1 and {MAX_LIMIT}, got {limit!r}")
    return query.strip(), source_type, project, limit

