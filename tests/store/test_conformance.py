"""The Store contract: every public method of conveyor.store.base.Store, on SQLite and PostgreSQL.

Written against the public interface only (no private methods, no SQL), so it holds the engines
to the same behaviour before and after they are restructured. Every bug it found has been fixed,
so no test here is marked xfail.

Areas: schema, enqueue policies, idempotency, reading and filtering, claiming, finishing,
leases, operator actions, workers and queues, maintenance, API keys, events and wake-ups, and a
walk of model.TRANSITIONS.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.errors import (
    ConveyorError,
    InvalidJobError,
    InvalidTransitionError,
    JobNotFoundError,
    NoLiveWorkerError,
    SchemaOutdatedError,
)
from conveyor.model import TRANSITIONS, EnqueuePolicy, JobState, NewJob, Outcome, WorkerInfo, root_token
from conveyor.settings import Settings
from conveyor.store import ClaimedJob, EnqueueResult, JobFilter, MaintenanceReport, Store
from conveyor.store.base import latest_schema_version
from tests.conftest import FAST, wait_for

LIVE = 30.0  # liveness timeout under which every worker a test registers stays alive
ACCEPT, REFUSE, RECORD_FAILED = EnqueuePolicy.ACCEPT, EnqueuePolicy.REFUSE, EnqueuePolicy.RECORD_FAILED
S = JobState


# -- helpers ------------------------------------------------------------------------------------
def add_worker(store: Store, queues: tuple[str, ...] = ("default",), worker_id: str | None = None) -> str:
    worker_id = worker_id or f"w-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    store.register_worker(WorkerInfo(
        id=worker_id, hostname="host", pid=4242, queues=list(queues), concurrency=3, version="9.9",
        started_at=now, last_heartbeat=now, state="running", desired_state=None,
        jobs_in_flight=0, processed=0, failed=0))
    return worker_id


def put(store: Store, policy: EnqueuePolicy = ACCEPT, **fields: Any) -> str:
    """Enqueue one job; its id."""
    (result,) = store.enqueue([NewJob(**{"task": "t.add", **fields})], policy=policy, liveness_timeout=LIVE)
    return result.id


def put_many(store: Store, jobs: list[NewJob], policy: EnqueuePolicy = ACCEPT) -> list[EnqueueResult]:
    return store.enqueue(jobs, policy=policy, liveness_timeout=LIVE)


def take(store: Store, worker: str, queue: str = "default", **fields: Any) -> ClaimedJob:
    """Enqueue one job on `queue` and claim exactly that job for `worker`."""
    job_id = put(store, queue=queue, **fields)
    claimed = store.claim_jobs(worker, [queue], 1)
    assert [c.id for c in claimed] == [job_id]
    return claimed[0]


def outcome(claimed: ClaimedJob, state: JobState, **fields: Any) -> Outcome:
    return Outcome(job_id=claimed.id, lease_token=claimed.lease_token, state=state, attempt=claimed.attempts,
                   started_at=claimed.started_at, **fields)


def maintain(store: Store, **overrides: float) -> MaintenanceReport:
    """One maintenance pass that, unless told otherwise, rescues nothing alive, times nothing out,
    expires nothing and prunes nothing."""
    options: dict[str, float] = dict(liveness_timeout=LIVE, timeout_grace=3600, stranded_deadline=0,
                                     result_ttl=86400, failure_ttl=86400, prune_batch=1000)
    report = store.run_maintenance(**{**options, **overrides})  # type: ignore[arg-type]
    assert report is not None, "no other maintenance pass runs in this test"
    return report


def job(store: Store, job_id: str) -> Any:
    found = store.get_job(job_id)
    assert found is not None, f"job {job_id} is gone"
    return found


def state(store: Store, job_id: str) -> JobState:
    return job(store, job_id).state


def ids(items: list[Any]) -> set[str]:
    return {i.id for i in items}


def listed(store: Store, **filters: Any) -> set[str]:
    return ids(store.list_jobs(JobFilter(**filters), limit=1000))


def wait_until_past(moment: datetime, margin: float = 0.02) -> None:
    """Wait (with a deadline) until the clock is past `moment`, for the maintenance rules that
    compare a job's times with now."""
    wait_for(lambda: datetime.now(UTC) > moment + timedelta(seconds=margin), timeout=5,
             message=f"the clock to pass {moment}")


def near(a: datetime | None, b: datetime, seconds: float = 5.0) -> bool:
    return a is not None and abs((a - b).total_seconds()) <= seconds


# -- schema -------------------------------------------------------------------------------------
def test_a_new_database_is_at_version_0_and_check_schema_says_how_to_upgrade(empty_store):
    assert empty_store.schema_version() == 0
    with pytest.raises(SchemaOutdatedError) as raised:
        empty_store.check_schema()
    need = latest_schema_version(empty_store.engine)
    assert f"version 0, this Conveyor needs version {need}" in raised.value.message
    assert "conveyor db upgrade" in raised.value.action


def test_redacted_url_hides_a_password(store):
    assert "***" not in store.redacted_url() and store.redacted_url() == store.url  # the tests' URLs have none
    url = store.url
    try:
        store.url = "postgresql://conveyor:s3cret@db.example:5432/jobs"
        assert store.redacted_url() == "postgresql://conveyor:***@db.example:5432/jobs"
    finally:
        store.url = url


def test_migrate_reaches_the_latest_version_once_and_is_idempotent(empty_store):
    need = latest_schema_version(empty_store.engine)
    assert empty_store.migrate() == need
    assert empty_store.schema_version() == need
    empty_store.check_schema()  # no error
    assert empty_store.migrate() == need
    assert empty_store.schema_version() == need
    put(empty_store)  # the tables work
    assert len(empty_store.list_jobs(JobFilter())) == 1


# -- enqueue policies ---------------------------------------------------------------------------
BATCH_SHAPES = pytest.mark.parametrize("shape", ["one", "one-keyed", "batch", "batch-keyed"])


def jobs_for(shape: str, queues: list[str]) -> list[NewJob]:
    """The jobs of one enqueue call: one job, or one per queue (plus a second on the first);
    'keyed' gives each an idempotency key, which takes the engines down another path."""
    queues = queues[:1] if shape.startswith("one") else queues + queues[:1]
    keyed = shape.endswith("keyed")
    return [NewJob(task="t.add", args=[i], queue=q, idempotency_key=f"k{i}-{uuid.uuid4().hex}" if keyed else None)
            for i, q in enumerate(queues)]


@BATCH_SHAPES
def test_refuse_without_a_live_worker_raises_naming_the_queue_and_writes_nothing(store, shape):
    add_worker(store, queues=("served",))
    jobs = jobs_for(shape, ["orphan", "served"] if shape.startswith("one") else ["served", "orphan"])
    with pytest.raises(NoLiveWorkerError) as raised:
        put_many(store, jobs, REFUSE)
    assert raised.value.queue == "orphan"
    assert "'orphan'" in raised.value.message and "--queues orphan" in raised.value.action
    assert store.list_jobs(JobFilter()) == []
    assert store.get_jobs([j.id for j in jobs]) == []


def test_refuse_counts_paused_workers_in_its_message_but_not_as_live(store):
    worker = add_worker(store, queues=("default",))
    store.heartbeat(worker, state="paused", jobs_in_flight=0, processed=0, failed=0)
    with pytest.raises(NoLiveWorkerError) as raised:
        put(store, REFUSE)
    assert "1 paused worker(s) serve it" in raised.value.message
    assert store.list_jobs(JobFilter()) == []


def test_refuse_ignores_stopped_workers_and_workers_past_the_liveness_timeout(store):
    stopped = add_worker(store, queues=("a",))
    store.stop_worker(stopped)
    with pytest.raises(NoLiveWorkerError):
        put(store, REFUSE, queue="a")
    add_worker(store, queues=("b",))
    put(store, REFUSE, queue="b")  # live under a 30 s timeout...
    wait_for(lambda: store.live_worker_count("b", 0.2) == (0, 0), message="the heartbeat to age past 0.2 s")
    with pytest.raises(NoLiveWorkerError):  # ...and not under 0.2 s
        store.enqueue([NewJob(task="t.add", queue="b")], policy=REFUSE, liveness_timeout=0.2)
    assert listed(store, queue="a") == set() and len(listed(store, queue="b")) == 1


@BATCH_SHAPES
def test_refuse_with_a_live_worker_writes_every_job_ready(store, shape):
    add_worker(store, queues=("a", "b"))
    jobs = jobs_for(shape, ["a", "b"])
    results = put_many(store, jobs, REFUSE)
    assert [(r.id, r.state, r.created) for r in results] == [(j.id, S.QUEUED, True) for j in jobs]
    assert {j.id: j.queue for j in store.get_jobs([j.id for j in jobs])} == {j.id: j.queue for j in jobs}


