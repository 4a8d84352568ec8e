"""The embedding stage end to end, for `python -m bench.embeddings`: texts per second through a
real pipeline (a `conveyor worker` process running the embedding stage: it reads the rows' text
from the source table, skips nothing, embeds, upserts into Qdrant Edge, writes the bridge rows),
as a ratio to the bare model encoding the same texts in this process in the same run; then the
latency of a search sent as a job to that worker (the path the API and `conveyor search` take).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.stats import percentile
from conveyor.etl.db import domain_engine

REPO_ROOT = Path(__file__).resolve().parent.parent


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_stage(results: dict[str, Any], texts: list[str], bare: Callable[[], None], scratch: Path,
                per_item: int = 200, searches: int = 50) -> None:
    from bench.embedding_app import QUEUES, app, bench_metadata, bench_notes, embed_pipeline
    from conveyor.etl.embeddings.search import search

    url = f"sqlite:///{scratch / 'stage.db'}"
    bound = app.with_database(url)
    bound.migrate()
    engine = domain_engine(url)
    bench_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(bench_notes), [{"tenant": "bench", "key": f"P-{i}", "body": t} for i, t in enumerate(texts)]
                     + [{"tenant": "warm", "key": f"W-{i}", "body": t} for i, t in enumerate(texts[:16])])
    env = {**os.environ, "CONVEYOR_DATABASE_URL": url, "CONVEYOR_VECTOR_DIR": str(scratch / "stage-vectors"),
           "CONVEYOR_EMBEDDER": "onnx", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    log = open(scratch / "stage-worker.log", "ab")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([sys.executable, "-m", "conveyor", "worker", "--app", "bench.embedding_app:app",
                               "--queues", QUEUES, "--concurrency", "2"], env=env, cwd=REPO_ROOT,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: bound.store.live_worker_count("bench_embedding", 10.0)[0], 60, "the stage worker")
        embed = bound.pipelines[embed_pipeline.name]
        # Warm-up run: the worker loads the model and opens the store folder (once per process).
        warm = embed.start({"per_item": per_item}, tenant="warm")
        _wait(lambda: (r := bound.get_run(warm.id)) and r.finished, 120, "the warm-up run")
        # The bare model before and after the timed run (best of the two): this process's own
        # onnxruntime, while the worker waits; the worker's run while this process waits.
        bare_s = [_timed(bare)]
        run = embed.start({"per_item": per_item}, tenant="bench")
        done = _wait(lambda: (r := bound.get_run(run.id)) and r.finished and r, 600, "the timed run")
        assert done.state == "FINISHED", done.error
        span = (done.finished_at - done.started_at).total_seconds()
        bare_s.append(_timed(bare))
        rerun = embed.start({"per_item": per_item}, tenant="bench")
        again = _wait(lambda: (r := bound.get_run(rerun.id)) and r.finished and r, 600, "the unchanged re-run")
        latencies = []
        for i in range(searches):
            t0 = time.perf_counter()
            hits = search(bound, texts[i % len(texts)][:80], tenant="bench", limit=10)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert hits, "a search found nothing"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
        bound.close()
        engine.dispose()
    n = len(texts)
    results["stage_pipeline"] = {
        "texts": n, "items_of_ids": per_item, "database": "sqlite", "store": "edge",
        "bare_onnx_texts_per_s": n / min(bare_s),
        "pipeline_texts_per_s": n / span,
        "ratio_pipeline_vs_bare": min(bare_s) / span,
        "unchanged_rerun_texts_per_s": n / (again.finished_at - again.started_at).total_seconds(),
        "search_job_ms_p50": percentile(latencies, 50), "search_job_ms_p95": percentile(latencies, 95),
    }
