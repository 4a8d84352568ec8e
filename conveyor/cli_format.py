"""How the `conveyor` command prints ages, tables and a job."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conveyor.model import Job


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return "\n".join(lines)


def print_job(job: Job) -> None:
    d = job.to_dict()
    print(f"job       {d['id']}")
    print(f"task      {d['task']}   queue {d['queue']}   priority {d['priority']}   tenant {d['tenant']}")
    print(f"state     {d['state']}   attempts {d['attempts']}/{d['max_attempts']}")
    print(f"args      {json.dumps(d['args'])}   kwargs {json.dumps(d['kwargs'])}")
    for key in ("created_at", "enqueued_at", "started_at", "ended_at", "run_at"):
        if d[key]:
            print(f"{key:<10}{d[key]}")
    p = d["progress"]
    if p["percent"] is not None or p["processed"] or p["failed"]:
        print(f"progress  {p['percent']}%  processed {p['processed']}  failed {p['failed']}")
    print(f"worker    {d['worker_id'] or '-'}   token {d['token']}")
    if d["meta"]:
        print(f"meta      {json.dumps(d['meta'])}")
    if d["result"] is not None:
        print(f"result    {json.dumps(d['result'])}")
    if d["error"]:
        print(f"error     {d['error']}")
    for attempt in d["attempt_history"]:
        print(f"attempt {attempt['attempt']}: {attempt['outcome']} on {attempt['worker_id']} "
              f"({attempt['started_at']} .. {attempt['ended_at']}) {attempt['error'] or ''}")
    if d["traceback"]:
        print("traceback:\n" + d["traceback"])


def jobs_table(jobs: list[Job]) -> str:
    now = datetime.now(UTC)
    rows = [
        [j.id, j.task, j.queue, j.state.value, f"{j.attempts}/{j.max_attempts}",
         age((now - j.created_at).total_seconds()), (j.error or "")[:60]]
        for j in jobs
    ]
    return table(rows, ["id", "task", "queue", "state", "attempts", "age", "error"])
