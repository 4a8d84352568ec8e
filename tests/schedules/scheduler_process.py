"""A scheduler in its own OS process (for the racing and takeover tests).

    python -m tests.schedules.scheduler_process race <url> <barrier-file> <start-iso> <passes>
        waits for the barrier file, then runs `passes` passes at start + 60 s * k, without
        leader election: the unique (schedule, fire time) rows alone must keep firing exactly-once.
    python -m tests.schedules.scheduler_process lead <url>
        runs a pass every 0.1 s on the real clock, printing LEADER when it leads.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta

from tests import pipeline_tasks  # noqa: F401 - the test app's tasks and pipelines
from tests.tasks import app as test_app


def race(url: str, barrier: str, start: str, passes: int) -> None:
    app = test_app.with_database(url)
    t0 = datetime.fromisoformat(start)
    app.clock = lambda: t0
    app.scheduler.list()  # connect before the barrier
    print("READY", flush=True)
    while not os.path.exists(barrier):
        time.sleep(0.001)
    fired = 0
    for k in range(1, passes + 1):
        fired += len(app.scheduler.tick(t0 + timedelta(seconds=60 * k), lead=False).fired)
    print(f"FIRED {fired}", flush=True)
    app.close()


def lead(url: str) -> None:
    app = test_app.with_database(url)
    leading = False
    while True:
        report = app.scheduler.tick()
        if report.leader and not leading:
            print(f"LEADER {os.getpid()}", flush=True)
        leading = report.leader
        time.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1] == "race":
        race(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        lead(sys.argv[2])
