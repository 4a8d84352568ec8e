"""How the CLI prints: ages, tables, one job's record, short job ids."""

from __future__ import annotations

import json
import re
from typing import Any

from conveyor.model import Job

SHORT_ID_LENGTH = 8


def short_id(job_id: str) -> str:
    """The random tail of a UUIDv7. Its head is the creation time, the same for every job made
    within the same ~65 s; `status`, `cancel` and `retry` accept this tail or any unique prefix."""
    return job_id[-SHORT_ID_LENGTH:]


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
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return "\n".join(lines)


def _line(label: str, value: Any) -> str:
    return f"{label:<12}{value}"  # the longest label (enqueued_at) is 11 characters


# Frames of Conveyor's runner and the standard library's executors: not the user's code.
RUNNER_FRAME = re.compile(r'File "[^"]*(/conveyor/(worker|context|process_isolation|app)\.py|/concurrent/futures/'
                          r'[^"]*|/asyncio/[^"]*|/threading\.py)"')


def trim_traceback(text: str) -> tuple[str, int]:
    """The traceback with runner frames left out, and how many were."""
    lines = text.rstrip().split("\n")
    out: list[str] = []
    hidden = i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith('  File "'):
            out.append(line)
            continue
        frame = [line]
        while i < len(lines) and lines[i].startswith("    "):
            frame.append(lines[i])
            i += 1
        if RUNNER_FRAME.search(line):
            hidden += 1
        else:
            out += frame
    return "\n".join(out), hidden


def print_job(job: Job, *, full_traceback: bool = False) -> None:
    d = job.to_dict()
    lines = [
        _line("job", d["id"]),
        _line("task", f"{d['task']}   queue {d['queue']}   priority {d['priority']}   tenant {d['tenant']}"),
        _line("state", f"{d['state']}   attempts {d['attempts']}/{d['max_attempts']}"),
        _line("args", f"{json.dumps(d['args'])}   kwargs {json.dumps(d['kwargs'])}"),
    ]
    lines += [_line(key, d[key]) for key in ("created_at", "enqueued_at", "started_at", "ended_at", "run_at") if d[key]]
    p = d["progress"]
    if p["percent"] is not None or p["processed"] or p["failed"]:
        lines.append(_line("progress", f"{p['percent']}%  processed {p['processed']}  failed {p['failed']}"))
    lines.append(_line("worker", f"{d['worker_id'] or '-'}   token {d['token']}"))
    if d["meta"]:
        lines.append(_line("meta", json.dumps(d["meta"])))
    if d["result"] is not None:
        lines.append(_line("result", json.dumps(d["result"])))
    if d["error"]:
        lines.append(_line("error", d["error"]))
    for attempt in d["attempt_history"]:
        lines.append(f"attempt {attempt['attempt']}: {attempt['outcome']} on {attempt['worker_id']} "
                     f"({attempt['started_at']} .. {attempt['ended_at']}) {attempt['error'] or ''}".rstrip())
    if d["traceback"]:
        text, hidden = (d["traceback"].rstrip(), 0) if full_traceback else trim_traceback(d["traceback"])
        note = f" ({hidden} Conveyor and executor frames left out; --full-traceback shows them)" if hidden else ""
        lines.append(f"traceback{note}:\n{text}")
    print("\n".join(lines))
