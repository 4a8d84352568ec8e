"""A test source table and pipeline for the embedding stage (in-process and in worker subprocesses).

`test_notes` stands in for the Jira and GitHub domain tables: a step loads (here: lists) rows and
emits their ids to the embedding stage, which reads the rows' text through the source registry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, select

from conveyor import JobContext
from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.sources import column_source, register_source
from conveyor.etl.embeddings.stage import embedding_items, embedding_stage
from tests.tasks import FAST_RETRY, app

# Its own MetaData: a test table, created by the tests, never by a migration.
test_metadata = MetaData()
notes = Table(
    "test_notes", test_metadata,
    Column("tenant", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text),
    Column("project", Text),
    Column("url", Text),
)
fetch_notes, all_note_ids = column_source(notes, id_column="key", text_columns=["title", "body"],
                                          payload_columns={"title": "title", "project": "project", "url": "url"})
register_source("test_notes", "JIRA", fetch_notes, all_ids=all_note_ids)

EMBED_QUEUE = "embedding_queue_t"  # embedding_stage's template with tier="t"
QUEUES = f"e_load,{EMBED_QUEUE},embedding_search"


@app.task(name="e.load", queue="e_load", max_attempts=3, retry=FAST_RETRY)
def load_notes(ctx: JobContext, params: dict[str, Any]) -> int:
    """The 'transform' of a real step: here the rows are already loaded; emit their ids (params
    'keys', else every note of the run's tenant) in items of params 'per_item' ids."""
    keys = params.get("keys")
    if keys is None:
        with shared_engine(ctx.store.url).connect() as conn:
            keys = list(conn.execute(select(notes.c.key).where(notes.c.tenant == ctx.tenant)
                                     .order_by(notes.c.key)).scalars())
    items = embedding_items(ctx.tenant, "test_notes", keys, per_item=int(params.get("per_item", 20)))
    ctx.emit(*items)
    return len(keys)


notes_pipeline = app.pipeline("t.notes", steps=[{"name": "notes", "display_name": "Notes", "stages": [
    {"name": "transform", "task": "e.load"},
    embedding_stage(app),
]}])


def stand_in_service(folder: Any) -> Any:
    """An embedding service with the stand-in embedder on an Edge store in `folder` (tests about
    search plumbing, not the model); install it in this process with service.use_service()."""
    from conveyor.etl.embeddings.edge_store import EdgeStore
    from conveyor.etl.embeddings.service import EmbeddingService
    from conveyor.etl.embeddings.stand_in import StandInEmbedder

    return EmbeddingService(StandInEmbedder(64), EdgeStore(folder))
