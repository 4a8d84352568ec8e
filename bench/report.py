"""Ratios to the raw-SQL limit, targets (PASS/MISS), the printed table and the JSON file."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import conveyor
from bench.stats import Results

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SECTION_TITLES = {
    "raw": "6a. Raw-SQL limit (bench/raw_sql.py, median of the repeats)",
    "enqueue": "1. Enqueue",
    "processing": "2. Processing (N jobs already queued)",
    "latency": "3. Pickup latency",
    "scale": "4. Scale",
    "never_stuck": "5. Never stuck",
    "ratios": "6b. Conveyor / raw SQL (ratios of medians)",
}


@dataclass(frozen=True)
class Ratio:
    name: str
    numerator: str
    denominator: str
    label: str


RATIOS = (
    Ratio("ratio_processing_vs_claim_batch_100", "processing_one_worker_best_jobs_per_s",
          "raw_claim_batch_100_jobs_per_s", "processing (best one worker) / raw claim batch 100"),
    Ratio("ratio_processing_2w_vs_claim_batch_100", "processing_2w_c100_jobs_per_s",
          "raw_claim_batch_100_jobs_per_s", "processing (2 workers) / raw claim batch 100"),
    Ratio("ratio_bulk_vs_executemany", "enqueue_bulk_jobs_per_s",
          "raw_bulk_insert_executemany_jobs_per_s", "bulk enqueue / raw executemany insert"),
    Ratio("ratio_bulk_vs_copy", "enqueue_bulk_jobs_per_s", "raw_bulk_insert_copy_jobs_per_s",
          "bulk enqueue / raw COPY"),
    Ratio("ratio_bulk_vs_copy_into_jobs_table", "enqueue_bulk_jobs_per_s", "copy_into_jobs_table_jobs_per_s",
          "bulk enqueue / COPY into conveyor_jobs itself (not a target: Conveyor's own overhead)"),
    # One-by-one enqueue ratios are measured in the enqueue section, paired with raw runs just
    # before and after each run (bench/enqueue.py, PairedRawInsert); this one is for comparison.
    Ratio("ratio_sync_vs_single_insert_notify_unpaired", "enqueue_sync_jobs_per_s", "raw_single_insert_notify_per_s",
          "one-by-one enqueue (sync) / raw section's INSERT+NOTIFY (minutes apart, information)"),
    Ratio("ratio_pickup_p50_vs_notify_p50", "pickup_latency_ms_p50", "raw_listen_notify_latency_ms_p50",
          "pickup latency p50 / raw LISTEN/NOTIFY p50 (lower is better)"),
    Ratio("ratio_pickup_p95_vs_notify_p95", "pickup_latency_ms_p95", "raw_listen_notify_latency_ms_p95",
          "pickup latency p95 / raw LISTEN/NOTIFY p95 (lower is better)"),
    Ratio("ratio_pickup_p99_vs_notify_p99", "pickup_latency_ms_p99", "raw_listen_notify_latency_ms_p99",
          "pickup latency p99 / raw LISTEN/NOTIFY p99 (lower is better)"),
)


@dataclass(frozen=True)
class Target:
    label: str
    metric: str
    op: str  # ">=" or "<="
    limit: float
    engines: tuple[str, ...] = ("postgres", "sqlite")
    sections: tuple[str, ...] = ()  # whose errors explain a missing value

    def check(self, value: float) -> bool:
        return value >= self.limit if self.op == ">=" else value <= self.limit

    def margin(self, value: float) -> float:
        """Headroom as a fraction of the limit: positive = passes by that much, negative = misses."""
        return (value - self.limit) / self.limit if self.op == ">=" else (self.limit - value) / self.limit


TARGETS = (
    Target("processing, one worker, no-op >= 10,000 jobs/s", "processing_one_worker_best_jobs_per_s", ">=",
           10_000, ("postgres",), ("processing",)),
    Target("processing, one worker, no-op >= 5,000 jobs/s", "processing_one_worker_best_jobs_per_s", ">=",
           5_000, ("sqlite",), ("processing",)),
    Target("pickup latency p50 <= 3 ms", "pickup_latency_ms_p50", "<=", 3.0, ("postgres",), ("latency",)),
    Target("pickup latency p99 <= 10 ms", "pickup_latency_ms_p99", "<=", 10.0, ("postgres",), ("latency",)),
    Target("bulk enqueue >= 50% of raw executemany", "ratio_bulk_vs_executemany", ">=", 0.5, ("postgres",),
           ("enqueue", "raw")),
    Target("bulk enqueue >= 50% of raw COPY", "ratio_bulk_vs_copy", ">=", 0.5, ("postgres",), ("enqueue", "raw")),
    Target("one-by-one enqueue (sync) >= 80% of raw INSERT+NOTIFY", "ratio_sync_vs_single_insert_notify", ">=",
           0.8, ("postgres",), ("enqueue", "raw")),
    Target("one-by-one enqueue (async) >= 80% of raw INSERT+NOTIFY", "ratio_async_vs_single_insert_notify", ">=",
           0.8, ("postgres",), ("enqueue", "raw")),
    Target("scale: processing with history / empty >= 0.9", "scale_ratio_processing_jobs_per_s", ">=", 0.9,
           sections=("scale",)),
    Target("scale: list_jobs p95 <= 100 ms (with history)", "scale_history_list_jobs_ms_p95", "<=", 100.0,
           sections=("scale",)),
    Target("scale: queue_stats p95 <= 100 ms (with history)", "scale_history_queue_stats_ms_p95", "<=", 100.0,
           sections=("scale",)),
    Target("refuse with no live worker p50 <= 50 ms", "refuse_ms_p50", "<=", 50.0, sections=("never_stuck",)),
    Target("re-run after SIGKILL p50 <= 2 s (default settings)", "rescue_default_s", "<=", 2.0, sections=("never_stuck",)),
    Target("re-run after SIGKILL max <= 2 s (default settings)", "rescue_default_max_s", "<=", 2.0,
           sections=("never_stuck",)),
)


def add_ratios(results: Results) -> None:
    for ratio in RATIOS:
        num, den = results.median(ratio.numerator), results.median(ratio.denominator)
        if num is not None and den:
            results.add("ratios", ratio.name, "x", [num / den], label=ratio.label)


def evaluate_targets(engine: str, results: Results) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        if engine not in target.engines:
            continue
        value = results.median(target.metric)
        row: dict[str, Any] = {"target": target.label, "metric": target.metric, "op": target.op,
                               "limit": target.limit, "value": value}
        if value is None:
            failed = any(key.split("/")[0] in target.sections for key in results.errors)
            row.update(status="ERROR" if failed else "NOT RUN", margin=None)
        else:
            row.update(status="PASS" if target.check(value) else "MISS", margin=target.margin(value))
        out.append(row)
    return out


# -- machine ------------------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):  # no /proc (macOS): fall back to platform
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], check=False, capture_output=True, text=True, timeout=10,
                              cwd=RESULTS_DIR.parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "conveyor"], check=False,
                               capture_output=True,
                               text=True, timeout=10, cwd=RESULTS_DIR.parent).stdout.strip()
        return head + ("+dirty(conveyor/)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info(postgres_version: str | None, sqlite_version: str) -> dict[str, Any]:
    mem_gib = None
    with contextlib.suppress(ValueError, OSError):  # sysconf names differ per platform
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python_version": sys.version.split()[0],
        "postgresql_server_version": postgres_version,
        "sqlite_version": sqlite_version,
        "conveyor_version": conveyor.__version__,
        "git_commit": git_commit(),
    }


# -- output -------------------------------------------------------------------------------
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("jobs/s", "rows/s"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.3f}"
    if unit == "s":
        return f"{value:.2f}"
    if unit == "us":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _table(rows: list[list[str]], aligns: str) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(aligns))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if a == "<" else c.rjust(w) for c, w, a in zip(row, widths, aligns, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render(engine: str, results: Results, targets: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    mode = ", quick" if settings["quick"] else ""
    title = f"== Conveyor benchmark: {engine}  (N={settings['jobs']:,}, repeats={settings['repeats']}{mode}; medians) =="
    out = [title]
    order = ["enqueue", "processing", "latency", "scale", "never_stuck", "raw", "ratios"]
    for section in order:
        figures = [f for f in results.figures.values() if f.section == section]
        if not figures:
            continue
        out.append("")
        out.append(SECTION_TITLES[section])
        rows = [["figure", "median", "unit", "runs"]]
        for f in figures:
            runs = ", ".join(fmt(v, f.unit) for v in f.values) if len(f.values) > 1 else ""
            rows.append([f.label or f.name, fmt(f.median, f.unit), f.unit, runs])
        out += ["  " + line for line in _table(rows, "<><<")]
    if targets:
        out.append("")
        out.append("Targets")
        rows = [["target", "value", "limit", "status", "margin"]]
        for t in targets:
            unit = results.figures[t["metric"]].unit if t["metric"] in results.figures else ""
            margin = f"{t['margin'] * 100:+.0f}%" if t["margin"] is not None else ""
            rows.append([t["target"], fmt(t["value"], unit), f"{t['op']} {t['limit']:g}", t["status"], margin])
        out += ["  " + line for line in _table(rows, "<>><>")]
    if results.errors:
        out.append("")
        out.append("Errors")
        out += [f"  {section}: {message}" for section, message in results.errors.items()]
    return "\n".join(out)


def write_json(engine: str, payload: dict[str, Any], when: datetime | None = None, *, quick: bool = False) -> Path:
    """bench/results/<YYYY-MM-DD>-<engine>.json (-quick.json for --quick, so a smoke run never
    overwrites a full run's figures), written atomically: a .tmp file, then rename."""
    day = (when or datetime.now(UTC)).astimezone().strftime("%Y-%m-%d")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{day}-{engine}{'-quick' if quick else ''}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path
