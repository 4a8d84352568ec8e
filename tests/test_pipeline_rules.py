"""The pipeline rules as pure functions: no database, no worker."""

from __future__ import annotations

import pytest

from conveyor.pipelines.declaration import Pipeline, PipelineError, build_pipeline, fill_queue
from conveyor.pipelines.rules import FAILED, FINISHED, RUNNING, StageCounts, decide, seed_flags, status_json


class FakeTask:
    def __init__(self, name: str) -> None:
        self.name = name


TASKS = {n: FakeTask(n) for n in ("ext", "tr", "emb")}
STAGES = [{"name": "extraction", "task": "ext"}, {"name": "transform", "task": "tr"}, {"name": "embedding", "task": "emb"}]


def pipeline(*orders: str, on_failure: str = "fail_run") -> Pipeline:
    steps = [{"name": "s1", "stages": STAGES, "on_failure": on_failure}]
    steps += [{"name": f"s{i + 2}", "stages": STAGES, "order": o} for i, o in enumerate(orders)]
    return build_pipeline("p", steps, TASKS)  # type: ignore[arg-type]


def c(entered: int = 0, outstanding: int = 0, done: int = 0, failed: int = 0, started: bool = False) -> StageCounts:
    return StageCounts(entered=entered, outstanding=outstanding, done=done, failed=failed, started=started)


def test_a_new_run_starts_only_the_first_step_by_default() -> None:
    d = decide(pipeline("overlap", "independent"), {}, RUNNING)
    assert d.start_steps == ["s1", "s3"] and d.run_state == RUNNING
    assert d.stages[("s2", "extraction")] == "waiting" and d.stages[("s1", "transform")] == "idle"


def test_overlap_starts_next_step_when_first_stage_is_done_wait_when_whole_step_is() -> None:
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): c(5, 3, 2)}
    assert decide(pipeline("overlap"), counts, RUNNING).start_steps == ["s2"]
    assert decide(pipeline("wait"), counts, RUNNING).start_steps == []


def test_stage_is_finished_only_when_upstream_finished_and_nothing_outstanding() -> None:
    p = pipeline()
    # transform drained, but extraction still running: transform is not finished
    counts = {("s1", "extraction"): c(1, 1, started=True), ("s1", "transform"): c(5, 0, 5)}
    d = decide(p, counts, RUNNING)
    assert d.stages[("s1", "transform")] == "running" and d.run_state == RUNNING
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): c(5, 0, 5),
              ("s1", "embedding"): c(5, 1, 4)}
    assert decide(p, counts, RUNNING).run_state == RUNNING
    counts[("s1", "embedding")] = c(5, 0, 5)
    assert decide(p, counts, RUNNING).run_state == FINISHED


def test_zero_items_emitted_finishes_downstream_stages() -> None:
    counts = {("s1", "extraction"): c(1, 0, 1, started=True)}
    d = decide(pipeline(), counts, RUNNING)
    assert d.run_state == FINISHED and d.stages[("s1", "embedding")] == "finished"


def test_a_dead_job_fails_the_run_at_once_or_makes_the_step_partial() -> None:
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): c(5, 3, 1, failed=1)}
    d = decide(pipeline(), counts, RUNNING)
    assert d.run_state == FAILED and d.stages[("s1", "transform")] == "failed"
    d = decide(pipeline(on_failure="continue"), counts, RUNNING)
    assert d.run_state == RUNNING
    counts[("s1", "transform")] = c(5, 0, 4, failed=1)
    counts[("s1", "embedding")] = c(4, 0, 4)
    d = decide(pipeline(on_failure="continue"), counts, RUNNING)
    assert d.steps["s1"] == "partial" and d.run_state == FINISHED