@BATCH_SHAPES
def test_record_failed_writes_unserved_jobs_as_failed_with_the_reason(store, shape):
    add_worker(store, queues=("served",))
    jobs = jobs_for(shape, ["orphan", "served"])
    results = put_many(store, jobs, RECORD_FAILED)
    expected = {j.id: S.FAILED if j.queue == "orphan" else S.QUEUED for j in jobs}
    assert {r.id: r.state for r in results} == expected and all(r.created for r in results)
    for written in store.get_jobs([j.id for j in jobs]):
        assert written.state == expected[written.id]
        if written.state == S.FAILED:
            assert "No live worker serves queue 'orphan'" in written.error
            assert written.finished_at is not None and written.attempts == 0
        else:
            assert written.error is None and written.finished_at is None


@BATCH_SHAPES
def test_accept_queues_without_a_worker_and_future_jobs_are_scheduled(store, shape):
    jobs = jobs_for(shape, ["nobody", "nobody-either"])
    later = datetime.now(UTC) + timedelta(hours=1)
    jobs[-1].run_at = later
    results = put_many(store, jobs, ACCEPT)
    assert [r.state for r in results] == [S.QUEUED] * (len(jobs) - 1) + [S.SCHEDULED]
    scheduled = job(store, jobs[-1].id)
    assert near(scheduled.run_at, later, 0.01) and scheduled.queued_at is None


def test_an_empty_enqueue_writes_nothing_and_returns_nothing(store):
    for policy in EnqueuePolicy:
        assert store.enqueue([], policy=policy, liveness_timeout=LIVE) == []
    assert store.list_jobs(JobFilter()) == []


def test_enqueue_refuses_bad_jobs_with_a_clear_error_and_writes_nothing_of_the_batch(store):
    good = NewJob(task="t.add", args=[1])
    for bad, words in [
        (NewJob(task="t.add", queue="no spaces"), "Invalid queue name"),
        (NewJob(task="t.add", args=[object()]), "not JSON-serialisable"),
        (NewJob(task="t.add", max_attempts=0), "max_attempts"),
        (NewJob(task="t.add", timeout=float("nan")), "timeout"),
        (NewJob(task="t.add", priority=1.5), "priority"),  # type: ignore[arg-type]
    ]:
        for batch in ([bad], [good, bad]):
            with pytest.raises(InvalidJobError, match=words):
                put_many(store, batch)
    assert store.list_jobs(JobFilter()) == []


# Issue #12: app.submit/enqueue_many take the no-worker policy from the first job's queue only.

def test_a_batch_spanning_queues_applies_each_queues_policy_refuse_after_accept(database_url):
    app = Conveyor(settings=Settings(database_url=database_url, **FAST), queue_policies={"nightly": "accept"})
    try:
        app.migrate()
        jobs = [NewJob(task="t.add", queue="nightly"), NewJob(task="t.add", queue="default")]
        with pytest.raises(NoLiveWorkerError) as raised:  # default's policy is the app's: refuse
            app.enqueue_many(jobs)
        assert raised.value.queue == "default"
        assert app.store.list_jobs(JobFilter()) == []
    finally:
        app.close()


def test_a_batch_spanning_queues_applies_each_queues_policy_record_failed_after_refuse(database_url):
    app = Conveyor(settings=Settings(database_url=database_url, **FAST),
                   queue_policies={"nightly": "record_failed"})
    try:
        app.migrate()
        add_worker(app.store, queues=("default",))
        jobs = [NewJob(task="t.add", queue="default"), NewJob(task="t.add", queue="nightly")]
        handles = app.enqueue_many(jobs)
        assert [h.id for h in handles] == [j.id for j in jobs]
        assert [state(app.store, j.id) for j in jobs] == [S.QUEUED, S.FAILED]
    finally:
        app.close()


# -- idempotency keys ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["one", "batch"])
def test_an_idempotency_key_writes_a_job_once_per_tenant(store, shape):
    def enqueue(tenant: str) -> EnqueueResult:
        jobs = [NewJob(task="t.add", tenant=tenant, idempotency_key="order-7")]
        if shape == "batch":
            jobs.append(NewJob(task="t.add", tenant=tenant))
        return put_many(store, jobs)[0]

    first = enqueue("acme")
    assert first.created and first.state == S.QUEUED
    again = enqueue("acme")
    assert (again.id, again.state, again.created) == (first.id, S.QUEUED, False)
    other = enqueue("umbrella")
    assert other.created and other.id != first.id
    assert len(listed(store, tenant="acme")) == (1 if shape == "one" else 3)  # + two unkeyed
    assert job(store, first.id).idempotency_key == "order-7"


def test_a_repeated_key_reports_the_holder_in_its_current_state(store):
    worker = add_worker(store)
    claimed = take(store, worker, idempotency_key="k")
    store.finish_jobs([outcome(claimed, S.COMPLETED, result=1)])
    again = put_many(store, [NewJob(task="t.add", idempotency_key="k")])[0]
    assert (again.id, again.state, again.created) == (claimed.id, S.COMPLETED, False)


def test_the_same_key_twice_in_one_batch_writes_one_job(store):
    jobs = [NewJob(task="t.add", args=[i], idempotency_key="dup") for i in range(2)]
    results = put_many(store, jobs)
    assert [r.id for r in results] == [jobs[0].id, jobs[0].id]
    assert [r.created for r in results] == [True, False]
    assert listed(store) == {jobs[0].id}


# -- enqueue_async ------------------------------------------------------------------------------
def test_enqueue_async_writes_refuses_and_deduplicates_like_enqueue(store):
    add_worker(store, queues=("a",))

    async def scenario() -> tuple[list[EnqueueResult], list[EnqueueResult], list[EnqueueResult]]:
        one = await store.enqueue_async([NewJob(task="t.add", queue="a", idempotency_key="x")],
                                        policy=REFUSE, liveness_timeout=LIVE)
        many = await store.enqueue_async([NewJob(task="t.add", queue="a"), NewJob(task="t.add", queue="b")],
                                         policy=RECORD_FAILED, liveness_timeout=LIVE)
        again = await store.enqueue_async([NewJob(task="t.add", queue="a", idempotency_key="x")],
                                          policy=REFUSE, liveness_timeout=LIVE)
        for jobs in ([NewJob(task="t.add", queue="b")], [NewJob(task="t.add", queue="b")] * 2):
            with pytest.raises(NoLiveWorkerError, match="'b'"):
                await store.enqueue_async(jobs, policy=REFUSE, liveness_timeout=LIVE)
        return one, many, again

    one, many, again = asyncio.run(scenario())
    assert one[0].created and one[0].state == S.QUEUED
    assert [r.state for r in many] == [S.QUEUED, S.FAILED]
    assert (again[0].id, again[0].created) == (one[0].id, False)
    assert listed(store) == {one[0].id} | {r.id for r in many}


# -- reading: get_job, get_jobs, list_jobs ------------------------------------------------------
def test_get_job_returns_every_field_as_written(store):
    parent = put(store)
    new = NewJob(task="t.report", args=[1, "two", {"three": [3]}], kwargs={"x": None, "y": 1.5}, queue="reports",
                 priority=7, tenant="acme", max_attempts=5, timeout=12.5, token="chain-1", parent_id=parent,
                 idempotency_key="idem", meta={"source": "test"})
    put_many(store, [new])
    got = store.get_job(new.id)
    assert got is not None
    assert (got.id, got.task, got.args, got.kwargs, got.queue, got.priority, got.tenant) == (
        new.id, "t.report", [1, "two", {"three": [3]}], {"x": None, "y": 1.5}, "reports", 7, "acme")
    assert (got.max_attempts, got.timeout, got.token, got.parent_id, got.idempotency_key, got.meta) == (
        5, 12.5, "chain-1", parent, "idem", {"source": "test"})
    assert (got.state, got.attempts, got.worker_id, got.lease_token, got.deadline) == (S.QUEUED, 0, None, None, None)
    assert (got.result, got.error, got.traceback, got.cancel_requested, got.attempt_log) == (None, None, None, False, [])
    now = datetime.now(UTC)
    assert near(got.created_at, now) and near(got.queued_at, now) and near(got.run_at, now)
    assert near(got.updated_at, now)
    assert got.started_at is None and got.finished_at is None
    assert (got.progress.percent, got.progress.processed, got.progress.failed) == (None, 0, 0)


def test_a_root_job_reads_its_own_id_as_token_and_children_keep_the_chain(store):
    root = put(store)
    assert job(store, root).token == root_token(root)
    child = put(store, token=root_token(root), parent_id=root)
    assert job(store, child).token == root_token(root)
    worker = add_worker(store)
    claimed = {c.id: c for c in store.claim_jobs(worker, ["default"], 10)}
    assert claimed[root].token == claimed[child].token == root_token(root)
    assert listed(store, token=root_token(root)) == {root, child}
    assert listed(store, parent_id=root) == {child}


