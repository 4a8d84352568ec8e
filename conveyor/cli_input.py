"""What the CLI accepts from a user, checked before anything is written: JSON arguments, numbers
of seconds, queue names, job ids (whole or a unique part), an existing SQLite file."""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from typing import Any

from conveyor.app import Conveyor
from conveyor.commands import cli_command, worker_command
from conveyor.errors import DatabaseUnavailableError, JobNotFoundError
from conveyor.store.base import QUEUE_NAME

EXIT_USAGE = 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def require_sqlite_file(url: str) -> None:
    """Opening a missing SQLite file would create an empty one: say how to create it instead."""
    if not url.startswith("sqlite:///"):
        return
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:" and not os.path.exists(path):
        raise DatabaseUnavailableError(
            f"The SQLite database {os.path.abspath(path)} does not exist.",
            action=f"Create it with: {cli_command()} db upgrade --database-url {url}  "
                   "(or run `conveyor up`, which creates it); or point --database-url at an existing file.",
        )


def resolve_job_id(app: Conveyor, text: str) -> str:
    """A whole id, or a unique part of one: its start, or its tail as the lists show it."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    fragment = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f-]{4,36}", fragment):
        raise CliError(f"{text!r} is not a job id: give the whole id or at least 4 of its hex characters "
                       "(its start, or its last characters as `conveyor jobs` shows them).")
    found = app.store.find_job_ids(fragment, limit=3)
    if not found:
        raise JobNotFoundError(f"No job id starts or ends with {text!r}.", action="List jobs with: conveyor jobs")
    if len(found) > 1:
        more = "" if len(found) < 3 else ", ..."
        raise CliError(f"{text!r} matches more than one job ({', '.join(found[:2])}{more}): give more characters.")
    return found[0]


def parse_json(value: str | None, kind: type, flag: str) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise CliError(f"{flag} is not valid JSON ({exc}): {value!r}") from None
    if not isinstance(parsed, kind):
        raise CliError(f"{flag} must be a JSON {'array' if kind is list else 'object'}, got {value!r}")
    return parsed


def known_queues(app: Conveyor) -> set[str]:
    names = {"high", "default", "low"} | {t.options.queue for t in app.tasks.values()}
    names |= {q.name for q in app.store.queue_stats(app.settings.liveness_timeout)}
    for worker in app.store.list_workers(app.settings.liveness_timeout):
        names |= set(worker.queues)
    return names


def check_queue_name(queue: str | None, flag: str = "--queue") -> None:
    if queue is not None and not QUEUE_NAME.match(queue):
        raise CliError(f"{flag} {queue!r} is not a valid queue name: use 1-100 characters from letters, "
                       "digits and _ . : -")


def check_queue(app: Conveyor, queue: str | None) -> None:
    check_queue_name(queue)
    if queue is not None and queue not in known_queues(app):
        raise CliError(
            f"Unknown queue {queue!r}: no task, worker or job uses it. Known queues: "
            f"{', '.join(sorted(known_queues(app)))}. To create it, start a worker: "
            f"{worker_command(app.app_path, queue)}  (or enqueue with --policy accept to queue for a worker "
            "that starts later)."
        )


def check_seconds(value: float | None, flag: str) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise CliError(f"{flag} must be a finite number of seconds >= 0, got {value}")
