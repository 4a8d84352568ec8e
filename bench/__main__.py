"""Conveyor benchmark harness: `python -m bench` (see bench/README.md).

    python -m bench                       # both engines, N=20000, 3 repeats, every section
    python -m bench --quick               # smoke run: small N, 1 repeat, short settings only
    python -m bench --engine postgres --only processing,latency
    python -m bench --skip scale          # the 1M-row section is the slow one
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import baseline, enqueue, latency, never_stuck, processing, report, scale
from bench.db import open_scratch
from bench.stats import Results
from bench.workload import BenchConfig, RunContext, bind_app
from conveyor.logs import configure_logging
from conveyor.settings import Settings

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

# Run order: the raw limit first, the slow scale section last.
SECTIONS: dict[str, Callable[[RunContext, Results], None]] = {
    "raw": baseline.run,
    "enqueue": enqueue.run,
    "processing": processing.run,
    "latency": latency.run,
    "never_stuck": never_stuck.run,
    "scale": scale.run,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=None, help="N jobs per throughput run (default 20000; quick 2000)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats; medians are reported (default 3; quick 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: small N, 1 repeat, small scale table, no default-settings never-stuck runs")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out")
    parser.add_argument("--scale-rows", type=int, default=None,
                        help="finished rows for the scale section (default 1000000; quick 20000)")
    parser.add_argument("--latency-samples", type=int, default=None, help="pickup jobs per run (default 500; quick 100)")
    parser.add_argument("--no-default-settings-runs", action="store_true",
                        help="skip the ~20 s default-settings SIGKILL/stranded runs (always skipped with --quick)")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help=f"PostgreSQL server (default {DEFAULT_DSN})")
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SECTIONS)
    skipped = {s for s in args.skip.split(",") if s}
    unknown = (set(chosen) | skipped) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in chosen and s not in skipped]
    args.jobs = args.jobs or (2000 if args.quick else 20000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.scale_rows = args.scale_rows or (20_000 if args.quick else 1_000_000)
    args.latency_samples = args.latency_samples or (100 if args.quick else 500)
    if args.jobs < 1 or args.repeats < 1 or args.scale_rows < 1 or args.latency_samples < 2:
        parser.error("--jobs, --repeats and --scale-rows must be positive, --latency-samples at least 2")
    return args


def run_engine(engine: str, args: argparse.Namespace, config: BenchConfig, log_dir: Path) -> Results:
    results = Results()
    db = open_scratch(engine, args.dsn)
    db.create()
    app = None
    started = datetime.now(UTC)
    load_at_start = report.load_average()
    if load_at_start and load_at_start[0] > 0.5:
        print(f"[{engine}] note: load average {load_at_start} at start; other work on this machine "
              "makes the figures noisy (see the runs column)", file=sys.stderr, flush=True)
    try:
        app = bind_app(db.url)
        ctx = RunContext(engine=engine, db=db, app=app, config=config, log_dir=log_dir)
        server_version = db.server_version()
        for section in args.sections:
            t0 = time.perf_counter()
            print(f"[{engine}] {section} ...", file=sys.stderr, flush=True)
            try:
                SECTIONS[section](ctx, results)
            except Exception as exc:
                traceback.print_exc()
                results.errors[section] = f"{type(exc).__name__}: {exc}"
            print(f"[{engine}] {section} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        report.add_ratios(results)
        targets = report.evaluate_targets(engine, results)
        settings = {
            "jobs": config.jobs, "repeats": config.repeats, "quick": config.quick, "sections": args.sections,
            "scale_rows": config.scale_rows, "latency_samples": config.latency_samples,
            "latency_interval_ms": config.latency_interval_s * 1000,
            "never_stuck_default_settings_runs": config.never_stuck_defaults,
            "conveyor_settings": {k: v for k, v in asdict(Settings()).items() if k != "database_url"},
            "details": {
                "enqueue": enqueue.describe(), "processing": processing.describe(), "latency": latency.describe(ctx),
                "scale": scale.describe(ctx), "never_stuck": never_stuck.describe(ctx),
            },
        }
        print(report.render(engine, results, targets, settings), flush=True)
        payload = {
            "engine": engine,
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "machine": report.machine_info(server_version if engine == "postgres" else _pg_version(args.dsn),
                                           sqlite3.sqlite_version),
            "load_average": {"start": load_at_start, "end": report.load_average()},
            "settings": settings,
            "figures": {name: f.to_dict() for name, f in results.figures.items()},
            "targets": targets,
            "errors": results.errors,
        }
        path = report.write_json(engine, payload, started, quick=config.quick)
        print(f"\nwrote {path}", flush=True)
    finally:
        if app is not None:
            app.close()
        db.drop()
    return results


def _pg_version(dsn: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("text", "WARNING")
    config = BenchConfig(
        jobs=args.jobs, repeats=args.repeats, quick=args.quick, scale_rows=args.scale_rows,
        latency_samples=args.latency_samples, latency_interval_s=0.010,
        never_stuck_defaults=not (args.quick or args.no_default_settings_runs),
    )
    engines = ["postgres", "sqlite"] if args.engine == "both" else [args.engine]
    log_dir = Path(tempfile.mkdtemp(prefix="conveyor_bench_logs_"))
    failed = False
    try:
        for n, engine in enumerate(engines):
            if n:
                print("\n")
            results = run_engine(engine, args, config, log_dir)
            failed = failed or bool(results.errors)
    finally:
        if failed:
            print(f"worker logs kept in {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
