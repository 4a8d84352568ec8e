"""`conveyor pipelines [list|start|status|cancel|retry-step|reprocess]`."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from conveyor.pipelines import PipelineRun
from conveyor.store.pipelines_common import RunFilter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _grid(run: PipelineRun) -> str:
    """The steps x stages grid as text: state and done/outstanding/failed per cell."""
    lines = [f"run {run.id}  {run.pipeline}  {run.state}  tenant={run.tenant}  token={run.token}"]
    if run.error:
        lines.append(f"error: {run.error}")
    for name, step in run.status.get("steps", {}).items():
        cells = [f"{stage}={d['state']} ({d['done']} done, {d['queued'] + d['running']} outstanding, {d['failed']} failed)"
                 for stage, d in step.get("stages", {}).items()]
        lines.append(f"  {step['order']}. {name} [{step.get('state', '')}]: " + "; ".join(cells))
    return "\n".join(lines)


def _show(run: PipelineRun, as_json: bool) -> None:
    print(json.dumps(run.to_dict(), indent=2, default=str) if as_json else _grid(run))


def cmd_pipelines(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    app = load_app(args.app, args.database_url)
    runs = app.runs
    if args.action == "list":
        items = [p.declaration.to_dict() for p in app.pipelines.values()]
        if args.json:
            print(json.dumps(items, indent=2))
        for p in [] if args.json else items:
            print(p["name"])
            for s in p["steps"]:
                stages = " -> ".join(f"{st['name']}({st['task']}@{st['queue'] or 'task queue'})" for st in s["stages"])
                print(f"  {s['order']}. {s['name']} [{s['step_order']}, {s['on_failure']}]: {stages}")
        return EXIT_OK
    if args.action == "start":
        if not args.target:
            raise SystemExit("usage: conveyor pipelines start PIPELINE [--params JSON]")
        try:
            params = json.loads(args.params) if args.params else {}
        except ValueError as exc:
            from conveyor.pipelines import PipelineError
            raise PipelineError(f"--params is not JSON: {exc}.", action="Pass a JSON object, e.g. '{\"n\": 3}'.") from None
        run = runs.start(args.target, params, tenant=args.tenant, tier=args.tier, policy=args.policy)
        if args.wait:
            deadline = time.monotonic() + args.wait
            while not run.finished and time.monotonic() < deadline:
                time.sleep(0.2)
                run = runs.get(run.id)
        _show(run, args.json)
        return EXIT_OK if run.state in ("RUNNING", "READY", "FINISHED") else EXIT_FAILED
    if args.action == "status":
        if not args.target:
            shown = runs.list(RunFilter(), limit=args.limit)
            if args.json:
                print(json.dumps([r.to_dict() for r in shown], indent=2, default=str))
            for r in [] if args.json else shown:
                print(f"{r.id}  {r.pipeline:20} {r.state:9} {r.created_at:%Y-%m-%d %H:%M:%S}  {r.error or ''}")
            return EXIT_OK
        runs._require(args.target, None)
        _show(runs.get(args.target), args.json)
        return EXIT_OK
    if not args.target:
        raise SystemExit(f"usage: conveyor pipelines {args.action} RUN_ID")
    if args.action == "cancel":
        _show(runs.cancel(args.target), args.json)
    elif args.action == "retry-step":
        if not args.step:
            raise SystemExit("usage: conveyor pipelines retry-step RUN_ID --step STEP")
        print(f"requeued {runs.retry_step(args.target, args.step)} job(s)")
    elif args.action == "reprocess":
        if not args.from_stage:
            raise SystemExit("usage: conveyor pipelines reprocess RUN_ID --from-stage STAGE")
        _show(runs.reprocess(args.target, args.from_stage, policy=args.policy), args.json)
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "start", "status", "cancel", "retry-step", "reprocess"])
    p.add_argument("target", nargs="?", help="PIPELINE for start, RUN_ID for the others (status: all runs)")
    p.add_argument("--params", help="JSON object for start")
    p.add_argument("--tenant", default="default")
    p.add_argument("--tier")
    p.add_argument("--policy", choices=["refuse", "record_failed", "accept"])
    p.add_argument("--step", help="retry-step: the step")
    p.add_argument("--from-stage", help="reprocess: the stage to start at")
    p.add_argument("--wait", type=float, metavar="SECONDS", help="start: wait for the run to end")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