def test_get_job_scopes_by_tenant_and_unknown_or_malformed_ids_read_as_none(store):
    job_id = put(store, tenant="acme")
    assert store.get_job(job_id, "acme") is not None
    assert store.get_job(job_id, "umbrella") is None
    assert store.get_job(str(uuid.uuid4())) is None
    assert store.get_job("not-a-uuid") is None


def test_get_jobs_reads_many_and_leaves_unknown_ids_out(store):
    made = [put(store, args=[i]) for i in range(3)]
    got = store.get_jobs(made + [str(uuid.uuid4()), "not-a-uuid"])
    assert ids(got) == set(made)
    assert store.get_jobs([]) == []


def test_list_jobs_filters_by_every_field(store):
    worker = add_worker(store, queues=("c",))
    before_all = datetime.now(UTC)
    root = put(store, task="t.one", queue="a", tenant="acme")
    child = put(store, task="t.two", queue="b", tenant="acme", token=root_token(root), parent_id=root)
    middle = datetime.now(UTC)
    other = put(store, task="t.one", queue="b", tenant="umbrella", token="other-chain")
    disk = take(store, worker, queue="c", task="t.two")
    store.finish_jobs([outcome(disk, S.DEAD, error="Disk full: 50% used")])
    count = take(store, worker, queue="c", task="t.two")
    store.finish_jobs([outcome(count, S.DEAD, error="500 errors in a_b")])
    after_all = datetime.now(UTC)

    assert listed(store) == {root, child, other, disk.id, count.id}
    assert listed(store, states=["queued"]) == {root, child, other}
    assert listed(store, states=["dead", "queued"]) == {root, child, other, disk.id, count.id}
    assert listed(store, states=["running"]) == set()
    assert listed(store, queue="b") == {child, other}
    assert listed(store, task="t.one") == {root, other}
    assert listed(store, tenant="acme") == {root, child}
    assert listed(store, token="other-chain") == {other}
    assert listed(store, token=root_token(root)) == {root, child}
    assert listed(store, parent_id=root) == {child}
    assert listed(store, error_contains="50%") == {disk.id}  # % and _ are literal
    assert listed(store, error_contains="a_b") == {count.id}
    assert listed(store, error_contains="DISK FULL") == {disk.id}  # case-insensitive
    assert listed(store, created_after=middle) == {other, disk.id, count.id}
    assert listed(store, created_before=middle) == {root, child}
    assert listed(store, created_after=before_all, created_before=after_all) == listed(store)
    assert listed(store, created_after=after_all) == set()
    assert listed(store, queue="c", states=["dead"], task="t.two", error_contains="disk") == {disk.id}


def test_list_jobs_is_newest_first_and_pages_by_keyset(store):
    made = [put(store, args=[i], queue="even" if i % 2 == 0 else "odd") for i in range(7)]
    pages, before = [], None
    while True:
        page = store.list_jobs(JobFilter(), limit=3, before=before)
        if not page:
            break
        pages.append([j.id for j in page])
        before = page[-1].id
    assert pages == [made[6:3:-1], made[3:0:-1], made[0:1]]
    evens = [j.id for j in store.list_jobs(JobFilter(queue="even"), limit=2, before=made[6])]
    assert evens == [made[4], made[2]]


# -- claiming -----------------------------------------------------------------------------------
def test_claim_takes_highest_priority_first_then_oldest_run_at(store):
    worker = add_worker(store)
    now = datetime.now(UTC)
    low = put(store, priority=-1)
    first_normal = put(store, priority=0, run_at=now - timedelta(seconds=10))
    older_normal = put(store, priority=0, run_at=now - timedelta(seconds=20))
    urgent = put(store, priority=5)
    later_normal = put(store, priority=0)
    claimed = store.claim_jobs(worker, ["default"], 10)
    assert [c.id for c in claimed] == [urgent, older_normal, first_normal, later_normal, low]


def test_claim_respects_the_limit_the_queues_and_their_order(store):
    worker = add_worker(store, queues=("a", "b", "c"))
    in_a = [put(store, queue="a") for _ in range(2)]
    in_b = [put(store, queue="b") for _ in range(2)]
    in_c = put(store, queue="c")
    assert ids(store.claim_jobs(worker, ["a", "b"], 3)) == {*in_a, in_b[0]}
    assert ids(store.claim_jobs(worker, ["c"], 5)) == {in_c}
    assert ids(store.claim_jobs(worker, ["a", "b", "c"], 5)) == {in_b[1]}
    assert store.claim_jobs(worker, ["a", "b", "c"], 5) == []


def test_claim_leases_the_job(store):
    worker = add_worker(store)
    job_id = put(store, args=[1, 2], kwargs={"k": "v"}, tenant="acme", max_attempts=4, timeout=60)
    (claimed,) = store.claim_jobs(worker, ["default"], 1)
    assert (claimed.id, claimed.task, claimed.queue, claimed.tenant, claimed.args, claimed.kwargs) == (
        job_id, "t.add", "default", "acme", [1, 2], {"k": "v"})
    assert (claimed.attempts, claimed.max_attempts, claimed.timeout, claimed.token) == (1, 4, 60, root_token(job_id))
    assert claimed.lease_token and near(claimed.started_at, datetime.now(UTC))
    leased = job(store, job_id)
    assert (leased.state, leased.worker_id, leased.lease_token, leased.attempts) == (
        S.RUNNING, worker, claimed.lease_token, 1)
    assert leased.started_at == claimed.started_at
    assert leased.deadline is not None and near(leased.deadline, claimed.started_at + timedelta(seconds=60), 0.01)
    untimed = take(store, worker)
    assert job(store, untimed.id).deadline is None


def test_claim_skips_scheduled_jobs_and_paused_queues(store):
    worker = add_worker(store, queues=("default", "held"))
    put(store, run_at=datetime.now(UTC) + timedelta(hours=1))
    held = put(store, queue="held")
    store.set_queue_paused("held", True)
    assert store.claim_jobs(worker, ["default", "held"], 10) == []
    assert state(store, held) == S.QUEUED
    store.set_queue_paused("held", False)
    assert ids(store.claim_jobs(worker, ["default", "held"], 10)) == {held}


def test_concurrent_claims_never_hand_out_a_job_twice(store):
    made = {put(store, args=[i]) for i in range(40)}
    workers = [add_worker(store) for _ in range(4)]
    got: dict[str, list[str]] = {w: [] for w in workers}
    start = threading.Barrier(len(workers))

    def claim_all(worker: str) -> None:
        start.wait(10)
        while batch := store.claim_jobs(worker, ["default"], 3):
            got[worker] += [c.id for c in batch]

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    everything = [i for claimed in got.values() for i in claimed]
    assert sorted(everything) == sorted(made)  # each job exactly once
    for worker, claimed in got.items():
        assert all(job(store, i).worker_id == worker for i in claimed)


# -- finishing ----------------------------------------------------------------------------------
def test_finish_completed_stores_the_result_and_releases_the_lease(store):
    worker = add_worker(store)
    claimed = take(store, worker)
    assert store.finish_jobs([outcome(claimed, S.COMPLETED, result={"sum": 3})]) == [claimed.id]
    done = job(store, claimed.id)
    assert (done.state, done.result, done.error, done.lease_token, done.deadline) == (
        S.COMPLETED, {"sum": 3}, None, None, None)
    assert near(done.finished_at, datetime.now(UTC)) and done.attempts == 1


def test_finish_scheduled_is_a_retry_after_the_delay_with_the_attempt_logged(store):
    worker = add_worker(store)
    claimed = take(store, worker)
    failed = outcome(claimed, S.SCHEDULED, error="boom", traceback="Traceback...", retry_delay=3600,
                     attempt_outcome="failed", worker_id=worker)
    assert store.finish_jobs([failed]) == [claimed.id]
    retry = job(store, claimed.id)
    assert (retry.state, retry.attempts, retry.error, retry.traceback, retry.lease_token) == (
        S.SCHEDULED, 1, "boom", "Traceback...", None)
    assert near(retry.run_at, datetime.now(UTC) + timedelta(seconds=3600), 10)
    assert retry.finished_at is None
    (entry,) = retry.attempt_log
    assert (entry.attempt, entry.worker_id, entry.outcome, entry.error, entry.traceback) == (
        1, worker, "failed", "boom", "Traceback...")
    assert entry.started_at == claimed.started_at and near(entry.finished_at, datetime.now(UTC))
    assert store.claim_jobs(worker, ["default"], 1) == []
    assert store.stage_scheduled() == 0


def test_finish_queued_hands_the_job_back_without_counting_the_attempt(store):
    worker = add_worker(store)
    claimed = take(store, worker)
    assert store.finish_jobs([outcome(claimed, S.QUEUED)]) == [claimed.id]
    back = job(store, claimed.id)
    assert (back.state, back.attempts, back.lease_token, back.finished_at) == (S.QUEUED, 0, None, None)
    (again,) = store.claim_jobs(worker, ["default"], 1)
    assert (again.id, again.attempts) == (claimed.id, 1) and again.lease_token != claimed.lease_token


