"""Lifecycle lines written without a LogRecord (issue #19) are the lines the formatter writes,
complete and in order; with any other logging set-up they go through `logging` as before."""

from __future__ import annotations

import io
import json
import logging

import pytest

from conveyor import logs
from conveyor.logs import configure_logging, job_event, lifecycle


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
    job_event("JOB_DONE", "0193-ab", "shop.send mail", "default", 2, "tok 1", duration=0.000123)
    lifecycle("JOB_DONE", duration=0.000123, job_id="0193-ab", task="shop.send mail", queue="default",
              attempt=2, token="tok 1")
    job_event("JOB_START", "0193-ab", "shop.send", "default", 1, None)
    lifecycle("JOB_START", job_id="0193-ab", task="shop.send", queue="default", attempt=1, token=None)
    one, two, three, four = _lines(stream)
    if fmt == "text":
        assert one[23:] == two[23:] and three[23:] == four[23:]
        assert two.endswith('duration=0.000123 job_id=0193-ab task="shop.send mail" queue=default attempt=2 token="tok 1"')
    else:
        pairs = [(json.loads(one), json.loads(two)), (json.loads(three), json.loads(four))]
        for a, b in pairs:
            a.pop("ts"), b.pop("ts")
            assert a == b


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
