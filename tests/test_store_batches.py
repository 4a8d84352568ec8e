"""Large batches through the store: event payloads stay within PostgreSQL's NOTIFY limit."""

from datetime import UTC, datetime, timedelta

from conveyor.model import EnqueuePolicy, JobState, NewJob, Outcome
from conveyor.store import JobFilter
from tests.conftest import register_worker_row, wait_for


def test_big_claim_finish_and_stage_batches(app):
    store = app.store
    register_worker_row(store, "w")
    soon = datetime.now(UTC) + timedelta(seconds=1.5)  # still ahead when the enqueue lands, even on a busy machine
    jobs = [NewJob(task="t.add", args=[i, i]) for i in range(600)]
    jobs += [NewJob(task="t.add", args=[i, 0], run_at=soon) for i in range(1000)]
    store.enqueue(jobs, policy=EnqueuePolicy.ACCEPT, liveness_timeout=3)
    events: list[tuple[str, list[str]]] = []
    unsubscribe = store.subscribe_events(lambda state, ids: events.append((state, ids)))
    try:
        claimed = store.claim_jobs("w", ["default"], 600)
        assert len(claimed) == 600
        done = store.finish_jobs([
            Outcome(job_id=c.id, lease_token=c.lease_token, state=JobState.COMPLETED, result=c.args[0] * 2)
            for c in claimed
        ])
        assert len(done) == 600
        fetched = store.get_jobs([c.id for c in claimed] + ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
        assert {j.id for j in fetched} == {c.id for c in claimed}
        assert all(j.state == JobState.COMPLETED and j.result == j.args[0] * 2 for j in fetched)
        assert len(store.list_jobs(JobFilter(states=["scheduled"]), limit=2000)) == 1000

        def all_staged() -> bool:
            store.stage_scheduled(limit=1000)
            return len(store.list_jobs(JobFilter(states=["queued"]), limit=2000)) == 1000

        wait_for(all_staged, message="the delayed jobs to come due and be staged in one batch")
        assert not store.list_jobs(JobFilter(states=["scheduled"]), limit=10)
        if store.engine == "postgres":
            wait_for(lambda: sum(len(ids) for state, ids in events if state == "finished") >= 600)
            wait_for(lambda: sum(len(ids) for state, ids in events if state == "queued") >= 1000)
    finally:
        unsubscribe()


def test_throughput_counts_completions_per_tenant_and_outlives_the_rows(app):
    store = app.store
    for worker in ("w1", "w2"):
        register_worker_row(store, worker)
    jobs = [NewJob(task="t.add", args=[i, i], tenant="acme" if i < 30 else "umbrella") for i in range(50)]
    store.enqueue(jobs, policy=EnqueuePolicy.REFUSE, liveness_timeout=30)
    for worker, limit in (("w1", 20), ("w2", 30)):
        claimed = store.claim_jobs(worker, ["default"], limit)
        outcomes = [Outcome(job_id=c.id, lease_token=c.lease_token, state=JobState.COMPLETED, result=1)
                    for c in claimed[:-5]]
        # The last five fail for good: dead letters are not throughput.
        outcomes += [Outcome(job_id=c.id, lease_token=c.lease_token, state=JobState.DEAD, error="boom")
                     for c in claimed[-5:]]
        assert len(store.finish_jobs(outcomes)) == limit

    def figures(tenant: str | None) -> tuple[int, int]:
        (stats,) = [s for s in store.queue_stats(30, tenant=tenant) if s.name == "default"]
        return stats.completed_last_minute, stats.completed_last_hour

    assert figures(None) == (40, 40)
    acme = len([j for j in store.list_jobs(JobFilter(tenant="acme", states=["completed"]), limit=100)])
    assert figures("acme") == (acme, acme) and figures("umbrella") == (40 - acme, 40 - acme)
    # Deleting the finished rows (retention, purge) does not rewrite history.
    for job in store.list_jobs(JobFilter(states=["completed"]), limit=100):
        store.delete_job(job.id)
    assert figures(None) == (40, 40)


def test_bulk_enqueue_announces_every_job(app, monkeypatch):
    store = app.store
    # PostgreSQL: notifications go out NOTICES_PER_STATEMENT per statement; two makes this batch's
    # wake-up and four event payloads take three statements.
    monkeypatch.setattr("conveyor.store.postgres.channels.NOTICES_PER_STATEMENT", 2)
    events: list[tuple[str, list[str]]] = []
    unsubscribe = store.subscribe_events(lambda state, ids: events.append((state, ids)))
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        jobs = [NewJob(task="t.add", args=[i, i]) for i in range(250)]
        jobs += [NewJob(task="t.add", args=[i, 0], run_at=later) for i in range(120)]
        store.enqueue(jobs, policy=EnqueuePolicy.ACCEPT, liveness_timeout=3)

        def announced(state: str) -> set[str]:
            return {i for s, ids in list(events) for i in ids if s == state}

        wait_for(lambda: len(announced("queued")) == 250 and len(announced("scheduled")) == 120,
                 message="events for all 370 new jobs")
        assert announced("queued") == {j.id for j in jobs[:250]}
        assert announced("scheduled") == {j.id for j in jobs[250:]}
        if store.engine == "postgres":  # NOTIFY payloads must stay under 8,000 bytes
            assert max(len(ids) for _, ids in events) <= 100
    finally:
        unsubscribe()
