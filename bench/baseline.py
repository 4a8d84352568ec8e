"""Section 6, the raw-SQL limit: bench/raw_sql.py in the same run, on the same database server."""

from __future__ import annotations

from bench.raw_sql import KEYS, run_raw_baseline
from bench.stats import Results
from bench.workload import RunContext

SECTION = "raw"

UNITS = {key: ("ms" if key.endswith(("_p50", "_p95", "_p99")) else "jobs/s") for key in KEYS}


def run(ctx: RunContext, results: Results) -> None:
    """PostgreSQL only (raw_sql.py speaks psycopg); each value is already the median of the repeats."""
    if ctx.engine != "postgres":
        return
    figures = run_raw_baseline(ctx.db.url, n_jobs=ctx.config.jobs, repeats=ctx.config.repeats)
    for key in KEYS:
        results.add(SECTION, f"raw_{key}", UNITS[key], [figures[key]], label=f"raw SQL: {key}",
                    note=f"median of {ctx.config.repeats} runs of bench/raw_sql.py")
