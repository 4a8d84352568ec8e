"""The pure model: states, transitions, backoff. No database."""

import random

import pytest

from conveyor.model import FINISHED_STATES, TRANSITIONS, JobState, RetryPolicy, can_transition


def test_every_state_has_transitions_and_finished_states_can_only_be_requeued():
    assert set(TRANSITIONS) == set(JobState)
    for state in FINISHED_STATES:
        assert TRANSITIONS[state] == {JobState.QUEUED}


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (JobState.QUEUED, JobState.RUNNING, True),
        (JobState.RUNNING, JobState.COMPLETED, True),
        (JobState.RUNNING, JobState.SCHEDULED, True),  # retry with backoff
        (JobState.RUNNING, JobState.QUEUED, True),  # handed back or rescued
        (JobState.SCHEDULED, JobState.QUEUED, True),
        (JobState.SCHEDULED, JobState.DEAD, False),  # staged to queued first; nothing gives up on it before
        (JobState.COMPLETED, JobState.RUNNING, False),
        (JobState.DEAD, JobState.RUNNING, False),
        (JobState.QUEUED, JobState.COMPLETED, False),
        (JobState.CANCELLED, JobState.COMPLETED, False),
    ],
)
def test_transitions(old, new, ok):
    assert can_transition(old, new) is ok


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(base=2.0, factor=2.0, cap=30.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [2, 4, 8, 16, 30, 30]
    jittered = RetryPolicy(base=2.0, factor=2.0, cap=30.0)
    rng = random.Random(1)
    delays = [jittered.delay(3, rng) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 50  # really random, so retries do not stampede


def test_job_ids_are_uuid7_strictly_increasing_within_a_process_and_unique_across_threads():
    import threading
    import time
    import uuid

    from conveyor.model import new_job_id

    before_ms = time.time_ns() // 1_000_000
    ids = [new_job_id() for _ in range(20_000)]  # thousands per millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    first = uuid.UUID(ids[0])
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert before_ms <= first.int >> 80 <= time.time_ns() // 1_000_000

    per_thread: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(new_job_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out == sorted(out) for out in per_thread)
    assert len({i for out in per_thread for i in out}) == 20_000

    # A forked child does not count up from its parent's last id (two children would collide).
    import os

    from conveyor import model

    new_job_id()
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if it starts afresh and still makes valid ids
        os._exit(0 if model._last_id_key == 0 and uuid.UUID(new_job_id()).version == 7 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_job_json_is_the_standard_librarys_compact_json_and_refuses_what_it_refuses():
    import datetime
    import enum
    import json

    from conveyor.errors import InvalidJobError
    from conveyor.store.base import dumps

    class Level(enum.IntEnum):
        HIGH = 3

    values = [[1, 2.5, "é\n\"x", None, True, {"a": [1, {}]}, Level.HIGH, 10**30, -0.0, 1e300],
              {1: "int key", 2.5: "float key", None: "none key"}, "plain", 5, [], {}, [{}]]
    for value in values:
        assert dumps(value) == json.dumps(value, separators=(",", ":"), allow_nan=False)
    itself: list = []
    itself.append(itself)
    for bad in (float("nan"), [float("inf")], datetime.date(2026, 1, 1), {(1, 2): 3}, object(), itself):
        with pytest.raises(InvalidJobError, match="not JSON-serialisable"):
            dumps(bad)
