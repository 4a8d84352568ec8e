"""Pipelines declared with one_run_per (the Jira and GitHub syncs: one per integration): at most
one unfinished run per tenant and key, held by a unique index so two starts at the same moment
cannot both land; ETL jobs and the demo go through the same rule."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.errors import RunConflictError
from conveyor.pipelines import PipelineError
from conveyor.settings import Settings

HOLD = threading.Event()  # stage jobs wait on it, so a run stays unfinished while a worker is live


@pytest.fixture
def app(settings: Settings) -> Any:
    app = Conveyor(settings=settings)
    app.migrate()
    HOLD.clear()

    @app.task(name="one.extract", queue="one_extract")
    def extract(item: Any = None) -> None:
        HOLD.wait(30)

    app.pipeline("t.one_per", steps=[{"name": "main", "stages": [{"name": "extraction", "task": "one.extract"}]}],
                 one_run_per=["source"])
    yield app
    HOLD.set()
    app.close()


def test_a_second_unfinished_run_for_the_same_key_is_refused_naming_the_first(app: Conveyor) -> None:
    pipeline = app.pipelines["t.one_per"]
    first = pipeline.start({"source": "a"}, policy="accept")  # no worker: it stays unfinished
    with pytest.raises(RunConflictError) as refused:
        pipeline.start({"source": "a", "other": 1}, policy="accept")
    assert first.id in refused.value.message and "source='a'" in refused.value.message
    assert f"conveyor pipelines cancel {first.id}" in refused.value.action
    assert refused.value.run_id == first.id and refused.value.to_dict()["run_id"] == first.id  # the 409's body
    assert [r.id for r in app.runs.list() if r.params.get("source") == "a"] == [first.id]  # nothing written

    pipeline.start({"source": "b"}, policy="accept")  # another key
    pipeline.start({"source": "a"}, tenant="acme", policy="accept")  # another tenant
    app.runs.cancel(first.id)
    again = pipeline.start({"source": "a"}, policy="accept")  # the first one ended
    assert again.id != first.id and not again.finished


def test_two_starts_at_the_same_moment_give_one_run(app: Conveyor) -> None:
    pipeline = app.pipelines["t.one_per"]
    barrier, started, refused = threading.Barrier(6), [], []

    def start() -> None:
        barrier.wait()
        try:
            started.append(pipeline.start({"source": "race"}, policy="accept").id)
        except RunConflictError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(started) == 1 and len(refused) == 5
    assert len([r for r in app.runs.list() if r.params.get("source") == "race"]) == 1


def test_a_reprocess_run_is_not_held_back_and_bad_declarations_are_refused(app: Conveyor) -> None:
    with pytest.raises(PipelineError, match="one_run_per"):
        app.pipeline("t.bad", steps=[{"name": "main", "stages": [{"name": "x", "task": "one.extract"}]}],
                     one_run_per="source")
    assert app.pipelines["t.one_per"].declaration.one_run_per == ("source",)
    assert app.pipelines["t.one_per"].declaration.to_dict()["one_run_per"] == ["source"]


def test_an_etl_job_whose_integration_is_being_synced_fails_saying_so(app: Conveyor, start_worker: Any) -> None:
    from conveyor.etl_jobs import create_etl_job

    start_worker(["one_extract"], concurrency=2)
    manual = app.pipelines["t.one_per"].start({"source": "jira-1"}, policy="accept")
    job = create_etl_job(app, tenant="default", name="sync jira-1", pipeline="t.one_per", params={"source": "jira-1"})
    with pytest.raises(RunConflictError) as refused:
        app.etl_jobs.run_now(job.id)
    assert manual.id in str(refused.value)
    failed = app.etl_jobs.require(job.id)
    assert failed.status == "FAILED" and manual.id in (failed.error or "")
