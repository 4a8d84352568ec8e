"""`conveyor schedules [list|add|show|pause|resume|delete]` and `conveyor etl-jobs [list|run|reset]`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from conveyor.schedules import build_spec

EXIT_OK = 0


def _json_arg(text: str | None, flag: str, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        from conveyor.schedules import ScheduleError
        raise ScheduleError(f"{flag} is not JSON: {exc}.", action=f"Pass JSON, e.g. {flag} '[1, 2]'.") from None


def _line(s: Any) -> str:
    nxt = s.next_fire_at.isoformat(timespec="seconds") if s.next_fire_at and s.active else "-"
    last = f"{s.last_outcome} at {s.last_fire_at.isoformat(timespec='seconds')}" if s.last_fire_at else "never fired"
    state = "active" if s.active else "paused"
    return (f"{s.id}  {s.tenant}/{s.name:24} {s.target_kind}:{s.target:20} {s.cron or f'every {s.interval:g}s':16} "
            f"{s.timezone:16} {state:6}  next {nxt}  last {last}" + (f": {s.last_error}" if s.last_error else ""))


def cmd_schedules(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    app = load_app(args.app, args.database_url)
    scheduler = app.scheduler
    if args.action == "list":
        items = scheduler.list(args.tenant)
        if args.json:
            print(json.dumps([s.to_dict() for s in items], indent=2, default=str))
        else:
            for s in items:
                print(_line(s))
            if not items:
                print("no schedules (declare with app.schedule(...) or add with 'conveyor schedules add')")
        return EXIT_OK
    if args.action == "add":
        if not args.target:
            raise SystemExit("usage: conveyor schedules add TASK_OR_PIPELINE (--cron EXPR | --interval SECONDS)")
        spec = build_spec(app, args.name, args.target, kind=args.kind, cron=args.cron, interval=args.interval,
                          timezone=args.timezone, args=_json_arg(args.args, "--args", []),
                          kwargs=_json_arg(args.kwargs, "--kwargs", {}), tenant=args.tenant or "default",
                          misfire=args.misfire, misfire_max=args.misfire_max)
        print(_line(scheduler.create(spec)))
        return EXIT_OK
    if not args.target:
        raise SystemExit(f"usage: conveyor schedules {args.action} SCHEDULE_ID")
    if args.action == "show":
        s = scheduler.require(args.target)
        print(json.dumps({**s.to_dict(), "recent_fires": scheduler.fires(s.id)}, indent=2, default=str))
    elif args.action in ("pause", "resume"):
        print(_line(scheduler.update(args.target, {"active": args.action == "resume"})))
    elif args.action == "delete":
        scheduler.delete(args.target)
        print(f"deleted {args.target}")
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=["list", "add", "show", "pause", "resume", "delete"])
    p.add_argument("target", nargs="?", help="add: the task or pipeline; the others: the schedule id")
    p.add_argument("--name", help="add: the schedule's name (default: the target's)")
    p.add_argument("--kind", choices=["task", "pipeline"])
    p.add_argument("--cron", help="add: a cron expression, e.g. '*/15 * * * *'")
    p.add_argument("--interval", type=float, help="add: seconds between fires")
    p.add_argument("--timezone", default="UTC")
    p.add_argument("--args", help="add: JSON list of positional arguments")
    p.add_argument("--kwargs", help="add: JSON object of keyword arguments (a pipeline's params)")
    p.add_argument("--tenant")
    p.add_argument("--misfire", default="skip", choices=["skip", "once", "all"])
    p.add_argument("--misfire-max", type=int, default=10)
    p.add_argument("--json", action="store_true")


def cmd_etl_jobs(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    app = load_app(args.app, args.database_url)
    jobs = app.etl_jobs
    if args.action == "list":
        for job in jobs.list(args.tenant):
            nxt = job.next_run.isoformat(timespec="seconds") if job.next_run else "-"
            print(f"{job.id}  {job.tenant}/{job.name:24} {job.pipeline:16} {job.status:11} "
                  f"{'active' if job.active else 'inactive':8} next {nxt}" + (f"  {job.error}" if job.error else ""))
        return EXIT_OK
    if not args.target:
        raise SystemExit(f"usage: conveyor etl-jobs {args.action} JOB_ID")
    job = jobs.run_now(args.target) if args.action == "run" else jobs.reset(args.target)
    print(json.dumps(jobs.to_dict(job), indent=2, default=str))
    return EXIT_OK


def add_etl_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=["list", "run", "reset"])
    p.add_argument("target", nargs="?", help="the ETL job's id")
    p.add_argument("--tenant")
