"""`conveyor up`: one command that runs everything on one machine.

It applies migrations, starts a supervised pool of worker processes (restarted if they crash,
started and stopped from the dashboard), serves the API and dashboard, and seeds demo jobs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conveyor.app import Conveyor
from conveyor.worker import SUPERVISOR_PID_ENV

log = logging.getLogger("conveyor.supervisor")


@dataclass
class _Child:
    worker_id: str
    process: subprocess.Popen[bytes]
    queues: str = "high,default,low"
    started_at: float = field(default_factory=time.time)
    stopping: bool = False
    restarts: int = 0


class Supervisor:
    """A pool of `conveyor worker` processes for one app and database."""

    def __init__(self, app_path: str, database_url: str, *, queues: str = "high,default,low",
                 concurrency: int | None = None) -> None:
        self.app_path = app_path
        self.database_url = database_url
        self.queues = queues
        self.concurrency = concurrency
        self._children: dict[str, _Child] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="conveyor-supervisor", daemon=True)
        self._monitor.start()

    def _spawn(self, worker_id: str, queues: str) -> subprocess.Popen[bytes]:
        # The worker stops (gracefully) once this process is gone, however it ended, so no
        # worker outlives the `conveyor up` that started it.
        env = {**os.environ, "CONVEYOR_DATABASE_URL": self.database_url, SUPERVISOR_PID_ENV: str(os.getpid())}
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor", "worker", "--app", self.app_path, "--queues", queues,
             *(["--concurrency", str(self.concurrency)] if self.concurrency else []), "--worker-id", worker_id],
            env=env,
        )

    @staticmethod
    def _new_id() -> str:
        return f"{socket.gethostname()}-pool-{uuid.uuid4().hex[:6]}"

    def start_worker(self, queues: str | None = None) -> str:
        """One more worker, for the pool's queues or the ones given (a stranded queue's banner)."""
        worker_id = self._new_id()
        chosen = queues or self.queues
        with self._lock:
            self._children[worker_id] = _Child(worker_id, self._spawn(worker_id, chosen), queues=chosen)
        log.info("started worker %s", worker_id)
        return worker_id

    def stop_worker(self, worker_id: str) -> bool:
        """Graceful stop (SIGTERM): the worker finishes or hands back its jobs."""
        with self._lock:
            child = self._children.get(worker_id)
            if child is None or child.process.poll() is not None:
                return False
            child.stopping = True
        child.process.send_signal(signal.SIGTERM)
        return True

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"id": c.worker_id, "pid": c.process.pid, "running": c.process.poll() is None,
                 "restarts": c.restarts, "started_at": c.started_at}
                for c in self._children.values()
            ]

    def _watch(self) -> None:
        """Restart workers that died without being asked to stop (crash, OOM kill)."""
        while not self._closing.wait(1.0):
            with self._lock:
                for child in list(self._children.values()):
                    code = child.process.poll()
                    if code is None:
                        continue
                    if child.stopping:
                        del self._children[child.worker_id]
                        continue
                    if time.time() - child.started_at < min(30.0, 2.0**child.restarts):
                        continue  # crash loop: back off before the next restart
                    # A fresh id: the dead process's running jobs must look orphaned, so that
                    # maintenance rescues them instead of waiting for a worker that never returns.
                    new_id = self._new_id()
                    log.warning("worker %s exited with %s; restarting as %s", child.worker_id, code, new_id)
                    del self._children[child.worker_id]
                    self._children[new_id] = _Child(new_id, self._spawn(new_id, child.queues), queues=child.queues,
                                                    restarts=child.restarts + 1)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every worker gracefully (SIGTERM), killing those still running at the timeout."""
        if self._closing.is_set():
            return
        self._closing.set()
        with self._lock:
            children = list(self._children.values())
        for child in children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()


