"""The app the pipeline benchmark's workers serve: a 3-stage no-op pipeline and a plain no-op task."""

from __future__ import annotations

from typing import Any

from conveyor import Conveyor, JobContext

app = Conveyor(app_path="bench.pipeline_app:app")


@app.task(name="bench.plain_noop", queue="bench_plain")
async def plain_noop(value: Any = None) -> None:
    return None


@app.task(name="bench.extract", queue="bench_extract")
async def extract(ctx: JobContext, params: dict[str, Any]) -> int:
    ctx.emit(*range(int(params["n"])))
    return int(params["n"])


@app.task(name="bench.transform", queue="bench_transform")
async def transform(ctx: JobContext, item: Any) -> None:
    ctx.emit(item)


@app.task(name="bench.embed", queue="bench_embed")
async def embed(ctx: JobContext, item: Any) -> None:
    return None


noop_pipeline = app.pipeline("bench.noop3", steps=[{"name": "main", "stages": [
    {"name": "extraction", "task": "bench.extract"},
    {"name": "transform", "task": "bench.transform"},
    {"name": "embedding", "task": "bench.embed"},
]}])
