"""The `conveyor` command. Exit codes: 0 ok, 1 a check failed or a job failed, 2 bad input or
configuration, 3 the database cannot be reached, 4 no live worker serves the queue, 5 not found."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from conveyor import __version__
from conveyor.app import Conveyor, check_delay
from conveyor.cli_format import age, print_job, short_id, table
from conveyor.cli_input import (
    CliError,
    check_queue,
    check_queue_name,
    check_seconds,
    parse_json,
    require_sqlite_file,
    resolve_job_id,
)
from conveyor.commands import worker_command
from conveyor.doctor import run_doctor
from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    DatabaseUnavailableError,
    JobNotFoundError,
    LivenessCheckError,
    NoLiveWorkerError,
)
from conveyor.logs import configure_logging
from conveyor.model import EnqueuePolicy, WorkerInfo
from conveyor.settings import Settings
from conveyor.store import JobFilter

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATABASE, EXIT_NO_WORKER, EXIT_NOT_FOUND = 0, 1, 2, 3, 4, 5
DEFAULT_APP = "conveyor.demo:app"


# -- shared helpers -------------------------------------------------------------------------
def load_app(
    path: str | None, database_url: str | None, *, check_schema: bool = True, must_exist: bool = True
) -> Conveyor:
    """Import 'module:attr' (default: the demo app), bind it to the chosen database and check
    that the schema is current (so every command fails with the fix, not with missing tables)."""
    path = path or os.environ.get("CONVEYOR_APP") or DEFAULT_APP
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise CliError(f"--app must look like 'package.module:app', got {path!r}.")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"Cannot import {module_name!r} for --app {path}: {exc}. Check the module path.") from None
    app = getattr(module, attr, None)
    if not isinstance(app, Conveyor):
        raise CliError(f"{path} is not a Conveyor app (found {type(app).__name__}).")
    app.app_path = app.app_path or path
    settings = app.settings
    url = database_url or os.environ.get("CONVEYOR_DATABASE_URL")
    if url and url != settings.database_url:
        app = app.with_database(url)
    if must_exist:
        require_sqlite_file(app.settings.database_url)
    if check_schema:
        app.store.check_schema()
    return app


# -- commands -------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace) -> int:
    from conveyor.worker import SUPERVISOR_PID_ENV, Worker

    app = load_app(args.app, args.database_url)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    if not queues:
        raise CliError("--queues needs at least one queue name, e.g. --queues default")
    if args.concurrency is not None and args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    worker = Worker(app, queues, args.concurrency, worker_id=args.worker_id, install_signal_handlers=True,
                    supervisor_pid=int(supervisor) if supervisor and supervisor.isdigit() else None)
    worker.run()
    if any(t.name.startswith("conveyor-task") and t.is_alive() for t in threading.enumerate()):
        # A sync task that ignores ctx.cancelled is still running in a thread. Its job was handed
        # back and its lease is void, so exit now instead of waiting for it forever.
        print("exiting with task threads still running; their jobs were handed back", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def cmd_enqueue(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before anything is written.
    task_args = parse_json(args.args, list, "--args")
    task_kwargs = parse_json(args.kwargs, dict, "--kwargs")
    if args.delay is not None and args.delay < 0:
        raise CliError(f"--delay must not be negative, got {args.delay}")
    check_seconds(args.delay, "--delay")
    check_seconds(args.wait, "--wait")
    check_queue_name(args.queue)
    if args.delay is not None:
        check_delay(args.delay)
    app = load_app(args.app, args.database_url)
    task = app.get_task(args.task)
    if app.policy_for(task.name, args.queue or task.options.queue, args.policy) is not EnqueuePolicy.ACCEPT:
        check_queue(app, args.queue)
    task.signature.check(task.name, task_args, task_kwargs)
    handle = app.enqueue(
        task.name, task_args, task_kwargs, queue=args.queue, priority=args.priority, delay=args.delay,
        policy=args.policy, token=args.token, idempotency_key=args.idempotency_key,
    )
    print(handle.id)
    if handle.state.value == "failed":
        print(f"recorded as failed: {handle.get().error}", file=sys.stderr)
        return EXIT_NO_WORKER
    if args.wait is not None:
        job = handle.wait(args.wait)
        print(f"{job.state.value}: {json.dumps(job.result) if job.result is not None else job.error or ''}")
        return EXIT_OK if job.state.value == "completed" else EXIT_FAILED
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    job = app.get_job(resolve_job_id(app, args.job_id))
    if job is None:
        raise JobNotFoundError(f"No job with id {args.job_id}.", action="List jobs with: conveyor jobs")
    if args.json:
        print(json.dumps(job.to_dict(), indent=2))
    else:
        print_job(job, full_traceback=args.full_traceback)
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    check_queue(app, args.queue)
    states = [s.strip() for s in args.state.split(",")] if args.state else []
    valid = {"scheduled", "queued", "running", "completed", "failed", "dead", "cancelled"}
    bad = [s for s in states if s not in valid]
    if bad:
        raise CliError(f"Unknown state(s) {', '.join(bad)}. Use: {', '.join(sorted(valid))}")
    jobs = app.store.list_jobs(
        JobFilter(states=states, queue=args.queue, task=args.task, token=args.token), limit=args.limit
    )
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2))
        return EXIT_OK
    now = datetime.now(UTC)
    rows = [
        [j.id, j.task, j.queue, j.state.value, f"{j.attempts}/{j.max_attempts}",
         age((now - j.created_at).total_seconds()), (j.error or "")[:60]]
        for j in jobs
    ]
    print(table(rows, ["id", "task", "queue", "state", "attempts", "age", "error"]))
    return EXIT_OK


def cmd_queues(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    stats = app.store.queue_stats(app.settings.liveness_timeout)
    if args.json:
        print(json.dumps([s.to_dict() for s in stats], indent=2))
        return EXIT_OK
    rows = [
        [s.name, s.counts["scheduled"], s.counts["queued"], s.counts["running"], s.counts["dead"],
         s.counts["failed"], s.live_workers, age(s.oldest_ready_age), s.completed_last_minute,
         ("STRANDED" if s.stranded else "") + (" paused" if s.paused else "")]
        for s in stats
    ]
    print(table([[str(c) for c in r] for r in rows],
                ["queue", "scheduled", "queued", "running", "dead", "failed", "workers", "oldest", "done/min", "status"]))
    for s in stats:
        if s.stranded:
            print(f"\nQueue '{s.name}' has {s.counts['queued']} ready job(s) and no live worker. "
                  f"Start one with: {worker_command(app.app_path, s.name)}")
    return EXIT_OK


def cmd_workers(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    if args.action:
        if not args.worker_id:
            raise CliError(f"conveyor workers {args.action} needs a WORKER_ID (see: conveyor workers)")
        desired = {"pause": "paused", "resume": "running", "stop": "stopping"}[args.action]
        if not app.store.set_worker_desired_state(args.worker_id, desired):
            raise JobNotFoundError(f"No live worker {args.worker_id}.", action="List workers with: conveyor workers")
        print(f"{args.action} requested for {args.worker_id}; it obeys within one heartbeat")
        return EXIT_OK
    workers = app.store.list_workers(app.settings.liveness_timeout)
    if args.json:
        print(json.dumps([w.to_dict() for w in workers], indent=2))
        return EXIT_OK
    now = datetime.now(UTC)
    rows = [
        [w.id, w.hostname, str(w.pid), ",".join(w.queues), w.state if w.alive or w.state in ("stopped", "dead")
         else "dead?", age(w.heartbeat_age), str(w.jobs_in_flight), str(w.processed), str(w.failed),
         ",".join(short_id(j) for j in w.current_jobs[:5]), _detected(w, now)]
        for w in workers
    ]
    print(table(rows, ["id", "host", "pid", "queues", "state", "heartbeat", "in flight", "done", "failed", "jobs",
                       "detected"]))
    return EXIT_OK


def _detected(w: WorkerInfo, now: datetime) -> str:
    """How a dead worker was found out, and how long ago: 'exited 2.1s ago' (its process ended: its
    lock was released) or 'heartbeat expired 40.0s ago' (it went silent: hung, partitioned, lost)."""
    if w.state != "dead" or w.stopped_at is None:
        return ""
    return f"{w.detected_by or 'heartbeat expired'} {age((now - w.stopped_at).total_seconds())} ago"


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = Settings.from_env(database_url=args.database_url)
    from conveyor.store import open_store

    store = open_store(settings.database_url)
    before = store.schema_version()
    after = store.migrate()
    print(f"schema version {before} -> {after} ({store.redacted_url()})")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    state = app.store.cancel_job(resolve_job_id(app, args.job_id))
    print("cancelled" if state.value == "cancelled" else "cancel requested (the job is running; its worker stops it)")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    job_id = resolve_job_id(app, args.job_id)
    app.store.retry_job(job_id)
    print(f"requeued {job_id}")
    return EXIT_OK


def _dead_filter(args: argparse.Namespace) -> JobFilter:
    if not (args.all or args.queue or args.task or args.error):
        raise CliError("Say which dead jobs: --queue, --task, --error, or --all")
    return JobFilter(queue=args.queue, task=args.task, error_contains=args.error)


def cmd_dead(args: argparse.Namespace) -> int:
    app = load_app(args.app, args.database_url)
    if args.action == "requeue":
        print(f"requeued {app.store.requeue_dead(_dead_filter(args))} job(s)")
        return EXIT_OK
    if args.action == "purge":
        print(f"purged {app.store.purge_dead(_dead_filter(args))} job(s)")
        return EXIT_OK
    jobs = app.store.list_jobs(
        JobFilter(states=["dead", "failed"], queue=args.queue, task=args.task, error_contains=args.error),
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2))
        return EXIT_OK
    print(table([[j.id, j.task, j.queue, j.state.value, str(j.attempts), (j.error or "")[:80]] for j in jobs],
                ["id", "task", "queue", "state", "attempts", "error"]))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    return run_doctor(lambda: load_app(args.app, args.database_url, check_schema=False), args)


def cmd_apikey(args: argparse.Namespace) -> int:
    from conveyor.api.auth import ROLES, create_api_key

    app = load_app(args.app, args.database_url)
    if args.action == "create":
        if args.role not in ROLES:
            raise CliError(f"--role must be one of {', '.join(ROLES)}")
        key_id, secret = create_api_key(app.store, tenant=args.tenant, role=args.role, name=args.name)
        print(secret)
        print(f"key id {key_id}, tenant {args.tenant}, role {args.role}. The key is shown once: store it now.",
              file=sys.stderr)
        return EXIT_OK
    if args.action == "revoke":
        if not args.key_id or not app.store.revoke_api_key(args.key_id):
            raise JobNotFoundError(f"No active key {args.key_id}.", action="List keys with: conveyor apikey list")
        print(f"revoked {args.key_id}")
        return EXIT_OK
    keys = app.store.list_api_keys()
    print(table([[k.id, k.tenant, k.role, k.name or "", k.created_at.isoformat(timespec="seconds"),
                  "revoked" if k.revoked_at else "active"] for k in keys],
                ["id", "tenant", "role", "name", "created", "status"]))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from conveyor.api.server import serve

    app = load_app(args.app, args.database_url)
    serve(app, host=args.host, port=args.port, auth=not args.no_auth)
    return EXIT_OK


def cmd_up(args: argparse.Namespace) -> int:
    from conveyor.supervisor import run_up

    app = load_app(args.app, args.database_url, check_schema=False, must_exist=False)
    app.migrate()  # `up` is the zero-setup path: it creates or upgrades the schema itself
    return run_up(app, host=args.host, port=args.port, workers=args.workers, concurrency=args.concurrency,
                  auth=not args.no_auth, seed_demo=not args.no_demo_jobs, access_log=args.access_log)


# -- parser ---------------------------------------------------------------------------------
CONCURRENCY_HELP = ("jobs in flight per worker (default: up to 100 async tasks on the event loop, "
                    "10 threads for def tasks; a number sets both)")

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conveyor", description="Background jobs that are never silently stuck.")
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    parser.add_argument("--log-format", choices=["text", "json"], default=None)
    parser.add_argument("--log-level", default=None)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--database-url", help="overrides CONVEYOR_DATABASE_URL (default sqlite:///conveyor.db)")
        p.add_argument("--app", help=f"'module:attr' of your Conveyor app (CONVEYOR_APP; default {DEFAULT_APP})")
        p.add_argument("--log-format", choices=["text", "json"], default=None, dest="sub_log_format")
        p.set_defaults(fn=fn)
        return p

    p = add("worker", cmd_worker, "run a worker")
    p.add_argument("--queues", default="high,default,low", help="comma-separated, in priority order")
    p.add_argument("--concurrency", type=int, default=None, help=CONCURRENCY_HELP)
    p.add_argument("--worker-id", help="a stable id (default: host-pid-random)")

    p = add("enqueue", cmd_enqueue, "enqueue a job; prints its id")
    p.add_argument("task")
    p.add_argument("--args", help="JSON array of positional arguments")
    p.add_argument("--kwargs", help="JSON object of keyword arguments")
    p.add_argument("--queue")
    p.add_argument("--priority", type=int)
    p.add_argument("--delay", type=float, help="seconds from now")
    p.add_argument("--policy", choices=["refuse", "record_failed", "accept"])
    p.add_argument("--token")
    p.add_argument("--idempotency-key")
    p.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the job to finish")

    p = add("status", cmd_status, "show one job's whole record")
    p.add_argument("job_id", help="the whole id, or a unique start or tail of it")
    p.add_argument("--json", action="store_true")
    p.add_argument("--full-traceback", action="store_true", help="include Conveyor's own frames")

    p = add("jobs", cmd_jobs, "list jobs, newest first")
    p.add_argument("--state", help="comma-separated states")
    p.add_argument("--queue")
    p.add_argument("--task")
    p.add_argument("--token")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")

    p = add("queues", cmd_queues, "per queue: jobs by state, live workers, oldest ready job, stranded")
    p.add_argument("--json", action="store_true")

    p = add("workers", cmd_workers, "list workers, or pause/resume/stop one")
    p.add_argument("action", nargs="?", choices=["pause", "resume", "stop"])
    p.add_argument("worker_id", nargs="?")
    p.add_argument("--json", action="store_true")

    db = add("db", cmd_db_upgrade, "database schema")
    db.add_argument("action", choices=["upgrade"])

    p = add("cancel", cmd_cancel, "cancel a job")
    p.add_argument("job_id", help="the whole id, or a unique start or tail of it")
    p = add("retry", cmd_retry, "run a finished (dead, failed, cancelled, completed) job again")
    p.add_argument("job_id", help="the whole id, or a unique start or tail of it")

    p = add("dead", cmd_dead, "the dead-letter list: list, requeue, purge")
    p.add_argument("action", nargs="?", choices=["list", "requeue", "purge"], default="list")
    p.add_argument("--queue")
    p.add_argument("--task")
    p.add_argument("--error", help="only jobs whose error contains this text")
    p.add_argument("--all", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")

    p = add("doctor", cmd_doctor, "check database, schema, live workers and a real pickup round trip")
    p.add_argument("--queues", help="queues to check (default: the app's task queues and every queue a live "
                   "worker serves)")
    p.add_argument("--timeout", type=float, default=10.0)

    p = add("apikey", cmd_apikey, "API keys: create, list, revoke")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?")
    p.add_argument("--tenant", default="default")
    p.add_argument("--role", default="operator")
    p.add_argument("--name")

    p = add("serve", cmd_serve, "serve the HTTP API and dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-auth", action="store_true", help="no API keys (loopback only)")

    from conveyor import cli_pipelines  # pipelines: conveyor pipelines ...
    cli_pipelines.add_arguments(add("pipelines", lambda a: cli_pipelines.cmd_pipelines(a, load_app),
                                    "pipelines: list, start, status, cancel, retry-step, reprocess"))

    from conveyor import cli_schedules  # conveyor schedules ..., conveyor etl-jobs ...
    cli_schedules.add_arguments(add("schedules", lambda a: cli_schedules.cmd_schedules(a, load_app),
                                    "recurring schedules: list, add, show, pause, resume, delete"))
    cli_schedules.add_etl_arguments(add("etl-jobs", lambda a: cli_schedules.cmd_etl_jobs(a, load_app),
                                        "ETL jobs: list, run (Run now), reset"))
    from conveyor import cli_embeddings  # conveyor search ..., conveyor embeddings ...
    cli_embeddings.add_search_arguments(add("search", lambda a: cli_embeddings.cmd_search(a, load_app),
                                            "semantic search over embedded rows (answered by the embedding worker)"))
    cli_embeddings.add_arguments(add("embeddings", lambda a: cli_embeddings.cmd_embeddings(a, load_app),
                                     "embeddings: counts per source, reindex a tenant (after a model change)"))

    from conveyor import cli_integrations  # integrations: conveyor integrations ...
    cli_integrations.add_arguments(add("integrations", lambda a: cli_integrations.cmd_integrations(a, load_app),
                                       "integrations (Jira, GitHub ...): types, list, show, create, update, test"))

    p = add("up", cmd_up, "everything on one machine: migrate, API + dashboard, workers, demo jobs")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=None, help=CONCURRENCY_HELP)
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--no-demo-jobs", action="store_true")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request (off: mostly the "
                   "dashboard's own polling)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log_format = getattr(args, "sub_log_format", None) or args.log_format or os.environ.get(
        "CONVEYOR_LOG_FORMAT", "text")
    configure_logging(log_format, args.log_level or os.environ.get("CONVEYOR_LOG_LEVEL", "INFO"))
    try:
        code = int(args.fn(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.code
    except NoLiveWorkerError as exc:
        print(f"error: {exc.message}\n{exc.action}", file=sys.stderr)
        code = EXIT_NO_WORKER
    except (DatabaseUnavailableError, LivenessCheckError) as exc:
        print(f"error: {exc.message}\n{exc.action}", file=sys.stderr)
        code = EXIT_DATABASE
    except JobNotFoundError as exc:
        print(f"error: {exc.message} {exc.action}", file=sys.stderr)
        code = EXIT_NOT_FOUND
    except (ConfigurationError, ConveyorError) as exc:
        print(f"error: {exc.message}\n{exc.action}".rstrip(), file=sys.stderr)
        code = EXIT_USAGE
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        return closed_pipe()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return closed_pipe()
    return code


def closed_pipe() -> int:
    """The reader went away (`conveyor status ID | head`): stop quietly, as `cat` does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush at exit cannot fail
    return 128 + 13  # SIGPIPE, as a shell reports a writer killed by it


if __name__ == "__main__":
    sys.exit(main())