def test_finish_dead_and_cancelled_end_the_job(store):
    worker = add_worker(store)
    dead, cancelled = take(store, worker), take(store, worker)
    done = store.finish_jobs([outcome(dead, S.DEAD, error="bad input", attempt_outcome="failed"),
                              outcome(cancelled, S.CANCELLED)])
    assert sorted(done) == sorted([dead.id, cancelled.id])
    assert state(store, dead.id) == S.DEAD and state(store, cancelled.id) == S.CANCELLED
    assert job(store, dead.id).error == "bad input" and len(job(store, dead.id).attempt_log) == 1
    assert all(job(store, i).finished_at is not None for i in (dead.id, cancelled.id))


def test_loop_batches_claim_and_finish_like_the_stores_own_calls(store, engine):
    """A worker's claims and completions awaited on its event loop (PostgreSQL) behave like the
    store's claim_jobs / finish_jobs; an engine without them answers None."""
    batches = store.loop_batches()
    if engine == "sqlite":
        assert batches is None
        return
    worker = add_worker(store)
    ids = [put(store, args=[i], kwargs={"k": "v"}, timeout=30) for i in range(3)]

    async def claim_then_finish() -> tuple[list[ClaimedJob], list[str], list[str]]:
        try:
            claimed = await batches.claim_jobs(worker, ["default"], 10)
            done = await batches.finish_jobs([
                outcome(claimed[0], S.COMPLETED, result={"ok": "é"}),
                outcome(claimed[1], S.SCHEDULED, error='say "hi"\\', traceback="tb", retry_delay=3600,
                        attempt_outcome="failed", worker_id=worker),
                outcome(claimed[2], S.COMPLETED),
            ])
            again = await batches.finish_jobs([outcome(claimed[0], S.COMPLETED, result=2)])  # stale now
            with pytest.raises(ValueError, match="emits"):  # a stage's emits: the store's own call
                await batches.finish_jobs([outcome(claimed[0], S.COMPLETED, emits=["item"])])
            return claimed, sorted(done), again
        finally:
            await batches.close()

    claimed, done, again = asyncio.run(claim_then_finish())
    assert sorted(c.id for c in claimed) == sorted(ids) and done == sorted(ids) and again == []
    first = claimed[0]
    assert (first.queue, first.kwargs, first.attempts, first.timeout) == ("default", {"k": "v"}, 1, 30)
    assert first.started_at == job(store, first.id).started_at and first.lease_token
    assert job(store, first.id).result == {"ok": "é"} and job(store, claimed[2].id).result is None
    retry = job(store, claimed[1].id)
    assert (retry.state, retry.error, retry.traceback) == (S.SCHEDULED, 'say "hi"\\', "tb")
    assert [a.error for a in retry.attempt_log] == ['say "hi"\\']


def test_a_stale_lease_changes_nothing(store):
    worker = add_worker(store)
    first = take(store, worker)
    store.finish_jobs([outcome(first, S.QUEUED)])  # handed back: that lease is void
    (second,) = store.claim_jobs(worker, ["default"], 1)
    before = job(store, first.id).to_dict()
    wrong = Outcome(job_id=first.id, lease_token=str(uuid.uuid4()), state=S.COMPLETED, result=1)
    assert store.finish_jobs([outcome(first, S.COMPLETED, result=1), wrong]) == []
    assert not store.update_progress(first.id, first.lease_token, percent=50)
    assert not store.extend_deadline(first.id, first.lease_token, 60)
    assert job(store, first.id).to_dict() == before
    other = take(store, worker)
    assert store.finish_jobs([outcome(other, S.COMPLETED, result=2), outcome(first, S.DEAD, error="x")]) == [other.id]
    assert store.finish_jobs([outcome(second, S.COMPLETED, result=3)]) == [second.id]
    assert job(store, first.id).result == 3
    assert store.finish_jobs([outcome(second, S.COMPLETED, result=4)]) == []  # already finished
    assert job(store, first.id).result == 3
    assert store.finish_jobs([]) == []


def test_the_attempt_log_keeps_every_failed_attempt(store):
    worker = add_worker(store)
    first = take(store, worker, max_attempts=2)
    store.finish_jobs([outcome(first, S.SCHEDULED, error="one", retry_delay=0, worker_id=worker)])
    assert store.stage_scheduled() == 1
    (second,) = store.claim_jobs(worker, ["default"], 1)
    store.finish_jobs([outcome(second, S.DEAD, error="two", worker_id=worker)])
    log = job(store, first.id).attempt_log
    assert [(a.attempt, a.error) for a in log] == [(1, "one"), (2, "two")]


def test_completions_count_toward_throughput(store):
    worker = add_worker(store, queues=("a",))
    for _ in range(3):
        store.finish_jobs([outcome(take(store, worker, queue="a"), S.COMPLETED, result=None)])
    store.finish_jobs([outcome(take(store, worker, queue="a"), S.DEAD, error="x")])
    (stats,) = [s for s in store.queue_stats(LIVE) if s.name == "a"]
    assert (stats.completed_last_minute, stats.completed_last_hour) == (3, 3)


def test_task_metric_rows_add_up_ended_attempts_per_task_queue_and_chart_point(store):
    worker = add_worker(store, queues=("m",))
    store.finish_jobs([outcome(take(store, worker, queue="m", task="t.m"), S.COMPLETED, result=None)])
    store.finish_jobs([outcome(take(store, worker, queue="m", task="t.m"), S.DEAD, error="x")])
    store.finish_jobs([outcome(take(store, worker, queue="m", task="t.m"), S.QUEUED)])  # handed back: not an attempt
    since = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    (row,) = [r for r in store.task_metric_rows(since, 60) if r["task"] == "t.m"]
    assert (row["queue"], row["succeeded"], row["failed"]) == ("m", 1, 1)
    assert row["t"] % 60 == 0 and since - 60 <= row["t"] <= datetime.now(UTC).timestamp()
    assert sum(row[f"d{i:02d}"] for i in range(15)) == 2 and row["duration_max"] >= 0
    assert row["pickup_n"] == 2 and row["pickup_max"] >= 0
    assert store.task_metric_rows(since, 60, tenant="someone-else") == []
    assert [r for r in store.task_metric_rows(datetime.now(UTC).timestamp() + 120, 60) if r["task"] == "t.m"] == []


# -- finding a job by part of its id --------------------------------------------------------------
def test_find_job_ids_takes_the_start_or_the_tail_of_an_id_newest_first(store):
    made = sorted((r.id for r in put_many(store, [NewJob(task="t.add") for _ in range(3)])), reverse=True)
    for job_id in made:
        for tail in (job_id[-4:], job_id[-8:], job_id[-12:], job_id[-13:], job_id[-20:], job_id):
            assert job_id in store.find_job_ids(tail, limit=3), tail
        assert store.find_job_ids(job_id[-12:]) == [job_id]
        start = job_id[:-1]  # all but its last character (ids made in one batch may share it)
        found = store.find_job_ids(start, limit=10)
        assert job_id in found and all(i.startswith(start) for i in found)
    # Every job made in the same minute shares its first characters (the time): all, newest first.
    assert store.find_job_ids(made[0][:4], limit=10) == made
    assert store.find_job_ids(made[0][:9], limit=10) == made  # the dash where an id has one
    assert store.find_job_ids(made[0][:4], limit=2) == made[:2]
    # Nothing matches a fragment no id can hold: a dash out of place, the middle, other characters.
    assert store.find_job_ids(made[0][:4] + "-") == []
    assert store.find_job_ids("9-" + made[0][-4:]) == []
    for junk in ("", "%", "_" * 8, made[0].upper(), made[0] + "0", "g" * 8):
        assert store.find_job_ids(junk) == [], junk


# -- progress and deadlines under a lease -------------------------------------------------------
def test_update_progress_stores_progress_and_merges_meta_while_leased(store):
    worker = add_worker(store)
    claimed = take(store, worker, meta={"keep": 1, "change": "old"})
    assert store.update_progress(claimed.id, claimed.lease_token, percent=40.5, processed=4, failed=1,
                                 meta={"change": "new", "added": [1]})
    running = job(store, claimed.id)
    assert (running.progress.percent, running.progress.processed, running.progress.failed) == (40.5, 4, 1)
    assert running.meta == {"keep": 1, "change": "new", "added": [1]}
    assert store.update_progress(claimed.id, claimed.lease_token, processed=9)  # the rest stays
    running = job(store, claimed.id)
    assert (running.progress.percent, running.progress.processed, running.progress.failed) == (40.5, 9, 1)
    assert running.meta == {"keep": 1, "change": "new", "added": [1]}
    store.finish_jobs([outcome(claimed, S.COMPLETED, result=None)])
    assert not store.update_progress(claimed.id, claimed.lease_token, percent=100)
    assert job(store, claimed.id).progress.percent == 40.5


