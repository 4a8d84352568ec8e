"""Structured logs: one line per lifecycle event, as text (key=value) or JSON.

A worker writes two lifecycle lines per job (JOB_START, JOB_DONE), so at thousands of jobs a
second the standard path (a LogRecord, Formatter.format with a strftime per line, one write and
flush per line) cost ~40 % of a worker's throughput. Two things make it cheap without losing a line:
- `lifecycle()` formats the line itself when the only handler in the way is the one
  configure_logging() installed (no LogRecord; the timestamp text is reused within a second). The
  line is byte for byte what the formatter would have written. With any other logging set-up
  (the user's own handlers or filters) it goes through `logging` as before.
- that handler (LineBuffer) batches lines and writes them at most FLUSH_AFTER seconds later, at
  once for WARNING and above, and at exit: one write for many lines, in the order they were logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

lifecycle_log = logging.getLogger("conveyor.lifecycle")
_conveyor_log = logging.getLogger("conveyor")

FLUSH_AFTER = 0.02  # seconds a buffered INFO line may wait before it is written
MAX_PENDING = 512  # lines: written at once beyond this many


class _Timestamps:
    """The date-time text of a second, computed once per second (time.strftime costs ~2 us)."""

    def __init__(self, fmt: str, utc: bool) -> None:
        self.fmt = fmt
        self.convert = time.gmtime if utc else time.localtime
        self.second = -1
        self.text = ""

    def of(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.second, self.text = second, time.strftime(self.fmt, self.convert(second))
        return self.text


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._ts = _Timestamps("%Y-%m-%dT%H:%M:%S", utc=True)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": f"{self._ts.of(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            data.update(fields)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)

    def line(self, created: float, level: int, name: str, msg: str, fields: dict[str, Any]) -> str:
        """format() of a record without exception info, built without the record."""
        msecs = int((created - int(created)) * 1000)
        return json.dumps({"ts": f"{self._ts.of(created)}.{msecs:03d}Z", "level": logging.getLevelName(level),
                           "logger": name, "msg": msg, **fields}, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._ts = _Timestamps(self.default_time_format, utc=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt:
            return super().formatTime(record, datefmt)
        return f"{self._ts.of(record.created)},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)
        return line

    def line(self, created: float, level: int, name: str, msg: str, fields: dict[str, Any]) -> str:
        """format() of a record without exception info, built without the record."""
        msecs = int((created - int(created)) * 1000)
        head = f"{self._ts.of(created)},{msecs:03d} {_LEVEL_NAMES.get(level) or logging.getLevelName(level)} {name} {msg}"
        if not fields:
            return head
        return head + " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items() if v is not None)


_LEVEL_NAMES = {logging.INFO: "INFO", logging.WARNING: "WARNING", logging.ERROR: "ERROR", logging.DEBUG: "DEBUG"}


def _text(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return json.dumps(text) if (" " in text or not text) else text


class LineBuffer(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes lines in batches (see the module's docstring); flush() and
    logging's own shutdown at exit write whatever is pending."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._idle = True  # the flusher is asleep on _wake (nothing logged for a while)
        self._wake = threading.Event()
        self._flusher_pid = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add(self.format(record), record.levelno)
        except Exception:
            self.handleError(record)

    def add(self, line: str, level: int) -> None:
        if level >= logging.WARNING:
            self._pending.append(line)  # list.append is atomic: any thread may log
            self.flush()
        else:
            self.add_info(line)

    def add_info(self, line: str) -> None:
        """add() of a line below WARNING (JOB_START, JOB_DONE: the hot path)."""
        pending = self._pending
        pending.append(line)
        if len(pending) >= MAX_PENDING:
            self.flush()
        elif self._idle:
            self._idle = False
            if self._flusher_pid != os.getpid():  # first line, or a forked child: its own flusher
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_soon, name="conveyor-log-flush", daemon=True).start()
            self._wake.set()

    def _flush_soon(self) -> None:
        """Every FLUSH_AFTER seconds while lines come; asleep after a second without any (waking
        a sleeping thread per line cost more than formatting the line)."""
        quiet = 0
        while True:
            time.sleep(FLUSH_AFTER)
            if self._pending:
                self.flush()
                quiet = 0
                continue
            quiet += 1
            if quiet * FLUSH_AFTER >= 1.0:
                self._wake.clear()
                self._idle = True
                if not self._pending:  # a line added just before _idle was set has no one to wake us
                    self._wake.wait(timeout=1.0)
                quiet = 0

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._pending = self._pending, []
            if not lines or self.stream is None:
                return
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed under us (the process is exiting): nothing to write to


def configure_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = LineBuffer(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("conveyor")
    for old in root.handlers:
        old.flush()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _forget_parents_lines() -> None:
    # A forked child (isolation="process") must not write again what its parent had pending.
    for handler in _conveyor_log.handlers:
        if isinstance(handler, LineBuffer):
            handler._pending = []


os.register_at_fork(after_in_child=_forget_parents_lines)


def flush_logs() -> None:
    """Write every buffered line now (before os._exit, which skips logging's own flush at exit)."""
    for handler in _conveyor_log.handlers:
        handler.flush()


def _direct_handler() -> LineBuffer | None:
    """The LineBuffer a lifecycle record would reach, and nothing else (no filter, no other
    handler): then the line may be written without a LogRecord."""
    handlers = _conveyor_log.handlers
    if (len(handlers) != 1 or lifecycle_log.handlers or lifecycle_log.filters or _conveyor_log.filters
            or _conveyor_log.propagate or not lifecycle_log.propagate or lifecycle_log.disabled
            or _conveyor_log.disabled):
        return None
    handler = handlers[0]
    if type(handler) is not LineBuffer or handler.filters or handler.level != logging.NOTSET:
        return None
    return handler


class JobLines:
    """JOB_START and JOB_DONE, the two lines of every job: lifecycle(event, [duration=...,] job_id=...,
    task=..., queue=..., attempt=..., token=...). start() answers the text of the job's fields,
    which done() reuses (job: a claimed job)."""

    def start(self, job: Any) -> str:
        lifecycle("JOB_START", **job_log_fields(job))
        return ""

    def done(self, job: Any, fields: str | None, duration: float) -> None:
        lifecycle("JOB_DONE", duration=duration, **job_log_fields(job))


class _DirectJobLines(JobLines):
    """The same bytes written straight into the text lines: no LogRecord, no dict, the job's fields
    formatted once for both lines (the worker's hottest logging: ~2 lines per job)."""

    def __init__(self, handler: LineBuffer, formatter: TextFormatter) -> None:
        self.handler, self.formatter = handler, formatter
        self._add = handler.add_info
        self._ts = formatter._ts
        self._names: dict[str, str] = {}  # task NUL queue -> " task=... queue=..."
        self._millisecond = -1  # the head below is of this millisecond: jobs come several a millisecond
        self._head = ""

    def fields(self, job: Any) -> str:
        names = self._names.get(job.task + "\0" + job.queue)  # a str key: no tuple to collect later
        if names is None:
            if len(self._names) > 1000:
                self._names.clear()
            names = self._names[job.task + "\0" + job.queue] = f" task={_text(job.task)} queue={_text(job.queue)}"
        token = "" if job.token is None else " token=" + _text(job.token)
        return f" job_id={_text(job.id)}{names} attempt={job.attempts}{token}"

    def head(self) -> str:
        """'<date time>,<ms> INFO conveyor.lifecycle ', as the formatter writes it for this moment."""
        created = _now()
        second = int(created)
        msecs = int((created - second) * 1000)
        if second * 1000 + msecs != self._millisecond:
            self._millisecond = second * 1000 + msecs
            self._head = f"{self._ts.of(created)},{msecs:03d} INFO conveyor.lifecycle "
        return self._head

    # f-strings: one new string per line (a chain of + made one per piece)
    def start(self, job: Any) -> str:
        fields = self.fields(job)
        self._add(f"{self.head()}JOB_START event=JOB_START{fields}")
        return fields

    def done(self, job: Any, fields: str | None, duration: float) -> None:
        self._add(f"{self.head()}JOB_DONE event=JOB_DONE duration={duration!r}{fields or self.fields(job)}")


_now = time.time
_LOGGED_JOB_LINES = JobLines()
_direct_lines: _DirectJobLines | None = None


def job_lines() -> JobLines | None:
    """How to write JOB_START / JOB_DONE under the logging set-up of this moment: None when INFO
    lifecycle lines are off. The worker asks once per claimed batch, not per line."""
    global _direct_lines
    if not lifecycle_log.isEnabledFor(logging.INFO):
        return None
    handler = _direct_handler()
    formatter = handler.formatter if handler is not None else None
    if handler is None or type(formatter) is not TextFormatter:
        return _LOGGED_JOB_LINES
    lines = _direct_lines
    if lines is None or lines.handler is not handler or lines.formatter is not formatter:
        lines = _direct_lines = _DirectJobLines(handler, formatter)
    return lines


def lifecycle(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """JOB_START, JOB_DONE, JOB_FAIL, JOB_RETRY, JOB_DEAD, WORKER_START, WORKER_STOP, ..."""
    if not lifecycle_log.isEnabledFor(level):
        return
    handler = _direct_handler()
    formatter = handler.formatter if handler is not None else None
    if handler is not None and isinstance(formatter, TextFormatter | JsonFormatter):
        handler.add(formatter.line(time.time(), level, lifecycle_log.name, event, {"event": event, **fields}), level)
    else:
        lifecycle_log.log(level, event, extra={"fields": {"event": event, **fields}})


def job_log_fields(job: Any) -> dict[str, Any]:
    """The fields every JOB_* line of one attempt carries (job: a claimed job)."""
    return {"job_id": job.id, "task": job.task, "queue": job.queue, "attempt": job.attempts, "token": job.token}


def attempt_ended(outcome: Any, claimed: Any, seconds: float) -> None:
    """The lines of an attempt that did not complete: JOB_FAIL then JOB_RETRY or JOB_DEAD,
    JOB_CANCELLED or JOB_HANDED_BACK (outcome: the worker's Outcome; claimed: its claimed job)."""
    fields = {"duration": round(seconds, 6), **job_log_fields(claimed)}
    state = outcome.state.value
    if state in ("scheduled", "dead"):
        lifecycle("JOB_FAIL", logging.WARNING, error=outcome.error, **fields)
        if state == "scheduled":
            lifecycle("JOB_RETRY", logging.WARNING, delay=round(outcome.retry_delay, 3), **fields)
        else:
            lifecycle("JOB_DEAD", logging.ERROR, error=outcome.error, **fields)
    elif state == "cancelled":
        lifecycle("JOB_CANCELLED", **fields)
    else:
        lifecycle("JOB_HANDED_BACK", **fields)
