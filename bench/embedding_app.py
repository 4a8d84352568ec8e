"""The app the embedding-stage benchmark runs in a worker process: a source table and one
pipeline step whose last stage is the embedding stage (as a Jira or GitHub step ends)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, select

from conveyor import Conveyor, JobContext
from conveyor.etl.db import shared_engine
from conveyor.etl.embeddings.sources import column_source, register_source
from conveyor.etl.embeddings.stage import embedding_items, embedding_stage

app = Conveyor(app_path="bench.embedding_app:app")
bench_metadata = MetaData()
bench_notes = Table("bench_notes", bench_metadata, Column("tenant", Text, primary_key=True),
                    Column("key", Text, primary_key=True), Column("body", Text, nullable=False))
fetch_texts, all_ids = column_source(bench_notes, id_column="key", text_columns=["body"])
register_source("bench_notes", "JIRA", fetch_texts, all_ids=all_ids)
QUEUES = "bench_load,bench_embedding,embedding_search"


@app.task(name="bench.emit_notes", queue="bench_load")
def emit_notes(ctx: JobContext, params: dict[str, Any]) -> int:
    with shared_engine(ctx.store.url).connect() as conn:
        keys = list(conn.execute(select(bench_notes.c.key).where(bench_notes.c.tenant == ctx.tenant)).scalars())
    ctx.emit(*embedding_items(ctx.tenant, "bench_notes", keys, per_item=int(params.get("per_item", 200))))
    return len(keys)


embed_pipeline = app.pipeline("bench.embed", steps=[{"name": "notes", "stages": [
    {"name": "transform", "task": "bench.emit_notes"}, embedding_stage(app, queue="bench_embedding")]}])