def test_update_progress_meta_is_a_shallow_update_that_keeps_nulls(store):
    worker = add_worker(store)
    claimed = take(store, worker, meta={"nested": {"x": 1}, "gone": 1})
    assert store.update_progress(claimed.id, claimed.lease_token, meta={"nested": {"y": 2}, "gone": None})
    assert job(store, claimed.id).meta == {"nested": {"y": 2}, "gone": None}


def test_extend_deadline_moves_the_deadline_and_the_timeout_while_leased(store):
    worker = add_worker(store)
    claimed = take(store, worker, timeout=10)
    before = job(store, claimed.id).deadline
    assert store.extend_deadline(claimed.id, claimed.lease_token, 50)
    extended = job(store, claimed.id)
    assert extended.timeout == 60
    assert near(extended.deadline, before + timedelta(seconds=50), 1)
    untimed = take(store, worker)
    assert store.extend_deadline(untimed.id, untimed.lease_token, 30)
    assert job(store, untimed.id).timeout == 30
    assert near(job(store, untimed.id).deadline, datetime.now(UTC) + timedelta(seconds=30))
    store.finish_jobs([outcome(claimed, S.COMPLETED, result=None)])
    assert not store.extend_deadline(claimed.id, claimed.lease_token, 50)
    assert not store.extend_deadline(str(uuid.uuid4()), claimed.lease_token, 50)
    assert job(store, claimed.id).deadline is None


# -- operator actions: cancel, retry, delete, requeue, purge -------------------------------------
def test_cancel_ends_waiting_jobs_at_once_and_asks_running_ones_to_stop(store):
    worker = add_worker(store)
    queued = put(store)
    scheduled = put(store, run_at=datetime.now(UTC) + timedelta(hours=1))
    running = take(store, worker, queue="busy")
    assert store.cancel_job(queued) == S.CANCELLED and store.cancel_job(scheduled) == S.CANCELLED
    for job_id in (queued, scheduled):
        cancelled = job(store, job_id)
        assert cancelled.state == S.CANCELLED and cancelled.finished_at is not None
    assert store.claim_jobs(worker, ["default"], 5) == []
    assert store.cancel_requested_jobs(worker) == []
    assert store.cancel_job(running.id) == S.RUNNING
    asked = job(store, running.id)
    assert (asked.state, asked.cancel_requested, asked.lease_token) == (S.RUNNING, True, running.lease_token)
    assert store.cancel_requested_jobs(worker) == [running.id]
    assert store.cancel_requested_jobs("someone-else") == []
    assert store.finish_jobs([outcome(running, S.CANCELLED)]) == [running.id]
    assert (state(store, running.id), job(store, running.id).cancel_requested) == (S.CANCELLED, False)
    assert store.cancel_requested_jobs(worker) == []


def test_cancel_retry_and_delete_name_unknown_jobs_and_other_tenants_jobs(store):
    job_id = put(store, tenant="acme")
    worker = add_worker(store)
    done = take(store, worker, tenant="acme", queue="q")
    store.finish_jobs([outcome(done, S.COMPLETED, result=None)])
    for action in (store.cancel_job, store.retry_job, store.delete_job):
        for target, tenant in ((str(uuid.uuid4()), None), ("not-a-uuid", None), (job_id, "umbrella"),
                               (done.id, "umbrella")):
            with pytest.raises(JobNotFoundError, match="No job with id"):
                action(target, tenant)
    assert (state(store, job_id), state(store, done.id)) == (S.QUEUED, S.COMPLETED)
    assert store.cancel_job(job_id, "acme") == S.CANCELLED


def test_retry_puts_a_finished_job_back_with_an_attempt_to_spare(store):
    worker = add_worker(store)
    spent = take(store, worker, max_attempts=1)
    store.finish_jobs([outcome(spent, S.DEAD, error="x")])
    store.retry_job(spent.id)
    again = job(store, spent.id)
    assert (again.state, again.finished_at, again.max_attempts, again.attempts) == (S.QUEUED, None, 2, 1)
    assert near(again.run_at, datetime.now(UTC)) and near(again.queued_at, datetime.now(UTC))
    (claimed,) = store.claim_jobs(worker, ["default"], 1)
    assert (claimed.id, claimed.attempts) == (spent.id, 2)


def test_retry_refuses_jobs_that_have_not_finished(store):
    worker = add_worker(store)
    for job_id in (put(store), put(store, run_at=datetime.now(UTC) + timedelta(hours=1)),
                   take(store, worker, queue="busy").id):
        before = job(store, job_id).to_dict()
        with pytest.raises(InvalidTransitionError, match=f"Job {job_id} is {before['state']}; only finished"):
            store.retry_job(job_id)
        assert job(store, job_id).to_dict() == before


def test_delete_removes_only_finished_jobs(store):
    worker = add_worker(store)
    done = take(store, worker)
    store.finish_jobs([outcome(done, S.COMPLETED, result=None)])
    store.delete_job(done.id)
    assert store.get_job(done.id) is None
    with pytest.raises(JobNotFoundError):
        store.delete_job(done.id)
    for job_id in (put(store), put(store, run_at=datetime.now(UTC) + timedelta(hours=1)),
                   take(store, worker, queue="busy").id):
        before = job(store, job_id).to_dict()
        with pytest.raises(InvalidTransitionError, match="only finished jobs can be deleted"):
            store.delete_job(job_id)
        assert job(store, job_id).to_dict() == before


def finished_mix(store: Store) -> dict[str, str]:
    """One job in each finished state on queue 'a', and a dead one on queue 'b': name -> id."""
    worker = add_worker(store, queues=("a", "b"))
    made = {"failed": put(store, RECORD_FAILED, queue="unserved")}
    for name, end in (("dead", S.DEAD), ("completed", S.COMPLETED), ("cancelled", S.CANCELLED)):
        claimed = take(store, worker, queue="a")
        store.finish_jobs([outcome(claimed, end, error="boom" if end == S.DEAD else None)])
        made[name] = claimed.id
    other = take(store, worker, queue="b")
    store.finish_jobs([outcome(other, S.DEAD, error="other")])
    made["dead-b"] = other.id
    made["queued"] = put(store, queue="a")
    return made


def test_requeue_dead_requeues_the_dead_letters_matching_the_filter(store):
    made = finished_mix(store)
    assert store.requeue_dead(JobFilter(queue="nothing-here")) == 0
    assert store.requeue_dead(JobFilter(queue="a")) == 1
    assert state(store, made["dead"]) == S.QUEUED and job(store, made["dead"]).finished_at is None
    assert store.requeue_dead(JobFilter(error_contains="No live worker")) == 1
    assert state(store, made["failed"]) == S.QUEUED
    assert {n: state(store, i) for n, i in made.items() if n in ("completed", "cancelled", "dead-b")} == {
        "completed": S.COMPLETED, "cancelled": S.CANCELLED, "dead-b": S.DEAD}
    assert store.requeue_dead(JobFilter()) == 1  # dead-b
    assert store.requeue_dead(JobFilter()) == 0


def test_purge_dead_deletes_the_dead_letters_matching_the_filter(store):
    made = finished_mix(store)
    assert store.purge_dead(JobFilter(queue="b")) == 1
    assert store.get_job(made["dead-b"]) is None
    assert store.purge_dead(JobFilter()) == 2  # dead and failed
    assert store.get_jobs(list(made.values())) == store.get_jobs(
        [made["completed"], made["cancelled"], made["queued"]])
    assert len(store.get_jobs(list(made.values()))) == 3
    assert store.purge_dead(JobFilter()) == 0


def test_running_jobs_lists_a_workers_leases_older_than_the_given_age(store):
    worker, other = add_worker(store), add_worker(store)
    mine = take(store, worker)
    take(store, other)
    wait_until_past(mine.started_at)
    assert store.running_jobs(worker, 0) == [(mine.id, mine.lease_token)]
    assert store.running_jobs(worker, 3600) == []
    store.finish_jobs([outcome(mine, S.COMPLETED, result=None)])
    assert store.running_jobs(worker, 0) == []


def test_stage_scheduled_queues_due_jobs_up_to_the_limit(store):
    worker = add_worker(store)
    put(store, run_at=datetime.now(UTC) + timedelta(hours=1))
    due = []
    for _ in range(3):
        claimed = take(store, worker)
        store.finish_jobs([outcome(claimed, S.SCHEDULED, error="retry me", retry_delay=0)])
        due.append(claimed.id)
    assert store.stage_scheduled(limit=2) == 2
    assert store.stage_scheduled(limit=2) == 1
    assert store.stage_scheduled() == 0
    assert all(state(store, i) == S.QUEUED and job(store, i).queued_at is not None for i in due)
    assert len(listed(store, states=["scheduled"])) == 1


