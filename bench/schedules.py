"""Schedule firing benchmark (issue 14), separate from `python -m bench`:

    .venv/bin/python -m bench.schedules [--engine postgres|sqlite|both] [--schedules 1000]
                                        [--interval 10] [--seconds 60] [--pass-every 1.0]

1,000 active interval schedules (every `interval` s, their fire times spread evenly over the
interval) are fired by the scheduler pass, run every `pass-every` seconds (the maintenance
interval) for `seconds` seconds. A phantom worker row (heartbeating, claiming nothing) serves the
queue, so each fire runs the real live-worker check of enqueue.

Figures:
- delay from a fire time to its job being queued (the job's created_at): p50/p95/p99/max, s.
  Target: p99 <= 1 s + the maintenance interval.
- the scheduler's cost per maintenance pass: busy passes (something fired), and idle passes (20
  passes at the end with all 1,000 schedules not due), ms; and per fired job.
- raw baseline in the same run: one plain INSERT of a job row per round trip (autocommit), µs per
  row; `ratio_raw_insert_vs_fire` = raw µs per row / scheduler µs per fired job (1.0 = as cheap
  as a bare insert; lower is slower).
Results go to bench/results/<date>-schedules-<engine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from conveyor import Conveyor
from conveyor.model import WorkerInfo
from conveyor.schedules import build_spec
from conveyor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "bench_sched"
app = Conveyor(app_path="bench.schedules:app")


@app.task(name="bench.sched_noop", queue=QUEUE)
def sched_noop() -> None:
    return None


def database(engine: str, tmp: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp / 'bench-schedules.db'}"
    server = os.environ.get("CONVEYOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"conveyor_bench_schedules_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def drop(engine: str, url: str) -> None:
    if engine == "postgres":
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def phantom_worker(bound: Conveyor) -> str:
    worker_id = f"bench-phantom-{uuid.uuid4().hex[:8]}"
    bound.store.register_worker(WorkerInfo(
        id=worker_id, hostname="bench", pid=os.getpid(), queues=[QUEUE], concurrency=1, version="bench",
        started_at=None, last_heartbeat=None, state="running", desired_state=None,  # type: ignore[arg-type]
        jobs_in_flight=0, processed=0, failed=0))
    return worker_id


def raw_insert_us(engine: str, url: str, n: int = 1000) -> float:
    """µs per job row for one plain INSERT per round trip (the raw baseline)."""
    sql_pg = ("INSERT INTO conveyor_jobs (id, task, queue, tenant, args, state, max_attempts) "
              "VALUES (%s, 'bench.raw', 'bench_raw', 'default', '[]', 'queued', 1)")
    if engine == "postgres":
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.perf_counter()
            for _ in range(n):
                conn.execute(sql_pg, (str(uuid.uuid4()),))
            return (time.perf_counter() - start) / n * 1e6
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    now = time.time()
    start = time.perf_counter()
    for _ in range(n):
        conn.execute("INSERT INTO conveyor_jobs (id, task, queue, tenant, args, state, max_attempts, run_at, created_at, "
                     "updated_at) VALUES (?, 'bench.raw', 'bench_raw', 'default', '[]', 'queued', 1, ?, ?, ?)",
                     (str(uuid.uuid4()), now, now, now))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed / n * 1e6


def delays(engine: str, url: str, since: float) -> list[float]:
    """Seconds from each scheduled job's fire time (at or after `since`) to its row being written."""
    if engine == "postgres":
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT extract(epoch FROM created_at), meta->>'fire_at' FROM conveyor_jobs "
                                "WHERE task = 'bench.sched_noop'").fetchall()
        return [float(c) - t for c, f in rows if (t := datetime.fromisoformat(f).timestamp()) >= since]
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    rows = conn.execute("SELECT created_at, json_extract(meta, '$.fire_at') FROM conveyor_jobs "
                        "WHERE task = 'bench.sched_noop'").fetchall()
    conn.close()
    return [float(c) - t for c, f in rows if (t := datetime.fromisoformat(f).timestamp()) >= since]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(engine: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    url = database(engine, tmp)
    bound = app.with_database(url)
    bound.settings = Settings(database_url=url, maintenance_interval=args.pass_every)
    try:
        bound.migrate()
        worker_id = phantom_worker(bound)
        stop = threading.Event()

        def heartbeat() -> None:  # the phantom worker stays live through setup and long passes
            while not stop.wait(2.0):
                bound.store.heartbeat(worker_id, state="running", jobs_in_flight=0, processed=0, failed=0)

        beats = threading.Thread(target=heartbeat, daemon=True)
        beats.start()
        raw_us = raw_insert_us(engine, url)
        for i in range(args.schedules):
            bound.scheduler.create(build_spec(bound, f"s{i:05d}", "bench.sched_noop", interval=args.interval))
        # Spread the first fire times evenly over one interval (created within a second, they would bunch).
        ids = [s.id for s in bound.scheduler.list()]
        sql = bound.scheduler.sql
        start = datetime.now(UTC) + timedelta(seconds=1)
        with sql.tx() as tx:
            for i, schedule_id in enumerate(ids):
                first = start + timedelta(seconds=args.interval * i / len(ids))
                row = tx.one("schedule_get", id=schedule_id)
                tx.run("schedule_advance", id=schedule_id, next_fire_at=first, old_fire_at=row["next_fire_at"])
        measured_from = time.time()  # fire times before this (the setup's) are left out of the delays
        busy: list[tuple[float, int]] = []
        idle: list[float] = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            report = bound.scheduler.tick()
            took = time.perf_counter() - began
            (busy.append((took, len(report.fired))) if report.fired else idle.append(took))
            time.sleep(max(0.0, args.pass_every - took))
        # Idle passes: 1,000 schedules, none due (the common case between fire times).
        with sql.tx() as tx:
            for row in tx.run("schedule_list"):
                tx.run("schedule_advance", id=row["id"], next_fire_at=datetime.now(UTC) + timedelta(days=1),
                       old_fire_at=row["next_fire_at"])
        for _ in range(20):
            began = time.perf_counter()
            bound.scheduler.tick()
            idle.append(time.perf_counter() - began)
        stop.set()
        beats.join()
        got = delays(engine, url, measured_from)
        fired = sum(n for _, n in busy)
        per_fire_us = sum(t for t, _ in busy) / fired * 1e6 if fired else float("nan")
        result = {
            "engine": engine, "schedules": args.schedules, "interval_s": args.interval, "seconds": args.seconds,
            "maintenance_interval_s": args.pass_every, "jobs_fired": len(got),
            "delay_p50_s": pct(got, 50), "delay_p95_s": pct(got, 95), "delay_p99_s": pct(got, 99),
            "delay_max_s": max(got), "target_p99_s": 1.0 + args.pass_every,
            "busy_pass_ms_median": statistics.median(t for t, _ in busy) * 1e3 if busy else None,
            "busy_pass_ms_max": max(t for t, _ in busy) * 1e3 if busy else None,
            "fires_per_busy_pass_median": statistics.median(n for _, n in busy) if busy else None,
            "idle_pass_ms_median": statistics.median(idle) * 1e3 if idle else None,
            "scheduler_us_per_fired_job": per_fire_us, "raw_insert_us_per_row": raw_us,
            "ratio_raw_insert_vs_fire": raw_us / per_fire_us if fired else None,
        }
        result["p99_target_met"] = result["delay_p99_s"] <= result["target_p99_s"]
        return result
    finally:
        if "stop" in locals():
            stop.set()
        bound.close()
        drop(engine, url)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.schedules", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between fires of each schedule")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the scheduler runs")
    parser.add_argument("--pass-every", type=float, default=1.0, help="the maintenance interval, seconds")
    args = parser.parse_args()
    engines = ["postgres", "sqlite"] if args.engine == "both" else [args.engine]
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            result = run(engine, args, Path(tmp))
            print(json.dumps(result, indent=2))
            (out / f"{datetime.now(UTC):%Y-%m-%d}-schedules-{engine}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
