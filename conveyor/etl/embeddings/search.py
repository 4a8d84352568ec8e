"""Semantic search from any process (API, CLI): a search job answered by the store's owner.

Why a job: an embedded store's folder belongs to the embedding worker (one process may open it),
so the API cannot open it itself. The database is already the channel between processes: the
search job goes to the search queue that the owning worker serves, with the refuse policy (no
live worker: a clear 503, nothing queued), and the caller waits for its result. Latency is one
job round trip (PostgreSQL wakes the worker by NOTIFY; SQLite within its poll interval).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError, PermanentError
from conveyor.etl.embeddings.stage import SEARCH_TASK, check_search_request, search_queue

if TYPE_CHECKING:
    from conveyor.app import Conveyor


class SearchUnavailableError(ConveyorError):
    """Search is not set up in this app, or its worker did not answer in time."""


class SearchRequestError(ConveyorError):
    """The query or a filter is not acceptable (said before anything is queued)."""


def search(app: Conveyor, query: str, *, tenant: str, source_type: str | None = None, project: str | None = None,
           limit: int = 10, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Hits of `tenant` for `query`, best first: {table, external_id, source_type, score, title,
    snippet, url, project, model}."""
    try:
        query, source_type, project, limit = check_search_request(query, source_type, project, limit)
    except PermanentError as exc:
        raise SearchRequestError(str(exc), action="Fix the request and search again.") from None
    if SEARCH_TASK not in app.tasks:
        raise SearchUnavailableError(
            "Semantic search is not set up in this app: no step has an embedding stage.",
            action="Add embedding_stage(app) (conveyor.etl.embeddings.stage) to a pipeline step of the app.")
    handle = app.enqueue(SEARCH_TASK, [query], {"source_type": source_type, "project": project, "limit": limit},
                         tenant=tenant, policy="refuse")
    try:
        job = handle.wait(timeout, poll=0.01)
    except TimeoutError:
        raise SearchUnavailableError(
            f"The search worker did not answer within {timeout:g} s.",
            action=f"Check the worker serving queue {search_queue()!r} (conveyor workers); it may be busy "
                   "embedding a large batch.") from None
    if job.state != "completed":
        raise SearchUnavailableError(f"The search failed in the worker: {job.error}",
                                     action=f"See job {job.id} (conveyor status {job.id}).")
    return list(job.result or [])