# -- workers and queues -------------------------------------------------------------------------
def test_a_registered_worker_is_listed_alive_and_serves_its_queues(store):
    worker = add_worker(store, queues=("a", "b"))
    (info,) = store.list_workers(LIVE)
    assert (info.id, info.hostname, info.pid, info.queues, info.concurrency, info.version) == (
        worker, "host", 4242, ["a", "b"], 3, "9.9")
    assert (info.state, info.desired_state, info.alive, info.current_jobs) == ("running", None, True, [])
    assert near(info.started_at, datetime.now(UTC)) and 0 <= info.heartbeat_age < 5
    assert store.live_worker_count("a", LIVE) == (1, 0) and store.live_worker_count("c", LIVE) == (0, 0)
    claimed = take(store, worker, queue="a")
    assert store.list_workers(LIVE)[0].current_jobs == [claimed.id]


def test_heartbeat_reports_state_and_counters_and_returns_the_desired_state(store):
    worker = add_worker(store)
    assert store.heartbeat(worker, state="paused", jobs_in_flight=2, processed=10, failed=1) is None
    (info,) = store.list_workers(LIVE)
    assert (info.state, info.jobs_in_flight, info.processed, info.failed) == ("paused", 2, 10, 1)
    assert store.live_worker_count("default", LIVE) == (0, 1)
    assert store.set_worker_desired_state(worker, "resume")
    assert store.heartbeat(worker, state="running", jobs_in_flight=0, processed=11, failed=1) == "resume"
    assert store.live_worker_count("default", LIVE) == (1, 0)
    assert store.heartbeat("never-registered", state="running", jobs_in_flight=0, processed=0, failed=0) == "unregistered"
    assert not store.set_worker_desired_state("never-registered", "pause")


def test_a_stopped_worker_is_not_alive_and_takes_no_orders(store):
    worker = add_worker(store)
    store.stop_worker(worker)
    (info,) = store.list_workers(LIVE)
    assert (info.state, info.alive, info.jobs_in_flight) == ("stopped", False, 0)
    assert store.live_worker_count("default", LIVE) == (0, 0)
    assert not store.set_worker_desired_state(worker, "pause")
    wait_for(lambda: store.list_workers(LIVE, include_dead_since=0.05) == [],
             message="the stopped worker to leave the recent list")


def test_a_silent_worker_stops_being_alive_after_the_liveness_timeout(store):
    add_worker(store)
    wait_for(lambda: not store.list_workers(0.2)[0].alive, message="the worker to look dead under 0.2 s")
    assert store.list_workers(0.2)[0].heartbeat_age >= 0.2
    assert store.list_workers(LIVE)[0].alive


def test_queue_stats_counts_states_workers_pauses_and_stranded_queues(store):
    worker = add_worker(store, queues=("served",))
    take(store, worker, queue="served")
    put(store, queue="served")
    put(store, queue="served", run_at=datetime.now(UTC) + timedelta(hours=1))
    put(store, RECORD_FAILED, queue="orphan", tenant="acme")
    put(store, queue="orphan", tenant="acme")
    store.set_queue_paused("idle", True)
    stats = {s.name: s for s in store.queue_stats(LIVE)}
    assert set(stats) == {"served", "orphan", "idle"}
    assert stats["served"].counts == {"scheduled": 1, "queued": 1, "running": 1, "dead": 0, "failed": 0}
    assert (stats["served"].live_workers, stats["served"].stranded, stats["served"].paused) == (1, False, False)
    assert stats["served"].oldest_ready_age is not None and 0 <= stats["served"].oldest_ready_age < 5
    assert stats["orphan"].counts == {"scheduled": 0, "queued": 1, "running": 0, "dead": 0, "failed": 1}
    assert (stats["orphan"].live_workers, stats["orphan"].stranded) == (0, True)
    assert (stats["idle"].paused, stats["idle"].counts["queued"], stats["idle"].oldest_ready_age) == (True, 0, None)
    acme = {s.name: s.counts for s in store.queue_stats(LIVE, tenant="acme") if any(s.counts.values())}
    assert acme == {"orphan": {"scheduled": 0, "queued": 1, "running": 0, "dead": 0, "failed": 1}}
    store.set_queue_paused("idle", False)
    assert not {s.name: s for s in store.queue_stats(LIVE)}["idle"].paused


# -- maintenance --------------------------------------------------------------------------------
def test_maintenance_rescues_the_jobs_of_a_dead_worker_and_leaves_live_ones(store):
    live, dying = add_worker(store), add_worker(store)
    kept = take(store, live, max_attempts=3)
    orphan = take(store, dying, max_attempts=3)
    spent = take(store, dying, max_attempts=1)

    def pass_after_dying_goes_quiet() -> MaintenanceReport | None:
        store.heartbeat(live, state="running", jobs_in_flight=1, processed=0, failed=0)
        report = maintain(store, liveness_timeout=0.3)
        return report if report.rescued else None

    report = wait_for(pass_after_dying_goes_quiet, message="the silent worker's jobs to be rescued")
    assert sorted(report.rescued) == sorted([(orphan.id, "queued"), (spent.id, "dead")])
    assert report.dead_workers == [dying]
    assert state(store, kept.id) == S.RUNNING
    rescued = job(store, orphan.id)
    assert (rescued.attempts, rescued.lease_token) == (1, None)
    assert f"Worker {dying} stopped heartbeating during attempt 1" in rescued.error
    assert [(a.attempt, a.worker_id, a.outcome) for a in rescued.attempt_log] == [(1, dying, "orphaned")]
    assert job(store, spent.id).finished_at is not None
    assert store.finish_jobs([outcome(orphan, S.COMPLETED, result=1)]) == []  # its lease is void
    (again,) = store.claim_jobs(live, ["default"], 1)
    assert (again.id, again.attempts) == (orphan.id, 2)
    assert {w.id: (w.state, w.alive) for w in store.list_workers(LIVE)}[dying] == ("dead", False)
    store.heartbeat(live, state="running", jobs_in_flight=1, processed=0, failed=0)  # 0.3 s passes fast under load
    assert maintain(store, liveness_timeout=0.3).rescued == []


def test_maintenance_rescues_jobs_a_stopped_worker_left_behind(store):
    worker = add_worker(store)
    claimed = take(store, worker)
    store.stop_worker(worker)
    assert maintain(store).rescued == [(claimed.id, "queued")]


def test_a_worker_declared_dead_must_register_again_before_it_counts(store):
    worker = add_worker(store)
    wait_for(lambda: maintain(store, liveness_timeout=0.2).dead_workers == [worker], message="declared dead")
    (info,) = store.list_workers(LIVE)
    assert (info.state, info.detected_by, info.alive) == ("dead", "heartbeat expired", False)
    assert info.stopped_at is not None and near(info.stopped_at, datetime.now(UTC))
    # A late heartbeat does not revive it: it is told, hands back its jobs and registers again.
    assert store.heartbeat(worker, state="running", jobs_in_flight=0, processed=0, failed=0) == "dead"
    assert store.live_worker_count("default", LIVE) == (0, 0)
    add_worker(store, worker_id=worker)
    (info,) = store.list_workers(LIVE)
    assert (info.state, info.detected_by, info.stopped_at, info.alive) == ("running", None, None, True)
    assert store.heartbeat(worker, state="running", jobs_in_flight=0, processed=0, failed=0) is None


# -- worker locks (conveyor/store/worker_locks.py) ------------------------------------------------
def probe_until(store: Store, condition: Callable[[MaintenanceReport], bool], timeout: float = 10) -> MaintenanceReport:
    def probed() -> MaintenanceReport | None:
        report = store.detect_exited_workers()
        return report if report is not None and condition(report) else None

    return wait_for(probed, timeout=timeout, interval=0.1, message="the probe's verdict")  # type: ignore[no-any-return]


HOLD_LOCK = """
import sys, time
from conveyor.store import open_store
lock = open_store(sys.argv[1]).hold_worker_lock(sys.argv[2])
print(lock.attach(), flush=True)
time.sleep(600)
"""


def lock_in_a_process(store: Store, worker: str) -> subprocess.Popen[str]:
    """A process that holds the worker's lock until it is killed, as a worker does."""
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, store.url, worker], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert child.stdout is not None and child.stdout.readline().strip() == "running"
    return child


