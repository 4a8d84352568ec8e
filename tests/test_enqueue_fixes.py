"""Issue #19's fixes: a policy given with task.configure() is honoured per job by enqueue_many, and
every refusal names the app's real `--app module:attr` (or says plainly it could not be found)."""

from __future__ import annotations

import sys
import types

import pytest

from conveyor import Conveyor, NoLiveWorkerError
from conveyor.commands import find_app_path, worker_command
from conveyor.model import JobState
from conveyor.settings import Settings


@pytest.fixture
def app(database_url):
    app = Conveyor(settings=Settings(database_url=database_url))
    app.migrate()

    @app.task(name="fix.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="fix.report", queue="reports")
    def report() -> None:
        return None

    yield app
    app.close()


def test_enqueue_many_honours_each_jobs_configured_policy(app):
    add, report = app.tasks["fix.add"], app.tasks["fix.report"]
    jobs = [add.configure(policy="accept").new_job(1, 2), report.configure(policy="record_failed").new_job()]
    handles = app.enqueue_many(jobs)  # no worker at all: the app's own policy (refuse) would refuse
    assert [h.get().state for h in handles] == [JobState.QUEUED, JobState.FAILED]


def test_enqueue_many_refuses_a_job_whose_configured_policy_refuses(app):
    add = app.tasks["fix.add"]
    jobs = [add.configure(policy="accept").new_job(1, 2), add.configure(policy="refuse").new_job(3, 4)]
    with pytest.raises(NoLiveWorkerError):
        app.enqueue_many(jobs)
    assert app.list_jobs() == []


def test_the_call_policy_still_wins_over_each_jobs_own(app):
    add = app.tasks["fix.add"]
    handles = app.enqueue_many([add.configure(policy="refuse").new_job(1, 2)] * 1, policy="accept")
    assert handles[0].get().state == JobState.QUEUED


def test_a_refusal_names_the_module_that_holds_the_app_even_when_its_tasks_live_elsewhere(database_url):
    module = types.ModuleType("shop_fix19.app_module")
    app = Conveyor(settings=Settings(database_url=database_url))
    module.conveyor_app = app  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        assert find_app_path(app) == "shop_fix19.app_module:conveyor_app"
        app.migrate()

        @app.task(name="fix.lonely")
        def lonely() -> None:
            return None

        with pytest.raises(NoLiveWorkerError) as raised:
            lonely.enqueue()
        assert "--app shop_fix19.app_module:conveyor_app" in str(raised.value.action)
    finally:
        del sys.modules[module.__name__]
        app.close()


def test_when_no_module_holds_the_app_the_command_says_so_plainly():
    command = worker_command(None, "default")
    assert "could not find which module defines this app" in command
    assert worker_command("shop.tasks:app", "default").endswith("--app shop.tasks:app --queues default")
