"""The scheduler pass on both engines: each fire time once, the outcome recorded, declared and
runtime schedules, misfires after downtime, bad input refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor.errors import UnknownTaskError
from conveyor.schedules import ScheduleError, build_spec
from conveyor.store.schedules_sql import schedule_sql
from tests.conftest import register_worker_row
from tests.schedules.conftest import Clock

QUEUES = ("default", "p_extract", "p_transform", "p_embed")


def jobs_of(app: Any, task: str) -> list[Any]:
    return [j for j in app.list_jobs(limit=1000) if j.task == task]


def test_interval_schedule_fires_each_time_once(app: Any, clock: Clock) -> None:
    register_worker_row(app.store, "w1", QUEUES)
    schedule = app.scheduler.create(build_spec(app, "adder", "t.add", interval=60, args=[1, 2]))
    assert schedule.next_fire_at == clock.advance(0).replace(minute=1)
    assert app.scheduler.tick().fired == []
    clock.advance(60.2)
    assert [f[2] for f in app.scheduler.tick().fired] == ["queued"]
    assert app.scheduler.tick().fired == []  # same time again: nothing
    assert app.scheduler.tick(lead=False).fired == []
    (job,) = jobs_of(app, "t.add")
    assert job.args == [1, 2] and job.meta["schedule"] == "adder"
    stored = app.scheduler.get(schedule.id)
    assert stored.last_outcome == "queued" and stored.last_job_id == job.id
    assert stored.next_fire_at == schedule.next_fire_at.replace(minute=2)
    fires = app.scheduler.fires(schedule.id)
    assert [(f["outcome"], f["job_id"]) for f in fires] == [("queued", job.id)]


def test_a_fire_time_is_claimed_once_even_when_dispatched_again(app: Any, clock: Clock) -> None:
    """The unique (schedule, fire time) row: a second claim is a no-op; a redone dispatch reuses
    the job through its idempotency key."""
    register_worker_row(app.store, "w1", QUEUES)
    schedule = app.scheduler.create(build_spec(app, "adder", "t.add", interval=60, args=[1, 2]))
    sql = schedule_sql(app.store)
    fire_at = schedule.next_fire_at
    assert sql.run("schedule_fire_claim", id=schedule.id, fire_at=fire_at, now=clock.now)
    assert not sql.run("schedule_fire_claim", id=schedule.id, fire_at=fire_at, now=clock.now)
    app.scheduler.dispatch(schedule, fire_at, clock.now)
    app.scheduler.dispatch(schedule, fire_at, clock.now)
    assert len(jobs_of(app, "t.add")) == 1


def test_claimed_but_undispatched_fire_is_recovered(app: Any, clock: Clock) -> None:
    register_worker_row(app.store, "w1", QUEUES)
    schedule = app.scheduler.create(build_spec(app, "adder", "t.add", interval=3600, args=[1, 2]))
    sql = schedule_sql(app.store)
    sql.run("schedule_fire_claim", id=schedule.id, fire_at=schedule.next_fire_at, now=clock.now)  # then "died"
    app.scheduler.tick()
    assert jobs_of(app, "t.add") == []
    clock.advance(31)
    app.scheduler.tick()
    assert len(jobs_of(app, "t.add")) == 1
    assert app.scheduler.get(schedule.id).last_outcome == "queued"


def test_no_live_worker_outcome_is_failed_with_the_command(app: Any, clock: Clock) -> None:
    schedule = app.scheduler.create(build_spec(app, "adder", "t.add", interval=60, args=[1, 2]))
    clock.advance(60)
    assert [f[2] for f in app.scheduler.tick().fired] == ["failed"]
    stored = app.scheduler.get(schedule.id)
    assert stored.last_outcome == "failed" and "conveyor worker" in stored.last_error
    assert jobs_of(app, "t.add") == []
    clock.advance(60)  # tried again at the next time
    register_worker_row(app.store, "w1", QUEUES)
    assert [f[2] for f in app.scheduler.tick().fired] == ["queued"]


def test_pipeline_schedule_starts_a_run_with_the_fire_token(app: Any, clock: Clock) -> None:
    register_worker_row(app.store, "w1", QUEUES)
    schedule = app.scheduler.create(build_spec(app, "sync", "t.etl", cron="*/5 * * * *", kwargs={"n": 2},
                                               tenant="acme"))
    clock.advance(300)
    assert [f[2] for f in app.scheduler.tick().fired] == ["queued"]
    run = app.get_run(app.scheduler.get(schedule.id).last_job_id)
    assert run.pipeline == "t.etl" and run.tenant == "acme" and run.params == {"n": 2}
    fire_at = app.scheduler.fires(schedule.id)[0]["fire_at"]
    app.scheduler.dispatch(app.scheduler.get(schedule.id), fire_at, clock.now)
    assert len(app.runs.list()) == 1  # a redone dispatch finds the run by its token


def test_misfire_after_downtime_never_bursts(app: Any, clock: Clock) -> None:
    register_worker_row(app.store, "w1", QUEUES)
    app.scheduler.create(build_spec(app, "skip", "t.add", interval=60, args=[1, 1], misfire="skip"))
    app.scheduler.create(build_spec(app, "once", "t.add", interval=60, args=[2, 2], misfire="once"))
    app.scheduler.create(build_spec(app, "all", "t.add", interval=60, args=[3, 3], misfire="all", misfire_max=4))
    clock.advance(5 * 3600 + 45)  # five hours down
    report = app.scheduler.tick()
    assert sorted(name for name, _, _ in report.fired) == ["all"] * 4 + ["once"]
    clock.advance(15)  # back on time: every policy fires its next time normally
    assert sorted(name for name, _, _ in app.scheduler.tick().fired) == ["all", "once", "skip"]


def test_declared_in_code_synced_and_pause_kept(app: Any, clock: Clock) -> None:
    register_worker_row(app.store, "w1", QUEUES)
    app.schedule("nightly", target="t.add", cron="0 2 * * *", timezone="Europe/Berlin", args=[4, 5])
    app.scheduler.tick()
    (stored,) = app.scheduler.list()
    assert stored.in_code and stored.timezone == "Europe/Berlin"
    assert stored.next_fire_at.isoformat() == "2026-06-02T00:00:00+00:00"  # 02:00 CEST
    app.scheduler.update(stored.id, {"active": False})
    app.scheduler._synced = False  # a restart: the code's declaration is written again
    app.scheduler.tick()
    assert app.scheduler.get(stored.id).active is False


def test_decorator_declares_a_schedule(app: Any, clock: Clock) -> None:
    decorated = app.schedule(interval=30, args=[1, 2])(app.get_task("t.add"))
    assert decorated is app.get_task("t.add")
    assert ("default", "t.add") in app.scheduler.declared


@pytest.mark.parametrize(("options", "error", "words"), [
    ({"target": "t.nope", "interval": 60}, UnknownTaskError, "Unknown task"),
    ({"target": "t.add", "interval": 0, "args": [1, 2]}, ScheduleError, "more than 0"),
    ({"target": "t.add", "cron": "99 * * * *", "args": [1, 2]}, ScheduleError, "Invalid cron"),
    ({"target": "t.add", "interval": 60, "timezone": "Nowhere/City", "args": [1, 2]}, ScheduleError, "time zone"),
    ({"target": "t.add", "interval": 60, "args": [1]}, Exception, "b"),
    ({"target": "t.etl", "kind": "pipeline", "interval": 60, "args": [1]}, ScheduleError, "params"),
    ({"target": "nope", "kind": "pipeline", "interval": 60}, ScheduleError, "Unknown pipeline"),
])
def test_bad_schedule_refused_nothing_written(app: Any, clock: Clock, options: dict[str, Any], error: type,
                                              words: str) -> None:
    options = dict(options)
    target = options.pop("target")
    with pytest.raises(error, match=words):
        app.scheduler.create(build_spec(app, "bad", target, **options))
    assert app.scheduler.list() == []


def test_bad_update_changes_nothing(app: Any, clock: Clock) -> None:
    created = app.scheduler.create(build_spec(app, "adder", "t.add", interval=60, args=[1, 2]))
    with pytest.raises(ScheduleError):
        app.scheduler.update(created.id, {"cron": "nonsense"})
    with pytest.raises(ScheduleError):
        app.scheduler.update(created.id, {"interval": -1})
    assert app.scheduler.get(created.id).to_dict() == created.to_dict()
    with pytest.raises(ScheduleError, match="already has"):
        app.scheduler.create(build_spec(app, "adder", "t.add", interval=5, args=[1, 2]))
