"""GET /api/search: semantic search over the embedded rows of the caller's tenant."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from conveyor.api.auth import AUTH_ERRORS, Viewer
from conveyor.api.errors import ApiError
from conveyor.api.schemas import TENANT_PATTERN, TEXT_PATTERN, ErrorOut
from conveyor.api.state import get_ctx
from conveyor.etl.embeddings.search import SearchRequestError, SearchUnavailableError, search

router = APIRouter(tags=["search"], responses=AUTH_ERRORS)


@router.get("/api/search", responses={
    422: {"model": ErrorOut, "description": "Bad query or filter"},
    503: {"model": ErrorOut, "description": "Search not set up, no live search worker, or no answer in time"},
})
async def semantic_search(
    request: Request,
    caller: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=1000, pattern=TEXT_PATTERN, description="what to look for, in words")],
    source: Annotated[Literal["JIRA", "GITHUB"] | None, Query(description="only this source type")] = None,
    project: Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN, description="only this project")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN, description="admin keys: the tenant to search "
                                                                            "(default 'default')")] = None,
) -> dict[str, Any]:
    """Rows closest in meaning to `q`, best first, one hit per row: its table, external id,
    score (cosine), title, snippet of the matching text and link. A tenant key searches its tenant only."""
    ctx = get_ctx(request)
    scope = caller.tenant_filter(tenant) or "default"
    try:
        hits = await asyncio.to_thread(search, ctx.app, q, tenant=scope, source_type=source, project=project,
                                       limit=limit)
    except SearchRequestError as exc:
        raise ApiError(422, exc.message, action=exc.action) from None
    except SearchUnavailableError as exc:
        raise ApiError(503, exc.message, action=exc.action) from None
    return {"query": q, "tenant": scope, "source": source, "project": project, "limit": limit, "hits": hits}
