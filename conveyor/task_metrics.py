"""Per-task metrics from bounded per-minute aggregates (table conveyor_task_minutes, migration 0007).

Each completion batch adds, per minute, tenant, queue, task and worker: attempts that succeeded
and that failed, the sum and maximum of their durations, a fixed histogram of durations, and the
sum and maximum of their pickup latency (queued -> started). Quantiles are read from the
histogram, interpolated inside a bucket and capped by the observed maximum: accurate to a bucket's
width, with storage that does not grow with the number of jobs.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

# Upper bounds in seconds; bucket i holds durations in [bounds[i-1], bounds[i]), the last one
# everything from 300 s up. bisect_right here equals PostgreSQL's width_bucket(x, bounds).
DURATION_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                                      300.0)
HIST_COLUMNS: tuple[str, ...] = tuple(f"d{i:02d}" for i in range(len(DURATION_BOUNDS) + 1))
SUM_COLUMNS: tuple[str, ...] = ("succeeded", "failed", "duration_sum", "pickup_n", "pickup_sum", *HIST_COLUMNS)
MAX_COLUMNS: tuple[str, ...] = ("duration_max", "pickup_max")
RETENTION_SECONDS = 8 * 86400  # a week's window, and a day to spare

# window -> (its length, the width of one chart point), both in seconds
WINDOWS: dict[str, tuple[int, int]] = {"hour": (3600, 60), "day": (86400, 900), "week": (7 * 86400, 7200)}


def bucket_index(seconds: float) -> int:
    return bisect.bisect_right(DURATION_BOUNDS, seconds)


@dataclass
class MinuteFigures:
    """One row's worth of figures, added up in Python (the SQLite engine's completion batch)."""

    succeeded: int = 0
    failed: int = 0
    duration_sum: float = 0.0
    duration_max: float = 0.0
    pickup_n: int = 0
    pickup_sum: float = 0.0
    pickup_max: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * len(HIST_COLUMNS))

    def add(self, succeeded: bool, duration: float, pickup: float | None) -> None:
        duration = max(0.0, duration)
        if succeeded:
            self.succeeded += 1
        else:
            self.failed += 1
        self.duration_sum += duration
        self.duration_max = max(self.duration_max, duration)
        self.hist[bucket_index(duration)] += 1
        if pickup is not None:
            pickup = max(0.0, pickup)
            self.pickup_n += 1
            self.pickup_sum += pickup
            self.pickup_max = max(self.pickup_max, pickup)

    def values(self) -> tuple[Any, ...]:
        return (self.succeeded, self.failed, self.duration_sum, self.duration_max, self.pickup_n, self.pickup_sum,
                self.pickup_max, *self.hist)


MinuteKey = tuple[str, str, str, str]  # tenant, queue, task, worker id ('' when none)


class MinuteTally:
    """The figures of a batch of ended attempts, per tenant, queue, task and worker: one row each
    for the engine's count_task_minutes statement (the SQLite completion batch, and the attempts
    the maintenance pass ends on both engines)."""

    def __init__(self) -> None:
        self.figures: dict[MinuteKey, MinuteFigures] = {}

    def add(self, key: MinuteKey, succeeded: bool, duration: float, pickup: float | None) -> None:
        figures = self.figures.get(key)
        if figures is None:
            figures = self.figures[key] = MinuteFigures()
        figures.add(succeeded, duration, pickup)

    def rows(self) -> list[tuple[Any, ...]]:
        """(tenant, queue, task, worker, *MinuteFigures.values()) per key."""
        return [(*key, *figures.values()) for key, figures in self.figures.items()]


def quantile(hist: list[int], q: float, maximum: float) -> float | None:
    """The q-quantile of a histogram over DURATION_BOUNDS (None when it is empty)."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            low = DURATION_BOUNDS[i - 1] if i > 0 else 0.0
            high = min(DURATION_BOUNDS[i], maximum) if i < len(DURATION_BOUNDS) else max(maximum, low)
            high = max(high, low)
            value = low + (high - low) * max(0.0, rank - seen) / n
            return min(value, maximum)
        seen += n
    return maximum


class _Totals:
    def __init__(self) -> None:
        self.sums: dict[str, float] = dict.fromkeys(SUM_COLUMNS, 0)
        self.maxes: dict[str, float] = dict.fromkeys(MAX_COLUMNS, 0.0)

    def add(self, row: dict[str, Any]) -> None:
        for key in SUM_COLUMNS:
            self.sums[key] += float(row[key] or 0)
        for key in MAX_COLUMNS:
            self.maxes[key] = max(self.maxes[key], float(row[key] or 0))

    def figures(self) -> dict[str, Any]:
        s, m = self.sums, self.maxes
        hist = [int(s[c]) for c in HIST_COLUMNS]
        processed = int(s["succeeded"] + s["failed"])
        return {
            "processed": processed, "succeeded": int(s["succeeded"]), "failed": int(s["failed"]),
            "failure_rate": round(s["failed"] / processed, 4) if processed else None,
            "duration": {
                "avg": round(s["duration_sum"] / processed, 6) if processed else None,
                "p50": _round(quantile(hist, 0.5, m["duration_max"])),
                "p95": _round(quantile(hist, 0.95, m["duration_max"])),
                "max": round(m["duration_max"], 6) if processed else None,
            },
            "pickup": {
                "avg": round(s["pickup_sum"] / s["pickup_n"], 6) if s["pickup_n"] else None,
                "max": round(m["pickup_max"], 6) if s["pickup_n"] else None,
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def summarise(rows: list[dict[str, Any]], window: str, now: float | None = None) -> dict[str, Any]:
    """The API's answer from rows already grouped by (task, queue, t) for the window's step."""
    length, step = WINDOWS[window]
    now = time.time() if now is None else now
    end = (now // step + 1) * step
    start = end - length
    points = [start + i * step for i in range(int(length // step))]
    by_task: dict[str, _Totals] = {}
    by_queue: dict[str, _Totals] = {}
    queues_of: dict[str, set[str]] = {}
    per_point: dict[tuple[str, float], _Totals] = {}
    overall_point: dict[float, _Totals] = {}
    overall = _Totals()
    for row in rows:
        task, queue, t = row["task"], row["queue"], float(row["t"])
        for table, key in ((by_task, task), (by_queue, queue)):
            table.setdefault(key, _Totals()).add(row)
        queues_of.setdefault(task, set()).add(queue)
        per_point.setdefault((task, t), _Totals()).add(row)
        overall_point.setdefault(t, _Totals()).add(row)
        overall.add(row)

    def series(lookup: Any) -> list[dict[str, Any]]:
        out = []
        for t in points:
            totals = lookup(t)
            f = totals.figures() if totals else None
            out.append({"t": t, "succeeded": f["succeeded"] if f else 0, "failed": f["failed"] if f else 0,
                        "p95": f["duration"]["p95"] if f else None})
        return out

    tasks = [{"task": task, "queues": sorted(queues_of[task]), **totals.figures(),
              "series": series(lambda t, task=task: per_point.get((task, t)))}
             for task, totals in by_task.items()]
    tasks.sort(key=lambda item: (-item["processed"], item["task"]))
    queues = [{"queue": q, **totals.figures()} for q, totals in sorted(by_queue.items())]
    return {
        "window": window, "since": start, "until": end, "step_seconds": step, "generated_at": now,
        "totals": overall.figures(), "series": series(overall_point.get), "tasks": tasks, "queues": queues,
    }
