from conveyor import JobState
from tests.conftest import wait_for


def test_enqueue_and_run(app, start_worker):
    start_worker()
    handle = app.enqueue("t.add", [2, 3])
    job = handle.wait(10)
    assert job.state == JobState.COMPLETED
    assert job.result == 5
    assert job.attempts == 1
    assert job.started_at >= job.queued_at
    wait_for(lambda: app.get_job(handle.id).finished)