def test_a_worker_whose_process_dies_is_declared_exited_and_its_jobs_rescued(store):
    worker, other = add_worker(store), add_worker(store)
    child = lock_in_a_process(store, worker)
    other_lock = store.hold_worker_lock(other)
    assert other_lock.attach() == "running"
    orphan = take(store, worker, max_attempts=3)
    spent = take(store, worker, max_attempts=1)
    kept = take(store, other)
    for _ in range(4):  # held locks: nobody is declared dead, however often the probe runs
        assert store.detect_exited_workers() == MaintenanceReport()
    child.kill()
    child.wait()
    report = probe_until(store, lambda r: bool(r.dead_workers))
    assert report.dead_workers == [worker]
    assert sorted(report.rescued) == sorted([(orphan.id, "queued"), (spent.id, "dead")])
    rescued = job(store, orphan.id)
    assert f"Worker {worker} exited (its lock was released) during attempt 1" in rescued.error
    assert [(a.attempt, a.outcome) for a in rescued.attempt_log] == [(1, "orphaned")]
    assert store.finish_jobs([outcome(orphan, S.COMPLETED, result=1)]) == []  # its lease is void
    assert state(store, kept.id) == S.RUNNING
    infos = {w.id: w for w in store.list_workers(LIVE)}
    assert (infos[worker].state, infos[worker].detected_by) == ("dead", "exited")
    assert infos[worker].stopped_at is not None
    assert (infos[other].state, infos[other].detected_by) == ("running", None)
    assert store.detect_exited_workers() == MaintenanceReport()
    other_lock.release()


def test_a_lock_is_recorded_only_for_a_registered_worker(store):
    lock = store.hold_worker_lock("never-registered")
    try:
        assert lock.attach() is None
    finally:
        lock.release()


def test_maintenance_times_out_jobs_past_their_deadline(store):
    worker = add_worker(store)
    retried = take(store, worker, timeout=0.05, max_attempts=2)
    final = take(store, worker, timeout=0.05, max_attempts=1)
    patient = take(store, worker, timeout=3600)
    wait_until_past(job(store, final.id).deadline)
    report = maintain(store, timeout_grace=0)
    assert sorted(report.timed_out) == sorted([(retried.id, "scheduled"), (final.id, "dead")])
    later = job(store, retried.id)
    assert "timed out after 0.05 s" in later.error and later.run_at > datetime.now(UTC)
    assert [(a.attempt, a.outcome) for a in later.attempt_log] == [(1, "timed_out")]
    assert state(store, patient.id) == S.RUNNING
    assert store.finish_jobs([outcome(retried, S.COMPLETED, result=None)]) == []


def test_maintenance_reports_stranded_queues_and_expires_their_old_jobs(store):
    add_worker(store, queues=("served",))
    put(store, queue="served")
    stale = put(store, queue="orphan")
    wait_until_past(job(store, stale).queued_at, 1.0)  # older than the deadline below, with room for a slow machine
    fresh = put(store, queue="orphan")
    report = maintain(store)
    assert (report.stranded_queues, report.expired) == (["orphan"], [])
    assert [s.name for s in store.queue_stats(LIVE) if s.stranded] == ["orphan"]
    report = maintain(store, stranded_deadline=0.6)
    assert report.expired == [stale]
    expired = job(store, stale)
    assert expired.state == S.DEAD and "with no live worker" in expired.error and "'orphan'" in expired.error
    assert state(store, fresh) == S.QUEUED


def test_maintenance_prunes_finished_jobs_past_their_retention(store):
    worker = add_worker(store)
    done = [take(store, worker) for _ in range(3)]
    store.finish_jobs([outcome(c, S.COMPLETED, result=None) for c in done])
    dead = take(store, worker)
    store.finish_jobs([outcome(dead, S.DEAD, error="x")])
    waiting = put(store)
    wait_until_past(job(store, dead.id).finished_at)
    assert maintain(store).pruned == 0  # a day's retention keeps everything
    assert maintain(store, result_ttl=0, prune_batch=2).pruned == 2
    assert maintain(store, result_ttl=0).pruned == 1
    assert {j.id for j in store.get_jobs([c.id for c in done])} == set()
    assert state(store, dead.id) == S.DEAD
    assert maintain(store, failure_ttl=0).pruned == 1
    assert listed(store) == {waiting}


def test_maintenance_says_when_the_next_heartbeat_expires(store):
    assert maintain(store).next_expiry is None
    add_worker(store)
    expiry = maintain(store).next_expiry
    assert expiry is not None and LIVE - 5 < expiry <= LIVE


