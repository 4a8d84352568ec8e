"""Lifecycle lines written without a LogRecord (issue #19) are the lines the formatter writes,
complete and in order; with any other logging set-up they go through `logging` as before."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from conveyor import logs
from conveyor.logs import configure_logging, job_lines, lifecycle


@pytest.fixture
def stream():
    out = io.StringIO()
    saved = logging.getLogger("conveyor").handlers[:], logging.getLogger("conveyor").level
    yield out
    root = logging.getLogger("conveyor")
    root.handlers[:], root.level = saved
    root.propagate = True


def _lines(out: io.StringIO) -> list[str]:
    logging.getLogger("conveyor").handlers[0].flush()
    return out.getvalue().splitlines()


class _Keep(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_direct_line_is_the_formatters_line(stream, fmt):
    configure_logging(fmt, "INFO", stream)
    fields = {"job_id": "0193", "task": "shop.send mail", "queue": "default", "attempt": 1, "token": None}
    lifecycle("JOB_START", **fields)
    logs.lifecycle_log.addFilter(_Keep())  # any filter: the standard path
    try:
        lifecycle("JOB_START", **fields)
    finally:
        logs.lifecycle_log.filters.clear()
    direct, standard = _lines(stream)
    cut = 23 if fmt == "text" else None  # the timestamps differ by when each was written
    if fmt == "text":
        assert direct[cut:] == standard[cut:]
        assert direct.endswith('JOB_START event=JOB_START job_id=0193 task="shop.send mail" queue=default attempt=1')
    else:
        one, two = json.loads(direct), json.loads(standard)
        assert one.pop("ts")[:16] == two.pop("ts")[:16]
        assert one == two


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_jobs_line_is_the_lifecycle_line(stream, fmt):
    configure_logging(fmt, "INFO", stream)
    lines = job_lines()
    assert lines is not None
    job = SimpleNamespace(id="0193-ab", task="shop.send mail", queue="default", attempts=2, token="tok 1")
    lines.done(job, None, 0.000123)
    lifecycle("JOB_DONE", duration=0.000123, job_id="0193-ab", task="shop.send mail", queue="default",
              attempt=2, token="tok 1")
    other = SimpleNamespace(id="0193-ab", task="shop.send", queue="default", attempts=1, token=None)
    fields = lines.start(other)
    lifecycle("JOB_START", job_id="0193-ab", task="shop.send", queue="default", attempt=1, token=None)
    lines.done(other, fields, 0.5)  # the fields formatted at JOB_START serve JOB_DONE
    lifecycle("JOB_DONE", duration=0.5, job_id="0193-ab", task="shop.send", queue="default", attempt=1, token=None)
    one, two, three, four, five, six = _lines(stream)
    if fmt == "text":
        assert one[23:] == two[23:] and three[23:] == four[23:] and five[23:] == six[23:]
        assert two.endswith('duration=0.000123 job_id=0193-ab task="shop.send mail" queue=default attempt=2 token="tok 1"')
    else:
        pairs = [(json.loads(one), json.loads(two)), (json.loads(three), json.loads(four)),
                 (json.loads(five), json.loads(six))]
        for a, b in pairs:
            a.pop("ts"), b.pop("ts")
            assert a == b


def test_job_lines_follow_the_logging_set_up(stream):
    configure_logging("text", "WARNING", stream)
    assert job_lines() is None  # INFO lines off: the worker skips them without a call per job
    configure_logging("text", "INFO", stream)
    direct = job_lines()
    assert direct is job_lines()  # the same set-up: the same writer (its caches kept)
    logs.lifecycle_log.addFilter(_Keep())  # any filter: every line through logging
    try:
        standard = job_lines()
        assert standard is not direct and standard is not None
        job = SimpleNamespace(id="7", task="t", queue="q", attempts=1, token=None)
        standard.done(job, standard.start(job), 0.25)
    finally:
        logs.lifecycle_log.filters.clear()
    start, done = _lines(stream)
    assert start.endswith("JOB_START event=JOB_START job_id=7 task=t queue=q attempt=1")
    assert done.endswith("JOB_DONE event=JOB_DONE duration=0.25 job_id=7 task=t queue=q attempt=1")


def test_lines_stay_complete_and_in_order_across_levels(stream):
    configure_logging("text", "INFO", stream)
    for i in range(1500):
        lifecycle("JOB_START", job_id=str(i))
        if i % 100 == 0:
            lifecycle("JOB_FAIL", logging.WARNING, job_id=str(i))  # written at once, after what came before
        lifecycle("JOB_DONE", job_id=str(i))
    lines = _lines(stream)
    events = [(line.split("event=")[1].split()[0], line.split("job_id=")[1]) for line in lines]
    expected = []
    for i in range(1500):
        expected.append(("JOB_START", str(i)))
        if i % 100 == 0:
            expected.append(("JOB_FAIL", str(i)))
        expected.append(("JOB_DONE", str(i)))
    assert events == expected


def test_a_buffered_line_is_written_within_moments(stream):
    from tests.conftest import wait_for

    configure_logging("text", "INFO", stream)
    lifecycle("WORKER_START", worker_id="w1")
    wait_for(lambda: "WORKER_START" in stream.getvalue(), timeout=5)


def test_below_the_level_nothing_is_written(stream):
    configure_logging("text", "WARNING", stream)
    lifecycle("JOB_START", job_id="1")
    assert _lines(stream) == []
