"""Real processes on PostgreSQL: two schedulers racing fire each time once; when the leader is
SIGKILLed another process takes over within seconds and nothing fires twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conveyor.schedules import build_spec
from conveyor.store.schedules_sql import schedule_sql
from tests.conftest import ROOT, register_worker_row, wait_for


@pytest.fixture(params=["postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def child(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.schedules.scheduler_process", *args], env=env, cwd=str(ROOT),
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115


def test_two_racing_schedulers_fire_each_time_once(app: Any, tmp_path: Path) -> None:
    register_worker_row(app.store, "w1", ("default",))
    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    app.clock = lambda: t0
    try:
        for i in range(20):
            app.scheduler.create(build_spec(app, f"s{i}", "t.add", interval=60, args=[i, i]))
    finally:
        app.clock = lambda: datetime.now(UTC)
    barrier = tmp_path / "go"
    passes = 10
    procs = [child("race", app.settings.database_url, str(barrier), t0.isoformat(), str(passes),
                   log=tmp_path / f"race{i}.log") for i in range(2)]
    wait_for(lambda: all("READY" in "".join(lines(tmp_path / f"race{i}.log")) for i in range(2)), timeout=30,
             message="both schedulers connected")
    barrier.write_text("go")
    for p in procs:
        assert p.wait(120) == 0, (tmp_path / "race0.log").read_text() + (tmp_path / "race1.log").read_text()
    fired = [int((tmp_path / f"race{i}.log").read_text().split("FIRED ")[1].split()[0]) for i in range(2)]
    assert sum(fired) == 20 * passes
    jobs = [j for j in app.list_jobs(limit=1000) if j.task == "t.add"]
    assert len(jobs) == 20 * passes
    keys = {(j.meta["schedule"], j.meta["fire_at"]) for j in jobs}
    assert len(keys) == 20 * passes  # every (schedule, time) once


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_leader_takeover_after_sigkill(app: Any, tmp_path: Path) -> None:
    register_worker_row(app.store, "w1", ("default",))
    schedule = app.scheduler.create(build_spec(app, "every-second", "t.add", interval=1, args=[1, 1]))
    first = child("lead", app.settings.database_url, log=tmp_path / "a.log")
    try:
        wait_for(lambda: any(line.startswith("LEADER") for line in lines(tmp_path / "a.log")), timeout=20,
                 message="first scheduler leads")
        second = child("lead", app.settings.database_url, log=tmp_path / "b.log")
        try:
            wait_for(lambda: len(app.scheduler.fires(schedule.id, limit=100)) >= 3, timeout=20, message="fires")
            time.sleep(1.0)  # the second process is running and NOT leading
            assert not any(line.startswith("LEADER") for line in lines(tmp_path / "b.log"))
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed, killed_at = time.monotonic(), datetime.now(UTC)
            wait_for(lambda: any(line.startswith("LEADER") for line in lines(tmp_path / "b.log")), timeout=10,
                     message="the second scheduler takes over")
            took_over = time.monotonic() - killed
            before = len(app.scheduler.fires(schedule.id, limit=1000))
            wait_for(lambda: len(app.scheduler.fires(schedule.id, limit=1000)) >= before + 3, timeout=20,
                     message="fires go on under the new leader")
            assert took_over < 5.0
        finally:
            second.kill()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    fires = schedule_sql(app.store).run("schedule_fires_list", id=schedule.id, limit=1000)
    times = [f["fire_at"] for f in fires]
    assert len(times) == len(set(times))
    jobs = [j for j in app.list_jobs(limit=1000) if j.task == "t.add"]
    assert len(jobs) == len({j.meta["fire_at"] for j in jobs})  # no time queued twice
    assert {j.meta["fire_at"] for j in jobs} <= {t.astimezone(UTC).isoformat() for t in times}
    assert not [f for f in fires if f["outcome"] == "failed"]
    # Undispatched: only a fire the killed leader had claimed (redone by recovery 30 s later),
    # or one the second process had claimed when the test stopped it.
    undispatched = [f for f in fires if f["outcome"] is None]
    assert all(f["claimed_at"] <= killed_at or f["fire_at"] >= max(times) - timedelta(seconds=2)
               for f in undispatched), undispatched