def test_concurrent_maintenance_passes_rescue_each_job_once(database_url):
    from conveyor.store import open_store

    stores = [open_store(database_url) for _ in range(4)]
    try:
        store = stores[0]
        store.migrate()
        worker = add_worker(store)
        orphans = {take(store, worker).id for _ in range(20)}
        store.stop_worker(worker)
        reports: list[MaintenanceReport | None] = []
        start = threading.Barrier(len(stores))

        def run(one: Store) -> None:
            start.wait(10)
            reports.append(one.run_maintenance(liveness_timeout=LIVE, timeout_grace=3600, stranded_deadline=0,
                                               result_ttl=86400, failure_ttl=86400, prune_batch=1000))

        threads = [threading.Thread(target=run, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        rescued = [job_id for r in reports if r is not None for job_id, _ in r.rescued]
        assert len(reports) == len(stores) and any(r is not None for r in reports)
        assert sorted(rescued) == sorted(orphans)
        assert all(len(job(store, i).attempt_log) == 1 for i in orphans)
    finally:
        for s in stores:
            s.close()


# -- API keys -----------------------------------------------------------------------------------
def test_api_keys_are_created_found_by_hash_listed_and_revoked(store):
    store.create_api_key("k1", "hash-1", "acme", "admin", "ci")
    store.create_api_key("k2", "hash-2", "umbrella", "reader", None)
    found = store.find_api_key("hash-1")
    assert found is not None
    assert (found.id, found.tenant, found.role, found.name, found.revoked_at) == ("k1", "acme", "admin", "ci", None)
    assert near(found.created_at, datetime.now(UTC))
    assert store.find_api_key("no-such-hash") is None
    assert [k.id for k in store.list_api_keys()] == ["k1", "k2"]
    assert store.revoke_api_key("k1")
    assert not store.revoke_api_key("k1") and not store.revoke_api_key("no-such-key")
    assert store.find_api_key("hash-1") is None and store.find_api_key("hash-2") is not None
    revoked = {k.id: k.revoked_at for k in store.list_api_keys()}
    assert near(revoked["k1"], datetime.now(UTC)) and revoked["k2"] is None


def test_a_duplicate_api_key_is_refused_with_a_conveyor_error(store):
    store.create_api_key("k1", "hash-1", "acme", "admin", None)
    with pytest.raises(ConveyorError):
        store.create_api_key("k1", "hash-other", "acme", "admin", None)
    assert [k.id for k in store.list_api_keys()] == ["k1"]


# -- events and wake-ups ------------------------------------------------------------------------
class Feed:
    """What a subscribed listener has been told: (state, job id) pairs, in arrival order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event_state: str, job_ids: list[str]) -> None:
        with self.lock:
            self.seen += [(event_state, i) for i in job_ids]

    def states_of(self, job_id: str) -> list[str]:
        with self.lock:
            return [s for s, i in self.seen if i == job_id]

    def wait(self, job_id: str, states: set[str], what: str, timeout: float = 10) -> None:
        wait_for(lambda: states & set(self.states_of(job_id)), timeout=timeout, message=f"an event for {what}")


def subscribed(store: Store) -> tuple[Feed, Callable[[], None]]:
    """A listener that is known to be receiving: events sent before a LISTEN is in place are
    lost, so probe jobs are enqueued until one is announced."""
    feed = Feed()
    unsubscribe = store.subscribe_events(feed)

    def probe_seen() -> bool:
        probe = put(store, queue="probe")
        return wait_for_quietly(lambda: feed.states_of(probe), 0.5)

    wait_for(probe_seen, timeout=15, message="the event feed to start")
    return feed, unsubscribe


def wait_for_quietly(condition: Callable[[], Any], timeout: float) -> bool:
    try:
        wait_for(condition, timeout=timeout)
        return True
    except AssertionError:
        return False


FINISHED = {"finished", "completed", "dead", "cancelled"}


def test_events_announce_every_job_change(store):
    feed, unsubscribe = subscribed(store)
    try:
        worker = add_worker(store)
        job_id = put(store)
        feed.wait(job_id, {"queued"}, "the new job")
        later = put(store, run_at=datetime.now(UTC) + timedelta(hours=1))
        feed.wait(later, {"scheduled"}, "the scheduled job")
        (claimed,) = store.claim_jobs(worker, ["default"], 1)
        feed.wait(job_id, {"running"}, "the claim")
        store.update_progress(job_id, claimed.lease_token, percent=50)
        wait_for(lambda: len(feed.states_of(job_id)) >= 3, message="the progress event")
        store.finish_jobs([outcome(claimed, S.COMPLETED, result=None)])
        feed.wait(job_id, FINISHED, "the finish")
        store.cancel_job(later)
        feed.wait(later, {"cancelled"}, "the cancel")
        store.retry_job(later)
        wait_for(lambda: feed.states_of(later).count("queued") >= 1, message="the retry")
        store.delete_job(job_id)
        feed.wait(job_id, {"deleted"}, "the deletion")
    finally:
        unsubscribe()


def test_progress_events_say_progress(store):
    feed, unsubscribe = subscribed(store)
    try:
        claimed = take(store, add_worker(store))
        feed.wait(claimed.id, {"running"}, "the claim")
        store.update_progress(claimed.id, claimed.lease_token, percent=50)
        feed.wait(claimed.id, {"progress"}, "the progress", timeout=3)
    finally:
        unsubscribe()


def test_an_unsubscribed_listener_hears_nothing_more(store):
    gone, unsubscribe_gone = subscribed(store)
    stays, unsubscribe_stays = subscribed(store)
    try:
        unsubscribe_gone()
        heard = len(gone.seen)
        job_id = put(store)
        stays.wait(job_id, {"queued"}, "the new job, to the listener still subscribed")
        assert gone.states_of(job_id) == [] and len(gone.seen) == heard
    finally:
        unsubscribe_stays()


def test_the_wake_listener_hears_ready_work_per_queue(store):
    woken: list[str] = []
    store.start_wake_listener(woken.append)

    def wakes_for(queue: str, cause: Callable[[], Any]) -> Callable[[], bool]:
        def check() -> bool:
            cause()
            return wait_for_quietly(lambda: queue in woken, 0.5)
        return check

    # The listener may still be connecting: repeat the cause until it is heard.
    wait_for(wakes_for("mail", lambda: put(store, queue="mail")), timeout=15, message="a wake-up for 'mail'")
    store.set_queue_paused("paused-q", True)
    woken.clear()
    wait_for(wakes_for("paused-q", lambda: store.set_queue_paused("paused-q", False)), timeout=15,
             message="a wake-up when the queue is resumed")
    worker = add_worker(store, queues=("again",))
    claimed = take(store, worker, queue="again")
    store.finish_jobs([outcome(claimed, S.DEAD, error="x")])
    woken.clear()
    store.retry_job(claimed.id)
    wait_for(lambda: "again" in woken, message="a wake-up for the retried job")


# -- the contract's coverage -----------------------------------------------------------------------
def test_every_public_store_method_is_called_by_this_suite():
    from pathlib import Path

    source = Path(__file__).read_text(encoding="utf-8")
    public = sorted(n for n in dir(Store) if not n.startswith("_") and callable(getattr(Store, n)))
    assert [n for n in public if f".{n}(" not in source] == []


# -- the state machine: model.TRANSITIONS against the store ------------------------------------
WALK_QUEUE = "walk"


@dataclass
class Case:
    """One job driven into a state, with what the walk needs to act on it."""

    store: Store
    job_id: str
    worker: str
    lease: str  # the job's lease token while running; a stale or random one otherwise


def drive_into(store: Store, target: JobState) -> Case:
    """A fresh job in `target` state, made through the public API only. No live worker serves
    the walk's queue (its worker lists another), so maintenance sees the queue as stranded."""
    worker = add_worker(store, queues=("elsewhere",))
    stale = str(uuid.uuid4())
    if target == S.FAILED:
        return Case(store, put(store, RECORD_FAILED, queue=WALK_QUEUE), worker, stale)
    if target == S.QUEUED:
        return Case(store, put(store, queue=WALK_QUEUE, timeout=0.05), worker, stale)
    claimed = take(store, worker, queue=WALK_QUEUE, timeout=0.05)
    case = Case(store, claimed.id, worker, claimed.lease_token)
    if target == S.RUNNING:
        return case
    if target == S.SCHEDULED:  # a retry that is already due
        store.finish_jobs([outcome(claimed, S.SCHEDULED, error="retry", retry_delay=0)])
    elif target == S.CANCELLED:  # the cancel of a running job, acknowledged by its worker
        store.cancel_job(claimed.id)
        store.finish_jobs([outcome(claimed, S.CANCELLED)])
    else:
        store.finish_jobs([outcome(claimed, target, error="x" if target == S.DEAD else None)])
    assert state(store, case.job_id) == target
    return case


def finish_as(end: JobState) -> Callable[[Case], bool]:
    def act(case: Case) -> bool:
        return case.job_id in case.store.finish_jobs([Outcome(
            job_id=case.job_id, lease_token=case.lease, state=end, result=1, error="e", retry_delay=0)])
    return act


def cancel(case: Case) -> bool:
    return case.store.cancel_job(case.job_id) == S.CANCELLED


def retry(case: Case) -> bool:
    case.store.retry_job(case.job_id)
    return True


def rescue(case: Case) -> bool:
    case.store.stop_worker(case.worker)  # gone without handing its jobs back
    return case.job_id in dict(maintain(case.store).rescued)


def time_out(case: Case) -> bool:
    deadline = job(case.store, case.job_id).deadline
    if deadline is not None:
        wait_until_past(deadline)
    return case.job_id in dict(maintain(case.store, timeout_grace=0).timed_out)


def expire(case: Case) -> bool:
    queued_at = job(case.store, case.job_id).queued_at
    if queued_at is not None:
        wait_until_past(queued_at, 0.05)
    return case.job_id in maintain(case.store, stranded_deadline=0.01).expired


@dataclass(frozen=True)
class Move:
    """A store operation that moves a job in one of `sources` to `target`; from any other state it
    must refuse (InvalidTransitionError where documented, else report no change) and change nothing.
    `act` returns whether the store reported a change."""

    name: str
    target: JobState
    sources: frozenset[JobState]
    act: Callable[[Case], bool]

    def __str__(self) -> str:
        return self.name


MOVES = [
    Move("claim_jobs", S.RUNNING, frozenset({S.QUEUED}),
         lambda c: c.job_id in ids(c.store.claim_jobs(c.worker, [WALK_QUEUE], 10))),
    *[Move(f"finish_jobs:{end.value}", end, frozenset({S.RUNNING}) if end in TRANSITIONS[S.RUNNING] else frozenset(),
           finish_as(end)) for end in JobState],
    # A running job's cancel is a request its worker acts on (finish_jobs:cancelled).
    Move("cancel_job", S.CANCELLED, frozenset({S.SCHEDULED, S.QUEUED}), cancel),
    Move("retry_job", S.QUEUED, frozenset({S.COMPLETED, S.FAILED, S.DEAD, S.CANCELLED}), retry),
    Move("requeue_dead", S.QUEUED, frozenset({S.FAILED, S.DEAD}),
         lambda c: c.store.requeue_dead(JobFilter(queue=WALK_QUEUE)) == 1),
    Move("stage_scheduled", S.QUEUED, frozenset({S.SCHEDULED}), lambda c: c.store.stage_scheduled() == 1),
    Move("maintenance:rescue", S.QUEUED, frozenset({S.RUNNING}), rescue),
    Move("maintenance:timeout", S.SCHEDULED, frozenset({S.RUNNING}), time_out),
    Move("maintenance:expire", S.DEAD, frozenset({S.QUEUED}), expire),
]

def test_the_walk_expects_only_what_the_model_declares():
    for move in MOVES:
        for source in move.sources:
            assert move.target in TRANSITIONS[source], f"{move} from {source}"


@pytest.mark.parametrize("pair", sorted((old, new) for old, news in TRANSITIONS.items() for new in news),
                         ids=lambda p: f"{p[0].value}->{p[1].value}")
def test_every_declared_transition_has_an_operation(pair):
    old, new = pair
    assert [m.name for m in MOVES if m.target == new and old in m.sources], f"nothing moves {old} to {new}"


def walk_params() -> list[Any]:
    params = []
    for source in JobState:
        for move in MOVES:
            params.append(pytest.param(source, move, id=f"{source.value}-{move.name}"))
    return params


@pytest.mark.parametrize(("source", "move"), walk_params())
def test_the_store_allows_exactly_the_declared_transitions(store, source, move):
    case = drive_into(store, source)
    before = job(store, case.job_id).to_dict()
    try:
        changed = move.act(case)
        raised = None
    except InvalidTransitionError as exc:
        changed, raised = False, exc
    after = job(store, case.job_id)
    if source in move.sources:
        assert raised is None, f"{move} refused a declared transition {source} -> {move.target}: {raised}"
        assert changed and after.state == move.target
        return
    assert not changed, f"{move} reported a change from {source}"
    assert after.state == source, f"{move} moved a {source} job to {after.state}: not in model.TRANSITIONS"
    if move.name in ("retry_job", "cancel_job") and not (move.name == "cancel_job" and source == S.RUNNING):
        assert raised is not None and f"Job {case.job_id} is {source.value}" in raised.message
    expected = dict(before)
    if move.name == "cancel_job" and source == S.RUNNING:  # the documented request, nothing else
        assert after.cancel_requested
        expected.update(cancel_requested=True, updated_at=after.to_dict()["updated_at"])
    assert after.to_dict() == expected, f"{move} changed a {source} job it refused"