def dashboard_key(app: Conveyor, folder: Path) -> str:
    """The admin key `conveyor up` prints; kept in .conveyor/admin.key so it survives restarts."""
    from conveyor.api.auth import create_api_key, hash_key

    path = folder / "admin.key"
    if path.exists():
        secret = path.read_text().strip()
        if app.store.find_api_key(hash_key(secret)) is not None:
            return secret
    _, secret = create_api_key(app.store, tenant="*", role="admin", name="conveyor up")  # all tenants
    folder.mkdir(exist_ok=True)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def run_up(app: Conveyor, *, host: str, port: int, workers: int, concurrency: int | None, auth: bool,
           seed_demo: bool, access_log: bool = False) -> int:
    from conveyor.api.server import serve

    if workers < 0:
        raise ValueError("--workers must be 0 or more")
    from conveyor.integrations.secrets import local_secret_key

    local_secret_key(Path(".conveyor"))  # before the workers start: they inherit CONVEYOR_SECRET_KEY
    # The pool serves the usual queues and every queue the app's tasks name (the Jira stages'),
    # except the embedding stage's: one worker of its own owns the embedded vector store's folder
    # (only one process may open it) and keeps the model's CPU work off the other queues.
    embedding = embedding_queues(app)
    extra = sorted({t.options.queue for t in app.tasks.values()} - {"high", "default", "low", *embedding})
    queues = ",".join(["high", "default", "low", *extra])
    os.environ.setdefault("CONVEYOR_VECTOR_DIR", str(Path(".conveyor") / "vectors"))  # beside the other state
    supervisor = Supervisor(app.app_path or "conveyor.demo:app", app.settings.database_url,
                            concurrency=concurrency, queues=queues)
    for _ in range(workers):
        supervisor.start_worker()
    if embedding and workers > 0:
        supervisor.start_worker(",".join(embedding))
    key = dashboard_key(app, Path(".conveyor")) if auth else None
    url = f"http://{host}:{port}/" + (f"?key={key}" if key else "")
    if seed_demo and app.app_path == "conveyor.demo:app" and workers > 0:
        threading.Thread(target=_seed_when_live, args=(app,), daemon=True).start()
    banner = [
        "",
        "Conveyor is up.",
        f"  database   {app.store.redacted_url()}",
        f"  workers    {workers} process(es) x concurrency {concurrency or 'default'}, queues {queues}",
        *([f"  embedding  1 process, queues {','.join(embedding)} (owns {os.environ['CONVEYOR_VECTOR_DIR']})"]
          if embedding and workers > 0 else []),
        f"  dashboard  {url}",
        f"  API docs   http://{host}:{port}/api/docs",
    ]
    if key:
        banner.append(f"  API key    {key}   (admin; also in .conveyor/admin.key)")
    banner.append("  stop with Ctrl+C")
    print("\n".join(banner), flush=True)
    try:
        # No access log by default: most of it would be the dashboard's own polling.
        serve(app, host=host, port=port, auth=auth, supervisor=supervisor, access_log=access_log)
    finally:
        supervisor.shutdown()
    return 0


def embedding_queues(app: Conveyor) -> list[str]:
    """The queues of the app's embedding and search tasks (none when no step embeds)."""
    from conveyor.etl.embeddings.stage import EMBED_TASK, LIST_TASK, SEARCH_TASK

    return sorted({app.tasks[t].options.queue for t in (EMBED_TASK, LIST_TASK, SEARCH_TASK) if t in app.tasks})


def _seed_when_live(app: Conveyor) -> None:
    """Seed the demo jobs and a demo pipeline run once a worker is live, then keep a trickle going
    so the dashboard always has something moving (one job every few seconds, and a new pipeline
    run about every 40 s once the last one has ended)."""
    from conveyor.demo import seed_demo_jobs, trickle_job
    from conveyor.demo_pipeline import start_demo_run
    from conveyor.errors import ConveyorError

    deadline = time.monotonic() + 60
    # The demo syncs' steps end with the embedding stage: its worker (loading the model) must be up too.
    needed = ["default", *embedding_queues(app)]
    while any(app.store.live_worker_count(q, app.settings.liveness_timeout)[0] == 0 for q in needed):
        if time.monotonic() > deadline:
            log.warning("no worker came up within 60 s; demo jobs not seeded")
            return
        time.sleep(0.2)
    log.info("seeded %d demo jobs", len(seed_demo_jobs(app)))
    from conveyor.demo_jira import run_demo_jira
    from conveyor.etl.github.demo import run_demo_github

    threading.Thread(target=run_demo_jira, args=(app, threading.Event()), name="demo-jira", daemon=True).start()
    threading.Thread(target=run_demo_github, args=(app, threading.Event()), name="demo-github", daemon=True).start()
    ticks = 0
    while True:
        try:
            if ticks % 5 == 0:
                start_demo_run(app)
            else:
                trickle_job(app)
        except ConveyorError as exc:  # e.g. every worker stopped from the dashboard: that is fine
            log.debug("demo trickle: %s", exc.message)
        ticks += 1
        time.sleep(8)
