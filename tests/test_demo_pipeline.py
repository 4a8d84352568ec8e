"""The demo pipeline: `conveyor up` starts it so the Pipelines page shows a live run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from conveyor import Conveyor
from conveyor.demo import app as demo_app
from conveyor.demo_pipeline import PIPELINE, start_demo_run
from conveyor.store import open_store
from conveyor.store.pipelines_common import RunFilter, pipeline_sql
from tests.conftest import ROOT, wait_for
from tests.test_supervisor import _free_port


def test_demo_run_extracts_transforms_and_loads(app: Conveyor, start_worker: Any) -> None:
    demo = demo_app.with_database(app.settings.database_url)
    try:
        start_worker(["default"], concurrency=8, target=demo)
        run_id = start_demo_run(demo, seed=7)
        assert run_id is not None
        assert start_demo_run(demo) is None, "one demo run at a time"
        done = wait_for(lambda: (r := demo.get_run(run_id)) and r.finished and r, timeout=60, message="the demo run")
        assert done.state == "FINISHED", done.error
        customers, orders = done.status["steps"]["customers"], done.status["steps"]["orders"]
        assert customers["stages"]["load"]["done"] == 4  # one load per stored page
        assert orders["stages"]["transform"]["done"] == 4 and orders["stages"]["load"]["done"] == 80  # 4 x 20
        assert len(pipeline_sql(demo.store).raw_ids(run_id, "orders")) == 4
        loaded = [demo.get_job(j[0]) for j in pipeline_sql(demo.store).job_ids(run_id) if j[1:3] == ("orders", "load")]
        assert all(j is not None and j.result["total"] > 0 for j in loaded)
    finally:
        demo.close()


def test_conveyor_up_shows_a_live_demo_run(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_HEARTBEAT_INTERVAL": "0.5", "CONVEYOR_SHUTDOWN_GRACE": "2"}
    port = _free_port()
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen([sys.executable, "-m", "conveyor", "up", "--database-url", url, "--port",
                               str(port), "--no-auth"], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
        store = None
        try:
            def demo_runs() -> list[Any]:
                nonlocal store
                try:
                    store = store or open_store(url)
                    return pipeline_sql(store).list_runs(RunFilter(pipeline=PIPELINE))
                except Exception:  # the database is still being created
                    return []

            # A run is created READY and moves to RUNNING once its first jobs are queued.
            wait_for(lambda: [r for r in demo_runs() if r.state in ("RUNNING", "FINISHED")], timeout=60,
                     message="`conveyor up` to start the demo pipeline")
            wait_for(lambda: demo_runs()[0].state == "FINISHED", timeout=90, message="the demo run to finish")

            # The demo Jira sync's steps end with the embedding stage (real model, its own worker):
            # its projects are searchable within its first step.
            def demo_hits() -> list[Any]:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/search",
                                   params={"q": "ALPHA project", "tenant": "demo"}, timeout=30)
                return answer.json()["hits"] if answer.status_code == 200 else []

            hits = wait_for(demo_hits, timeout=120, interval=1.0, message="demo work items to be searchable")
            assert hits[0]["source_type"] == "JIRA" and hits[0]["url"]
        finally:
            up.terminate()
            up.wait(30)
            if store is not None:
                store.close()
