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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc; 0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


def live(app: Any, queue: str) -> bool:
    return app.store.live_worker_count(queue, app.settings.liveness_timeout)[0] > 0


def query(app: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """One statement on the bench database, either engine ('?' placeholders)."""
    if app.store.engine == "postgres":
        with psycopg.connect(app.settings.database_url) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    with app.store._write() as conn:
        return conn.execute(sql, params).fetchall()


def span_rate(app: Any, where: str, value: str) -> float:
    """Jobs completed / (last finish - first start) over the jobs `where` (one statement)."""
    n, start, end = query(app, f"SELECT count(*), min(started_at), max(finished_at) FROM conveyor_jobs "
                               f"WHERE {where} AND state = 'completed'", (value,))[0]
    return n / (end - start if isinstance(end, float) else (end - start).total_seconds())


def backend_cpu(app: Any) -> float:
    """CPU seconds of the PostgreSQL server processes serving the bench database right now (the
    server's side of the work; 0 on SQLite, whose work is inside the workers)."""
    if app.store.engine != "postgres":
        return 0.0
    with psycopg.connect(app.settings.database_url) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return sum(cpu_seconds(pid) for pid in pids)


def plain_rate(app: Any, url: str, items: int) -> tuple[float, float, float]:
    """(jobs/s, worker CPU seconds per job, database server CPU seconds per job)."""
    app.enqueue_many((app.tasks["bench.plain_noop"].new_job(i) for i in range(items)), policy="accept")
    server = backend_cpu(app)
    proc = worker(url, "bench_plain")
    try:
        wait(lambda: not app.list_jobs(limit=1, states=["queued", "running"], queue="bench_plain"), 600, "drained")
        server = backend_cpu(app) - server
        rate = span_rate(app, "queue = ?", "bench_plain")
        query(app, "DELETE FROM conveyor_jobs WHERE queue = 'bench_plain'")  # the next turn counts its own
        return rate, cpu_seconds(proc.pid) / items, server / items
    finally:
        proc.terminate()
        proc.wait(30)


def pipeline_run(app: Any, items: int) -> tuple[float, float]:
    """(stage jobs/s, ms from the last stage job's completion to FINISHED)."""
    run = app.pipelines["bench.noop3"].start({"n": items})
    done = wait(lambda: (r := app.get_run(run.id)).finished and r, 600, "run")
    assert done.state == "FINISHED", done.error
    if items > 1000:  # a throughput run
        return span_rate(app, "pipeline_run_id = ? AND stage <> 'extraction'", run.id), 0.0
    ids = [j[0] for j in pipeline_sql(app.store).job_ids(run.id) if j[2] != "extraction"]
    last = max(app.get_job(i).finished_at for i in ids)
    return 0.0, (done.finished_at - last).total_seconds() * 1000


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
    plain_cpu: list[float] = []
    stage_cpu: list[float] = []
    plain_server: list[float] = []
    stage_server: list[float] = []
    loads: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(repeats):
            loads.append(loadavg())
            rate, cpu, server = plain_rate(app, url, items)
            plain.append(rate)
            plain_cpu.append(cpu)
            plain_server.append(server)
            procs = stage_workers(app, url)
            before = [cpu_seconds(p.pid) for p in procs]
            server = backend_cpu(app)
            # The plain worker's CPU included its start-up (it starts after the enqueue); an idle
            # worker's CPU once live is that cost, taken off.
            plain_cpu[-1] = max(0.0, plain_cpu[-1] - statistics.mean(before) / items)
            stage.append(pipeline_run(app, items)[0])
            # CPU of the three stage workers per stage job (2 * items transform + embedding jobs;
            # the one extraction job's emit of `items` rows is included: it is part of the cost).
            stage_cpu.append(sum(cpu_seconds(p.pid) - b for p, b in zip(procs, before, strict=True)) / (2 * items))
            stage_server.append((backend_cpu(app) - server) / (2 * items))
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
        "plain_worker_cpu_us_per_job": [round(x * 1e6) for x in plain_cpu],
        "stage_workers_cpu_us_per_stage_job": [round(x * 1e6) for x in stage_cpu],
        "plain_db_server_cpu_us_per_job": [round(x * 1e6) for x in plain_server],
        "stage_db_server_cpu_us_per_stage_job": [round(x * 1e6) for x in stage_server],
        "loadavg_before_each_pair": loads,
        "loadavg_at_end": loadavg(),
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
