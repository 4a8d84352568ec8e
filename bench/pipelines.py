"""Pipeline benchmark (issue 13), separate from `python -m bench`:

    .venv/bin/python -m bench.pipelines [--engine postgres|sqlite|both] [--items 20000] [--repeats 3]

1. Baseline: `items` plain no-op jobs drained by one worker process (concurrency 10): jobs/s.
2. A 3-stage no-op pipeline (extraction -> transform -> embedding), `items` items fanned out from
   one extraction job, one worker process per stage (concurrency 10 each): stage jobs/s (transform
   and embedding jobs completed / their span), as a ratio to 1. Target >= 0.7. Plain and pipeline
   take turns, `repeats` times; each pair gives one ratio, all are reported, the median is the figure.
3. Latency from the last stage job's completion to the run's FINISHED: runs of 50 items, p50/p95
   (target p50 <= 50 ms on PostgreSQL).
Results go to bench/results/<date>-pipelines-<engine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.pipeline_app import app as bench_app
from conveyor.store.pipelines_common import pipeline_sql

ROOT = Path(__file__).resolve().parent.parent
STAGE_QUEUES = ("bench_extract", "bench_transform", "bench_embed")


def database(engine: str, tmp: Path) -> str:
    if engine == "sqlite":
        path = tmp / "bench-pipelines.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    server = os.environ.get("CONVEYOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"conveyor_bench_pipelines_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def drop(engine: str, url: str) -> None:
    if engine == "postgres":
        server = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def worker(url: str, queue: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_DATABASE_URL": url, "CONVEYOR_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "conveyor", "worker", "--app", "bench.pipeline_app:app",
                             "--queues", queue, "--concurrency", "10"], env=env, cwd=str(ROOT))


def wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


def live(app: Any, queue: str) -> bool:
    return app.store.live_worker_count(queue, app.settings.liveness_timeout)[0] > 0


def span_rate(app: Any, ids: list[str]) -> float:
    jobs = [app.get_job(i) for i in ids]
    start = min(j.started_at for j in jobs)
    end = max(j.finished_at for j in jobs)
    return len(jobs) / (end - start).total_seconds()


def plain_rate(app: Any, url: str, items: int) -> float:
    handles = app.enqueue_many((app.tasks["bench.plain_noop"].new_job(i) for i in range(items)), policy="accept")
    proc = worker(url, "bench_plain")
    try:
        ids = [h.id for h in handles]
        wait(lambda: app.get_job(ids[-1]).finished and all(app.get_job(i).finished for i in ids[-50:]), 300,
             "plain jobs")
        wait(lambda: not app.list_jobs(limit=1, states=["queued", "running"], queue="bench_plain"), 300, "drained")
        return span_rate(app, ids)
    finally:
        proc.terminate()
        proc.wait(30)


def pipeline_run(app: Any, items: int) -> tuple[float, float]:
    """(stage jobs/s, ms from the last stage job's completion to FINISHED)."""
    run = app.pipelines["bench.noop3"].start({"n": items})
    done = wait(lambda: (r := app.get_run(run.id)).finished and r, 600, "run")
    assert done.state == "FINISHED", done.error
    ids = [j[0] for j in pipeline_sql(app.store).job_ids(run.id) if j[2] != "extraction"]
    last = max(app.get_job(i).finished_at for i in ids)
    return span_rate(app, ids) if len(ids) > 50 else 0.0, (done.finished_at - last).total_seconds() * 1000


def stage_workers(app: Any, url: str) -> list[subprocess.Popen[bytes]]:
    procs = [worker(url, q) for q in STAGE_QUEUES]
    wait(lambda: all(live(app, q) for q in STAGE_QUEUES), 60, "workers")
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)


def bench(engine: str, items: int, repeats: int, tmp: Path) -> dict[str, Any]:
    """Plain and pipeline measured in turns (plain, pipeline, plain, pipeline, ...) so that a change
    in the machine's load hits both sides of a ratio alike; each pair gives one ratio."""
    url = database(engine, tmp)
    app = bench_app.with_database(url)
    app.migrate()
    plain: list[float] = []
    stage: list[float] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(repeats):
            plain.append(plain_rate(app, url, items))
            procs = stage_workers(app, url)
            stage.append(pipeline_run(app, items)[0])
            stop(procs)
            procs = []
        procs = stage_workers(app, url)
        latencies = [pipeline_run(app, 50)[1] for _ in range(30)]
    finally:
        stop(procs)
        app.close()
        drop(engine, url)
    ratios = [s / p for p, s in zip(plain, stage, strict=True)]
    return {
        "engine": engine, "items": items, "repeats": repeats,
        "plain_noop_jobs_per_s": [round(x) for x in plain],
        "pipeline_stage_jobs_per_s": [round(x) for x in stage],
        "stage_to_plain_ratios": [round(x, 3) for x in ratios],
        "stage_to_plain_ratio": round(statistics.median(ratios), 3),
        "stage_to_plain_ratio_min": round(min(ratios), 3),
        "finish_latency_ms_p50": round(statistics.median(latencies), 2),
        "finish_latency_ms_p95": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2),
        "finish_latency_ms_all": [round(x, 2) for x in latencies],
        "targets": {"stage_to_plain_ratio": ">= 0.7", "finish_latency_ms_p50": "<= 50 (PostgreSQL)"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    for engine in (["postgres", "sqlite"] if args.engine == "both" else [args.engine]):
        result = {**bench(engine, args.items, args.repeats, tmp), "commit": commit,
                  "date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
        print(json.dumps(result, indent=2))
        out = results_dir / f"{datetime.now(UTC):%Y-%m-%d}-pipelines-{engine}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
