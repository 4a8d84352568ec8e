"""The CLI checks what a user typed before writing anything, answers user errors without a
traceback, finds jobs by a unique part of their id, and prints labels apart from values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conveyor import cli
from conveyor.cli_format import short_id
from conveyor.store import JobFilter
from tests import tasks
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _keep_test_logging(monkeypatch):
    monkeypatch.setattr(cli, "configure_logging", lambda *a, **k: None)  # pytest captures the logs


def run(database_url: str, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([argv[0], "--app", "tests.tasks:app", "--database-url", database_url, *argv[1:]])
    out = capsys.readouterr()
    return code, out.out, out.err


def count_jobs(app) -> int:
    return len(app.store.list_jobs(JobFilter(), limit=10_000))


@pytest.mark.parametrize("argv, message", [
    (["--delay", "inf"], "--delay must be a finite number of seconds >= 0, got inf"),
    (["--delay", "nan"], "--delay must be a finite number of seconds >= 0, got nan"),
    (["--delay", "1e300"], "delay must be a finite number of seconds from 0"),
    (["--wait", "-1"], "--wait must be a finite number of seconds >= 0, got -1"),
    (["--queue", "bad queue!"], "--queue 'bad queue!' is not a valid queue name"),
    (["--kwargs", '{"a": 1, "b": 2, "extra": 1}'], "Task 't.add' has no parameter 'extra'"),
    (["--args", "[1]"], "is missing required parameter(s) 'b'"),
])
def test_enqueue_refuses_bad_input_before_writing(app, database_url, capsys, start_worker, argv, message):
    start_worker()
    args = [] if "--args" in argv or "--kwargs" in argv else ["--args", "[1, 2]"]
    code, out, err = run(database_url, capsys, "enqueue", "t.add", *args, *argv)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert "unknown queue" not in err.lower()
    assert count_jobs(app) == 0


def test_accept_queues_for_a_queue_no_worker_has_served_yet(app, database_url, capsys):
    code, out, err = run(database_url, capsys, "enqueue", "t.add", "--args", "[1, 2]", "--queue", "nobody",
                         "--policy", "accept")
    assert code == 0, err
    job = app.get_job(out.strip())
    assert job is not None and job.queue == "nobody" and job.state.value == "queued"
    # Without accept, an unknown queue is still called out, with a command that uses its name.
    code, _, err = run(database_url, capsys, "enqueue", "t.add", "--args", "[1, 2]", "--queue", "nobody2")
    assert code == 2 and "Unknown queue 'nobody2'" in err and "--queues nobody2" in err and "--policy accept" in err


def test_status_cancel_retry_take_a_unique_part_of_the_id(app, database_url, capsys):
    first = tasks.add.configure(policy="accept").enqueue(1, 2)
    second = tasks.add.configure(policy="accept").enqueue(3, 4)
    assert short_id(first.id) != short_id(second.id)  # made in the same millisecond, told apart
    code, out, err = run(database_url, capsys, "status", short_id(second.id))
    assert code == 0, err
    assert f"job         {second.id}" in out
    for line in out.splitlines():  # every label is followed by spaces, never run into its value
        if line.startswith(("created_at", "enqueued_at")):
            assert line.split()[0] in ("created_at", "enqueued_at"), line
    code, out, err = run(database_url, capsys, "status", first.id[:4])
    assert code == 2 and "matches more than one job" in err
    code, out, err = run(database_url, capsys, "cancel", short_id(first.id))
    assert code == 0 and "cancelled" in out
    code, out, err = run(database_url, capsys, "retry", short_id(first.id).upper())
    assert code == 0 and first.id in out
    code, out, err = run(database_url, capsys, "status", "ffffffff-dead")
    assert code == 5 and "No job id starts or ends with" in err
    code, out, err = run(database_url, capsys, "status", "x!")
    assert code == 2 and "is not a job id" in err


def test_workers_list_shows_the_tail_of_current_job_ids(app, database_url, capsys, start_worker, tmp_path):
    start_worker()
    marker = tmp_path / "go"
    handles = [tasks.app.enqueue("t.progress", kwargs={"steps": 1, "step_seconds": 0, "marker": str(marker)})
               for _ in range(2)]
    from tests.conftest import wait_for

    wait_for(lambda: all(h.get().state.value == "running" for h in handles), message="both running")
    code, out, _ = run(database_url, capsys, "workers")
    marker.write_text("")
    assert code == 0
    assert all(short_id(h.id) in out for h in handles), out


def test_a_missing_sqlite_file_is_an_error_naming_db_upgrade(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    code, out, err = run(f"sqlite:///{missing}", capsys, "jobs")
    assert code == 3
    assert "does not exist" in err and "db upgrade --database-url sqlite:///" in err
    assert not missing.exists()


def test_a_closed_pipe_ends_quietly(app, database_url):
    """`conveyor jobs | head -1`: the reader goes away; no BrokenPipeError traceback."""
    app.enqueue_many([tasks.add.new_job(i, i) for i in range(400)], policy="accept")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_APP": "tests.tasks:app",
           "CONVEYOR_DATABASE_URL": database_url}
    script = f"{sys.executable} -m conveyor jobs --limit 400 | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.startswith("id"), done.stdout
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_status_trims_runner_frames_from_the_traceback(app, database_url, capsys, start_worker):
    start_worker()
    job = tasks.fail.enqueue("boom").wait(20)
    code, out, _ = run(database_url, capsys, "status", job.id)
    assert code == 0
    shown = out.split("traceback", 1)[1]
    assert "tests/tasks.py" in shown and "RuntimeError: boom" in shown
    assert "conveyor/worker.py" not in shown and "Conveyor and executor frames left out" in shown
    code, out, _ = run(database_url, capsys, "status", job.id, "--full-traceback")
    assert "conveyor/worker.py" in out