def test_status_json_has_the_seeds_shape_and_the_counts() -> None:
    p = pipeline()
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): c(5, 2, 3)}
    status = status_json(p, counts, decide(p, counts, RUNNING), "tok")
    step = status["steps"]["s1"]
    assert status["overall"] == RUNNING and status["token"] == "tok"
    assert (step["order"], step["extraction"], step["transform"], step["embedding"]) == (1, "finished", "running", "idle")
    assert step["stages"]["extraction"]["emitted"] == 5 and step["stages"]["transform"]["queued"] == 2


def test_declaration_errors_and_queue_templates() -> None:
    with pytest.raises(PipelineError, match="cycle"):
        build_pipeline("p", [{"name": "a", "stages": STAGES, "depends_on": ["b"]},
                             {"name": "b", "stages": STAGES, "depends_on": ["a"]}], TASKS)  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="no stages"):
        build_pipeline("p", [{"name": "a", "stages": []}], TASKS)  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="order"):
        build_pipeline("p", [{"name": "a", "stages": STAGES, "order": "sideways"}], TASKS)  # type: ignore[arg-type]
    assert fill_queue("extraction_queue_{tier}", {"tier": "premium"}) == "extraction_queue_premium"
    with pytest.raises(PipelineError, match="tier"):
        fill_queue("extraction_queue_{tier}", {})
    with pytest.raises(PipelineError, match="invalid queue"):
        fill_queue("q_{tier}", {"tier": "a b"})
    assert seed_flags(0, 3, True) == {"first_item": True, "last_item": False, "last_job_item": False}
    assert seed_flags(2, 3, True)["last_job_item"]


def test_parked_jobs_make_their_stage_and_step_waiting_with_resume_at() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    parked = StageCounts(entered=1, outstanding=1, parked=1, resume_at=at)
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): parked}
    d = decide(pipeline(), counts, RUNNING)
    assert d.stages[("s1", "transform")] == "waiting" and d.steps["s1"] == "waiting" and d.run_state == RUNNING
    step = status_json(pipeline(), counts, d, "tok")["steps"]["s1"]
    assert step["resume_at"] == at.isoformat() and step["stages"]["transform"]["resume_at"] == at.isoformat()
    assert (step["stages"]["transform"]["parked"], step["stages"]["transform"]["queued"]) == (1, 0)
    # One of two jobs parked, the other queued: the stage is running; so is its step.
    counts[("s1", "transform")] = StageCounts(entered=2, outstanding=2, parked=1, resume_at=at)
    d = decide(pipeline(), counts, RUNNING)
    assert d.stages[("s1", "transform")] == "running" and d.steps["s1"] == "running"
    assert status_json(pipeline(), counts, d, "tok")["steps"]["s1"]["resume_at"] is None
    # An extraction parked after emitting: the drained transform waits with it.
    counts = {("s1", "extraction"): parked, ("s1", "transform"): c(3, 0, 3)}
    d = decide(pipeline(), counts, RUNNING)
    assert d.stages[("s1", "transform")] == "waiting" and d.steps["s1"] == "waiting"


def test_advance_pace_follows_the_nearest_decision() -> None:
    from conveyor.pipelines.advancer import FAST, SLOW, pace
    from conveyor.pipelines.runs import _nearest_decision

    p = pipeline()
    counts = {("s1", "extraction"): c(1, 0, 1, started=True), ("s1", "transform"): c(20_000, 15_000, 5_000),
              ("s1", "embedding"): c(5_000, 3)}
    assert _nearest_decision(p, counts, decide(p, counts, RUNNING)) == 15_000  # the transform must drain first
    assert pace(15_000) == SLOW and pace(3) == FAST
    counts[("s1", "transform")] = c(20_000, 0, 20_000)
    assert _nearest_decision(p, counts, decide(p, counts, RUNNING)) == 3
    counts[("s1", "extraction")] = c(1, 1, 0, started=True)  # extraction still emitting, transform drained
    counts[("s1", "transform")] = c(10, 0, 10)
    assert _nearest_decision(p, counts, decide(p, counts, RUNNING)) == 1
