"""The embedding stage in a real pipeline with real worker processes and the real model, on both
engines: a worker killed mid-stage loses and duplicates nothing, a re-run writes nothing, the
folder has one owner at a time, searches are answered by the owning worker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from conveyor import Conveyor
from conveyor.etl.embeddings.bridge_table import qdrant_vectors
from conveyor.etl.embeddings.edge_store import EdgeStore
from conveyor.etl.embeddings.folder_lock import StoreLockedError
from conveyor.etl.embeddings.stage import EMBED_TASK, SEARCH_TASK
from conveyor.store.pipelines_common import pipeline_sql
from tests.conftest import live_workers, wait_for
from tests.embedding_tasks import EMBED_QUEUE, QUEUES, notes_pipeline
from tests.embeddings.test_stage import NOTES, add_notes, domain  # noqa: F401 - the fixture

SUBJECTS = ["login page", "payment service", "search index", "release pipeline", "mobile app", "billing report"]
PROBLEMS = ["crashes when", "times out after", "shows a blank screen if", "returns the wrong total when"]
CAUSES = ["the user has a unicode password", "the nightly deploy runs", "two tabs are open", "the cache expires"]


def many_notes(n: int) -> dict[str, tuple[str, str]]:
    rows = {}
    for i in range(n):
        s, p, c = SUBJECTS[i % 6], PROBLEMS[i % 4], CAUSES[(i // 4) % 4]
        body = f"The {s} {p} {c}. " * (1 + (i % 5) * 12)  # some long enough to be chunked
        rows[f"M-{i:03d}"] = (f"{s} {p} {c}", body)
    return rows


@pytest.fixture
def worker_env(minilm: Any, model_cache: Path, tmp_path: Path) -> dict[str, str]:
    """Worker processes use the real model (exported once this session) and one store folder."""
    return {"CONVEYOR_VECTOR_DIR": str(tmp_path / "vectors"), "CONVEYOR_MODEL_CACHE": str(model_cache),
            "CONVEYOR_EMBEDDER": "onnx", "HF_HUB_OFFLINE": "1"}


def embed_jobs(app: Conveyor, run_id: str, *states: str) -> list[tuple[str, ...]]:
    return [j for j in pipeline_sql(app.store).job_ids(run_id, tuple(states)) if j[2] == "embedding"]


def ended(app: Conveyor, run_id: str, timeout: float) -> Any:
    return wait_for(lambda: (r := app.get_run(run_id)) and r.finished and r, timeout, interval=0.05,
                    message=f"run {run_id} to end")


def test_worker_killed_mid_stage_loses_and_duplicates_nothing(
        app: Conveyor, spawn_worker: Any, domain: Engine, worker_env: dict[str, str]) -> None:  # noqa: F811
    rows = many_notes(120)
    add_notes(domain, "acme", rows)
    doomed = spawn_worker(QUEUES, concurrency=2, **worker_env)
    wait_for(lambda: live_workers(app, EMBED_QUEUE) == 1, timeout=30, message="worker up")
    run = notes_pipeline.start({"per_item": 4}, tenant="acme", tier="t")
    wait_for(lambda: len(embed_jobs(app, run.id, "completed")) >= 3 and embed_jobs(app, run.id, "running"),
             timeout=90, message="embedding under way, jobs in flight")
    # While the worker lives, the folder is its own: nobody else may open it.
    with pytest.raises(StoreLockedError, match=f"process {doomed.proc.pid}"):
        EdgeStore(worker_env["CONVEYOR_VECTOR_DIR"])
    doomed.kill()
    heir = spawn_worker(QUEUES, concurrency=2, **worker_env)
    done = ended(app, run.id, timeout=180)
    assert done.state == "FINISHED", done.error
    stage = done.status["steps"]["notes"]["stages"]["embedding"]
    assert stage["done"] == 30 and stage["failed"] == 0
    attempts = [a for j in embed_jobs(app, run.id) for a in app.get_job(j[0]).attempt_log]
    assert any(a.outcome == "orphaned" for a in attempts), "an attempt was in flight when the worker died"

    with domain.connect() as conn:
        vrows = list(conn.execute(select(qdrant_vectors).where(qdrant_vectors.c.tenant == "acme")))
    per_entity = Counter(r.external_id for r in vrows)
    assert set(per_entity) == set(rows), "every row embedded"
    assert per_entity["M-000"] == 1 and max(per_entity.values()) > 1  # long ones chunked
    chunks = {(r.external_id, r.chunk) for r in vrows}
    assert len(chunks) == len(vrows), "one bridge row per chunk"
    assert all(sorted(c for e, c in chunks if e == key) == list(range(n)) for key, n in per_entity.items())

    # Searches go to the folder's owner; the paraphrase of one row's title finds it first.
    hits = app.enqueue(SEARCH_TASK, ["billing report is wrong if the cache has expired"],
                       {"limit": 5}, tenant="acme").result(timeout=30)
    assert hits[0]["title"] == "billing report returns the wrong total when the cache expires"
    assert app.enqueue(SEARCH_TASK, ["billing report"], tenant="globex").result(timeout=30) == []

    # The same rows again: every job finds its rows unchanged and writes nothing.
    rerun = ended(app, notes_pipeline.start({"per_item": 40}, tenant="acme", tier="t").id, timeout=120)
    assert rerun.state == "FINISHED"
    results = [app.get_job(j[0]).result for j in embed_jobs(app, rerun.id)]
    assert sum(r["unchanged"] for r in results) == 120 and sum(r["points_written"] for r in results) == 0
    with domain.connect() as conn:
        assert sorted(conn.execute(select(qdrant_vectors).where(qdrant_vectors.c.tenant == "acme"))) == sorted(vrows)

    # Once the owner stops, the folder opens here: its points are exactly the bridge rows.
    assert heir.terminate() == 0
    store = EdgeStore(worker_env["CONVEYOR_VECTOR_DIR"])
    try:
        collection = vrows[0].collection
        assert store.count(collection, tenant="acme") == len(vrows)
        assert len(store.retrieve(collection, [str(r.point_id) for r in vrows])) == len(vrows)
    finally:
        store.close()


def test_an_unknown_table_fails_the_stage_job_at_once(app: Conveyor, spawn_worker: Any,
                                                      worker_env: dict[str, str]) -> None:
    spawn_worker("embedding", concurrency=1, **{**worker_env, "CONVEYOR_EMBEDDER": "stand-in"})
    wait_for(lambda: live_workers(app, "embedding") == 1, timeout=30, message="worker up")
    job = app.enqueue(EMBED_TASK, [{"tenant": "acme", "table": "nope", "ids": ["1"]}]).wait(30)
    assert job.state == "dead" and job.attempts == 1
    assert "no embedding source is registered for table 'nope'" in (job.error or "")


def test_a_second_worker_on_the_same_folder_hands_its_jobs_back(
        app: Conveyor, spawn_worker: Any, domain: Engine, tmp_path: Path) -> None:  # noqa: F811
    """Two workers serve the embedding queues with one embedded store folder: the one that does
    not own it parks each job it claims (no attempt spent) and says why once; the owner runs them."""
    env = {"CONVEYOR_VECTOR_DIR": str(tmp_path / "vectors"), "CONVEYOR_EMBEDDER": "stand-in"}
    add_notes(domain, "acme", many_notes(24))
    owner = spawn_worker(QUEUES, concurrency=2, **env)
    wait_for(lambda: live_workers(app, EMBED_QUEUE) == 1, timeout=30, message="owner up")
    assert app.enqueue(SEARCH_TASK, ["anything"], tenant="acme").result(timeout=30) == []  # it opens the folder
    second = spawn_worker(QUEUES, concurrency=2, **env)
    wait_for(lambda: live_workers(app, EMBED_QUEUE) == 2, timeout=30, message="second worker up")
    owner_id = next(w.id for w in app.store.list_workers(app.settings.liveness_timeout) if w.pid == owner.proc.pid)
    assert app.store.set_worker_desired_state(owner_id, "paused")  # every job now goes to the second one first
    run = notes_pipeline.start({"per_item": 3}, tenant="acme", tier="t")
    wait_for(lambda: sum(a.outcome == "parked" for j in embed_jobs(app, run.id)
                         for a in app.get_job(j[0]).attempt_log) >= 8, timeout=60,
             message="the second worker to hand back every job it claims")
    assert app.store.set_worker_desired_state(owner_id, "running")
    # The second worker stops (gracefully): on SQLite it wakes exactly at the resume time it set
    # for a job it parked and can claim that job again before the owner every time (a starvation
    # seen in CI and left open in issue 17's note).
    second.proc.terminate()
    second.proc.wait(30)
    done = ended(app, run.id, timeout=90)
    assert done.state == "FINISHED", done.error
    jobs = [app.get_job(j[0]) for j in embed_jobs(app, run.id)]
    assert len(jobs) == 8 and all(j.state == "completed" for j in jobs)
    assert all(j.attempts == 1 for j in jobs), "handing a job back spends no attempt"
    assert all(a.outcome in ("parked", "completed") for j in jobs for a in j.attempt_log)
    log = second.output()
    assert log.count("is already open (owner: process") == 1, "said once, not per job"
    assert f"owner: process {owner.proc.pid}" in log
    with domain.connect() as conn:
        assert {r.external_id for r in conn.execute(select(qdrant_vectors.c.external_id))} == set(many_notes(24))
