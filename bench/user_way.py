"""Conveyor measured the way a user meets it (issue #19), beside a raw baseline in the same run.

    python -m bench.user_way                      # both engines
    python -m bench.user_way --engine postgres --jobs 20000 --repeats 3 --latency-samples 300

The task takes a ~100-byte dict and appends one line to a file (bench/user_app.py). Workers are
started as a user starts them: `python -m conveyor worker --app bench.user_app:app`, with the
shipped defaults (INFO logging to a file, default concurrency) or tuned flags. Every figure is a
ratio to a raw loop doing the same work in the same run, the variants interleaved per repeat.

- processing: N jobs queued, then one worker process drains them; jobs/s = completed /
  (last finished_at - first started_at). Raw: `bench.user_raw claim` (claim 100 FOR UPDATE SKIP
  LOCKED, run the same body, complete 100) in its own process, same table shape as bench/raw_sql.py.
  The INFO runs' logs are checked: JOB_START then JOB_DONE for every job.
- pickup: an idle worker (defaults); the client reads CLOCK_MONOTONIC, calls task.enqueue(order),
  the task body's first line reads it again; p50/p95 of the difference. Raw (PostgreSQL):
  INSERT + NOTIFY from the client, `bench.user_raw listen` claims and runs the body.
- bulk: app.enqueue_many(task.new_job(p) for p in payloads), building included, against COPY of
  the same payloads (rows built from them included), batches of 1,000.
- one by one: task.enqueue() under policy refuse (a live worker row serves the queue) and accept.

Writes bench/results/<date>-user-way-<engine>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import report
from bench.db import ScratchDatabase, open_scratch
from bench.raw_sql import COPY_SQL, DDL, TABLE
from bench.stats import percentile
from bench.user_app import app as user_app
from bench.user_app import order
from bench.user_procs import check_lifecycle, conveyor_worker, cpu_seconds, raw_consumer, read_out
from bench.user_raw import INSERT_NOTIFY_SQL
from bench.workload import PhantomWorker, wait_drained, wait_until
from conveyor.app import Conveyor

TASK = "bench.record_order"
# name -> extra `conveyor worker` flags; "defaults" is what a user gets without any flag.
VARIANTS: dict[str, list[str]] = {
    "defaults": [],
    "defaults_warning": ["--log-level=WARNING"],
    "c100_info": ["--concurrency", "100"],
    "c100_warning": ["--concurrency", "100", "--log-level=WARNING"],
    "c10_info": ["--concurrency", "10"],  # the CLI's default before issue #19
}
TUNED = ("c100_warning", "defaults_warning")


class Figures:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(float(value))

    def medians(self) -> dict[str, float]:
        return {k: float(statistics.median(v)) for k, v in self.values.items()}


class Run:
    def __init__(self, engine: str, db: ScratchDatabase, args: argparse.Namespace, folder: Path) -> None:
        self._conn: psycopg.Connection[Any] | None = None
        self.engine, self.db, self.args, self.folder = engine, db, args, folder
        self.app: Conveyor = user_app.with_database(db.url)
        self.app.migrate()
        self.out = folder / "out.txt"
        self.figures = Figures()
        self.notes: list[str] = []
        if engine == "postgres":
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute(DDL)

    @property
    def task(self) -> Any:
        return self.app.tasks[TASK]

    def raw_conn(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db.url, autocommit=True)

    # -- processing -------------------------------------------------------------------------
    def processing(self, repeat: int) -> None:
        n = self.args.jobs
        if self.engine == "postgres":
            self.figures.add("processing_raw_claim100_jobs_per_s", self._raw_processing(n))
        for name, flags in VARIANTS.items():
            if self.args.variants and name not in self.args.variants:
                continue
            rate, cpu_us = self._conveyor_processing(name, flags, n, repeat)
            self.figures.add(f"processing_{name}_jobs_per_s", rate)
            self.figures.add(f"processing_{name}_worker_cpu_us_per_job", cpu_us)

    def _raw_processing(self, n: int) -> float:
        with self.raw_conn() as conn:
            conn.execute(f"TRUNCATE {TABLE}")
            with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                for i in range(n):
                    copy.write_row(("default", 0, json.dumps(order(i))))
            conn.execute(f"ANALYZE {TABLE}")
        self.out.write_text("")
        proc = raw_consumer("claim", self.db.url, self.out, self.folder / "raw-claim.log")
        output, _ = proc.proc.communicate(timeout=600)
        if proc.proc.returncode != 0:
            raise RuntimeError(f"raw consumer failed: {proc.log.read_text()[-2000:]}")
        proc.stop()
        self.figures.add("processing_raw_claim100_cpu_us_per_job", float(output.split()[-1]) / n * 1e6)
        with self.raw_conn() as conn:
            row = conn.execute(f"SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at)) FROM {TABLE} "
                               "WHERE state = 'completed'").fetchone()
        assert row is not None and row[0] == n, row
        return n / float(row[1])

    def _conveyor_processing(self, name: str, flags: list[str], n: int, repeat: int) -> tuple[float, float]:
        self.db.reset()
        self.out.write_text("")
        self.app.enqueue_many((self.task.new_job(order(i)) for i in range(n)), policy="accept")
        log = self.folder / f"{name}-{repeat}.log"
        # The queue is paused while the worker starts, so its CPU is counted from the first job.
        self.app.store.set_queue_paused("default", True)
        worker = conveyor_worker(self.db.url, self.out, log, flags)
        try:
            def unfinished() -> int:
                worker.alive()
                return self.db.unfinished()

            def registered() -> bool:
                worker.alive()
                return bool(self.app.store.list_workers(15))

            wait_until(registered, timeout=60, what="worker registered")
            time.sleep(0.5)  # its first claim saw the pause; it idles now
            cpu = cpu_seconds(worker.pid)
            self.app.store.set_queue_paused("default", False)
            wait_drained(unfinished, timeout=600, what=f"{name} jobs")
            cpu = cpu_seconds(worker.pid) - cpu
        finally:
            worker.stop()
        completed, first, last = self.db.span()
        if completed != n or first is None or last is None:
            raise RuntimeError(f"{name}: {completed} of {n} completed: {self.db.state_counts()}")
        if "--log-level=WARNING" not in flags:
            problem = check_lifecycle(log, n)
            if problem:
                raise RuntimeError(f"{name}: lifecycle lines incomplete: {problem} (log {log})")
        return n / (last - first), cpu / n * 1e6

    # -- pickup latency ------------------------------------------------------------------------
    def pickup(self, repeat: int) -> None:
        if self.engine == "postgres":
            self._pickup("raw", self._raw_enqueue, lambda: raw_consumer(
                "listen", self.db.url, self.out, self.folder / f"raw-listen-{repeat}.log"))
        self._pickup("conveyor", lambda i: self.task.enqueue(order(i)), lambda: conveyor_worker(
            self.db.url, self.out, self.folder / f"pickup-{repeat}.log", []))

    def _raw_enqueue(self, i: int) -> None:
        assert self._conn is not None
        self._conn.execute(INSERT_NOTIFY_SQL, ("default", json.dumps(order(i))))

    def _pickup(self, who: str, enqueue: Callable[[int], None], start: Callable[[], Any]) -> None:
        samples, interval = self.args.latency_samples, self.args.latency_interval_ms / 1000
        self.db.reset()
        self.out.write_text("")
        self._conn = self.raw_conn() if who == "raw" else None
        proc = start()
        try:
            if who == "raw":
                proc.wait_line(b"READY")
            else:
                wait_until(lambda: bool(self.app.store.list_workers(15)), timeout=60, what="worker registered")
            time.sleep(0.5)  # settle into the idle wait
            sent: dict[int, int] = {}
            for i in range(samples):
                sent[i] = time.monotonic_ns()  # the user's clock, read before the call
                enqueue(i)
                time.sleep(interval)
            wait_until(lambda: len(read_out(self.out)) >= samples, timeout=60, what=f"{who} pickups")
        finally:
            proc.stop()
            if self._conn is not None:
                self._conn.close()
        seen = read_out(self.out)
        latencies = [(seen[i] - sent[i]) / 1e6 for i in range(samples)]
        for pct in (50, 95, 99):
            self.figures.add(f"pickup_{who}_ms_p{pct}", percentile(latencies, pct))

    # -- bulk and one by one ---------------------------------------------------------------------
    def enqueue(self, repeat: int) -> None:
        n, single = self.args.jobs, min(self.args.jobs, 2000)
        self.db.reset()
        with PhantomWorker(self.app.store, ["default"]):
            if self.engine == "postgres":
                self.figures.add("bulk_raw_copy_jobs_per_s", self._timed(n, self._raw_copy))
            self.db.clear_jobs()
            self.figures.add("bulk_enqueue_many_jobs_per_s", self._timed(n, lambda k: self.app.enqueue_many(
                self.task.new_job(order(i)) for i in range(k))))
            self.db.clear_jobs()
            accept = self.task.configure(policy="accept")
            for label, fn in (("refuse", self.task.enqueue), ("accept", accept.enqueue)) * 2:
                self.figures.add(f"one_by_one_{label}_jobs_per_s", self._timed(single, lambda k, f=fn: [
                    f(order(i)) for i in range(k)]))
                self.db.clear_jobs()
            if self.engine == "postgres":
                with self.raw_conn() as conn:
                    self.figures.add("one_by_one_raw_insert_notify_per_s", self._timed(single, lambda k: [
                        conn.execute(INSERT_NOTIFY_SQL, ("default", json.dumps(order(i)))) for i in range(k)]))

    def _raw_copy(self, n: int) -> None:
        with self.raw_conn() as conn:
            conn.execute(f"TRUNCATE {TABLE}")
            for start in range(0, n, 1000):
                with conn.transaction(), conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
                    for i in range(start, min(n, start + 1000)):
                        copy.write_row(("default", 0, json.dumps(order(i))))

    @staticmethod
    def _timed(n: int, fn: Callable[[int], Any]) -> float:
        started = time.perf_counter()
        fn(n)
        return n / (time.perf_counter() - started)


def ratios(m: dict[str, float], engine: str) -> dict[str, float]:
    """Every ratio whose figures were measured (a run of some sections has some of them)."""
    def div(a: str | float | None, b: str | float | None) -> float | None:
        x = m.get(a) if isinstance(a, str) else a
        y = m.get(b) if isinstance(b, str) else b
        return None if x is None or y is None or y == 0 else x / y

    rates = [m[f"processing_{v}_jobs_per_s"] for v in VARIANTS if f"processing_{v}_jobs_per_s" in m]
    cpus = [m[f"processing_{v}_worker_cpu_us_per_job"] for v in VARIANTS if f"processing_{v}_worker_cpu_us_per_job" in m]
    best, cheapest = (max(rates) if rates else None), (min(cpus) if cpus else None)
    r: dict[str, float | None] = {
        "defaults_vs_best": div("processing_defaults_jobs_per_s", best),
        "info_logging_c100": div("processing_c100_info_jobs_per_s", "processing_c100_warning_jobs_per_s"),
        "info_logging_defaults": div("processing_defaults_jobs_per_s", "processing_defaults_warning_jobs_per_s"),
        "info_logging_c100_cpu": div("processing_c100_warning_worker_cpu_us_per_job",
                                     "processing_c100_info_worker_cpu_us_per_job"),
        "accept_vs_refuse": div("one_by_one_accept_jobs_per_s", "one_by_one_refuse_jobs_per_s"),
    }
    if engine == "postgres":
        raw = "processing_raw_claim100_jobs_per_s"
        for v in VARIANTS:
            r[f"processing_{v}_vs_raw_claim100"] = div(f"processing_{v}_jobs_per_s", raw)
        r["best_vs_raw_claim100"] = div(best, raw)
        # CPU per job, raw / Conveyor: far steadier than jobs/s on a busy machine (information)
        r["cpu_raw_claim100_vs_best"] = div("processing_raw_claim100_cpu_us_per_job", cheapest)
        r["pickup_p50_vs_raw_listen"] = div("pickup_conveyor_ms_p50", "pickup_raw_ms_p50")
        r["pickup_p95_vs_raw_listen"] = div("pickup_conveyor_ms_p95", "pickup_raw_ms_p95")
        r["bulk_vs_raw_copy"] = div("bulk_enqueue_many_jobs_per_s", "bulk_raw_copy_jobs_per_s")
        r["refuse_vs_raw_insert_notify"] = div("one_by_one_refuse_jobs_per_s", "one_by_one_raw_insert_notify_per_s")
    return {k: v for k, v in r.items() if v is not None}


def targets(m: dict[str, float], r: dict[str, float], engine: str) -> list[dict[str, Any]]:
    rows: list[tuple[str, float | None, str, float]] = [
        ("defaults >= 0.7 of the best configuration", r.get("defaults_vs_best"), ">=", 0.7),
        ("INFO lifecycle logging costs <= 10 % (c=100)", r.get("info_logging_c100"), ">=", 0.9),
        ("accept as fast as refuse (>= 0.95)", r.get("accept_vs_refuse"), ">=", 0.95),
    ]
    if engine == "postgres":
        rows += [
            ("one worker >= 0.6 of raw claim-100 (best config)", r.get("best_vs_raw_claim100"), ">=", 0.6),
            ("pickup p50 <= 1.3x raw LISTEN loop", r.get("pickup_p50_vs_raw_listen"), "<=", 1.3),
            ("bulk from payloads >= 0.6 of raw COPY", r.get("bulk_vs_raw_copy"), ">=", 0.6),
        ]
    else:
        rows.append(("SQLite cross-process pickup p50 <= 2 ms", m.get("pickup_conveyor_ms_p50"), "<=", 2.0))
    out = []
    for name, value, op, limit in rows:
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        out.append({"target": name, "value": value, "op": op, "limit": limit,
                    "status": "ERROR" if value is None else ("PASS" if ok else "MISS")})
    return out


def run_engine(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    db = open_scratch(engine, args.dsn)
    db.create()
    started = datetime.now(UTC)
    load_start = report.load_average()
    try:
        with tempfile.TemporaryDirectory(prefix="conveyor-user-way-") as folder:
            run = Run(engine, db, args, Path(folder))
            for repeat in range(args.repeats):
                for section in args.sections:
                    print(f"[{engine}] repeat {repeat + 1}/{args.repeats}: {section} ...", flush=True,
                          file=__import__("sys").stderr)
                    getattr(run, section)(repeat)
            run.app.close()
            medians = run.figures.medians()
            server = db.server_version() if engine == "postgres" else None
    finally:
        db.drop()
    r = ratios(medians, engine)
    return {
        "machine": report.machine_info(server, __import__("sqlite3").sqlite_version),
        "started": started.isoformat(), "load_average_start": load_start, "load_average_end": report.load_average(),
        "settings": {"jobs": args.jobs, "repeats": args.repeats, "latency_samples": args.latency_samples,
                     "latency_interval_ms": args.latency_interval_ms, "variants": VARIANTS},
        "medians": medians, "values": run.figures.values, "ratios": r,
        "targets": [t for t in targets(medians, r, engine) if t["value"] is not None],
    }


SECTIONS = ("processing", "pickup", "enqueue")


def render(engine: str, result: dict[str, Any]) -> str:
    lines = [f"== user-way benchmark: {engine} (N={result['settings']['jobs']:,}, "
             f"repeats={result['settings']['repeats']}; medians, runs in brackets) =="]
    for name, value in result["medians"].items():
        runs = ", ".join(f"{v:,.2f}" for v in result["values"][name])
        lines.append(f"  {name:<48} {value:>12,.2f}   [{runs}]")
    for name, value in result["ratios"].items():
        lines.append(f"  ratio {name:<42} {value:>12.3f}")
    for t in result["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        lines.append(f"  {t['status']:<5} {t['target']:<50} {value} ({t['op']} {t['limit']:g})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.user_way", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--latency-interval-ms", type=float, default=10.0)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--tag", default="", help="added to the result file's name")
    parser.add_argument("--variants", default="", help=f"processing variants to run (default all: {','.join(VARIANTS)})")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    args.sections = [s for s in SECTIONS if s in args.only.split(",")]
    args.variants = [v for v in args.variants.split(",") if v]
    engines = ("postgres", "sqlite") if args.engine == "both" else (args.engine,)
    for engine in engines:
        result = run_engine(engine, args)
        print(render(engine, result), flush=True)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        path = report.RESULTS_DIR / f"{day}-user-way-{engine}{'-' + args.tag if args.tag else ''}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
