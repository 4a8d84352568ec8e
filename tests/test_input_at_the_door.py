"""What a new user trips on: arguments bound against the task's signature at enqueue, numbers and
queue names checked before anything is written, fix commands that name the real app, a fresh
database that says how to create its schema, short task names."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from conveyor import Conveyor, JobState
from conveyor.app import NO_OPTIONS
from conveyor.errors import InvalidJobError, NoLiveWorkerError, SchemaOutdatedError, UnknownTaskError
from conveyor.model import NewJob, new_job_id
from conveyor.store import JobFilter
from tests import tasks


def count_jobs(app) -> int:
    return len(app.store.list_jobs(JobFilter(), limit=10_000))


@pytest.mark.parametrize("call, parameter, message", [
    (lambda: tasks.add.enqueue(1), "b", "missing required parameter(s) 'b'"),
    (lambda: tasks.add.enqueue(1, 2, 3), "args", "takes 2 positional argument(s) but 3 were given"),
    (lambda: tasks.app.enqueue("t.add", [1], {"b": 2, "extra": 1}), "extra", "has no parameter 'extra'"),
    (lambda: tasks.app.enqueue("t.add", [1], {"a": 2}), "a", "got parameter 'a' twice"),
    (lambda: tasks.app.enqueue("t.progress", kwargs={"steps": 1}), "step_seconds", "'step_seconds'"),
])
def test_arguments_that_cannot_bind_are_refused_naming_the_parameter(app, start_worker, call, parameter, message):
    start_worker()
    with pytest.raises(InvalidJobError, match="Task 't\\.") as caught:
        call()
    assert message in caught.value.message and caught.value.parameter == parameter
    assert "Call it as" in caught.value.action
    assert count_jobs(app) == 0
    # ctx is not a parameter a caller passes; defaults may be left out.
    assert tasks.app.enqueue("t.progress", kwargs={"steps": 1, "step_seconds": 0}).wait(10).state == JobState.COMPLETED


def test_bulk_enqueue_with_one_unbindable_job_writes_nothing(app, start_worker):
    start_worker()
    with pytest.raises(InvalidJobError, match="has no parameter 'c'"):
        app.enqueue_many([tasks.add.new_job(1, 2), tasks.add.new_job(1, 2, c=3)])
    assert count_jobs(app) == 0


def test_a_binding_type_error_in_the_worker_is_permanent(app, start_worker):
    """A job written without the check (an older client, a task whose signature changed since)
    goes to dead at its first attempt: binding fails the same way every time."""
    start_worker()
    job = NewJob(task="t.add", args=[1], kwargs={"zzz": 1}, queue="default", priority=0, tenant="default",
                 max_attempts=3, timeout=None, id=new_job_id())
    handle = app.submit([job])[0]
    done = handle.wait(10)
    assert done.state == JobState.DEAD and done.attempts == 1
    assert "has no parameter 'zzz'" in (done.error or "")
    assert [a.outcome for a in done.attempts_history()] == ["permanent_error"]


@pytest.mark.parametrize("delay", [float("nan"), float("inf"), -1.0, 1e300])
def test_delays_that_are_not_finite_non_negative_seconds_are_refused(app, start_worker, delay):
    start_worker()
    with pytest.raises(InvalidJobError, match="delay must"):
        tasks.add.configure(delay=delay).enqueue(1, 2)
    assert count_jobs(app) == 0


def test_short_task_names_when_unambiguous_and_no_internal_tasks_offered(tmp_path):
    local = Conveyor(f"sqlite:///{tmp_path / 'short.db'}")

    @local.task(name="images.make_thumbnail")
    def make_thumbnail(image_id: int) -> int:
        return image_id

    @local.task(name="a.resize")
    def resize_a() -> None: ...

    @local.task(name="b.resize")
    def resize_b() -> None: ...

    assert local.get_task("make_thumbnail").name == "images.make_thumbnail"
    assert local.build_job("make_thumbnail", [1], {}, NO_OPTIONS).task == "images.make_thumbnail"
    with pytest.raises(UnknownTaskError, match="ambiguous: a.resize, b.resize"):
        local.get_task("resize")
    with pytest.raises(UnknownTaskError) as unknown:
        local.get_task("nope")
    assert "images.make_thumbnail" in unknown.value.action and "conveyor.probe" not in unknown.value.action
    local.close()


def test_first_enqueue_on_a_fresh_database_names_the_upgrade_command(tmp_path):
    fresh = tasks.app.with_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(SchemaOutdatedError) as caught:
        fresh.enqueue("t.add", [1, 2])
    assert "db upgrade --database-url sqlite:///" in caught.value.action
    fresh.close()


def test_the_fix_command_names_the_apps_real_module(tmp_path, monkeypatch):
    """An app built without app_path (as users write it) is found in the module of its tasks."""
    (tmp_path / "shop_jobs.py").write_text(textwrap.dedent(f"""
        from conveyor import Conveyor
        queue_app = Conveyor("sqlite:///{tmp_path / 'shop.db'}")

        @queue_app.task(queue="emails")
        def send(to: str) -> None: ...
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("shop_jobs")
    try:
        module.queue_app.migrate()
        with pytest.raises(NoLiveWorkerError) as caught:
            module.send.enqueue("a@b.c")
        assert "worker --app shop_jobs:queue_app --queues emails" in caught.value.action
        assert "myproject" not in str(caught.value)
        assert caught.value.action.split("Start one with: ")[1].split()[0].endswith("conveyor")
    finally:
        module.queue_app.close()
        sys.modules.pop("shop_jobs", None)


def test_signature_check_covers_every_kind_of_parameter():
    from conveyor.signature import TaskSignature

    def fn(ctx, a, /, b, *rest, k, opt=1, **extra): ...

    sig = TaskSignature(fn, skip_first=True)
    sig.check("f", [1, 2, 3, 4], {"k": 1, "anything": 2})  # *rest and **extra take the rest
    for args, kwargs, parameter in [([1, 2], {}, "k"), ([1], {"k": 1}, "b"), ([], {"a": 1, "b": 2, "k": 3}, "a"),
                                    ([1, 2], {"b": 3, "k": 4}, "b")]:
        with pytest.raises(InvalidJobError) as caught:
            sig.check("f", args, kwargs)
        assert caught.value.parameter == parameter, (args, kwargs, caught.value.message)

    def plain(x, y=2): ...

    quick = TaskSignature(plain, skip_first=False)
    quick.check("p", [1], {})
    quick.check("p", [1, 2], {})
    for args in ([], [1, 2, 3]):
        with pytest.raises(InvalidJobError):
            quick.check("p", args, {})
    assert [p["name"] for p in TaskSignature(fn, skip_first=True).to_list()] == ["a", "b", "k", "opt"]


def test_the_stranded_queue_warning_names_the_apps_real_worker_command(app, caplog):
    """QUEUE_STRANDED said `--app APP` under `conveyor up`: it names the app's module:attr."""
    import logging

    from conveyor.commands import cli_command
    from conveyor.maintenance import run_maintenance

    tasks.reports.configure(policy="accept").enqueue()
    with caplog.at_level(logging.WARNING):
        run_maintenance(app)
    (record,) = [r for r in caplog.records if r.getMessage() == "QUEUE_STRANDED"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["queue"] == "reports"
    assert fields["action"] == f"start a worker: {cli_command()} worker --app tests.tasks:app --queues reports"
