"""`conveyor search "..."` and `conveyor embeddings [counts|reindex]`."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILED = 0, 1


def cmd_search(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    from conveyor.etl.embeddings.search import search

    app = load_app(args.app, args.database_url)
    hits = search(app, args.query, tenant=args.tenant, source_type=args.source, project=args.project,
                  limit=args.limit, timeout=args.timeout)
    if args.json:
        print(json.dumps(hits, indent=2))
        return EXIT_OK
    if not hits:
        print("no matches")
    for i, h in enumerate(hits, 1):
        print(f"{i:2}. {h['score']:.3f}  {h['source_type']:6} {h['table']}/{h['external_id']}  {h.get('title') or ''}")
        if h.get("snippet"):
            print(f"           {h['snippet'][:160]}")
        if h.get("url"):
            print(f"           {h['url']}")
    return EXIT_OK


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="what to look for, in words")
    p.add_argument("--tenant", default="default")
    p.add_argument("--source", choices=["JIRA", "GITHUB"], help="only this source type")
    p.add_argument("--project", help="only this project")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the worker's answer")
    p.add_argument("--json", action="store_true")


def cmd_embeddings(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    from conveyor.cli_pipelines import _show
    from conveyor.etl.db import shared_engine
    from conveyor.etl.embeddings import bridge_table
    from conveyor.etl.embeddings.stage import reindex

    if args.action == "optimize":
        return optimize_store(args.json)
    app = load_app(args.app, args.database_url)
    if args.action == "counts":
        with shared_engine(app.settings.database_url).connect() as conn:
            counts = bridge_table.counts(conn, args.tenant)
        if args.json:
            print(json.dumps([{"source_type": s, "table": t, "entities": e, "points": p}
                              for (s, t), (e, p) in sorted(counts.items())], indent=2))
            return EXIT_OK
        if not counts:
            print(f"nothing embedded for tenant {args.tenant}")
        for (source_type, table), (entities, points) in sorted(counts.items()):
            print(f"{source_type:7} {table:24} {entities:8} rows {points:9} points")
        return EXIT_OK
    run = reindex(app, tenant=args.tenant, queue=args.queue, tables=args.table or None, per_item=args.per_item)
    if args.wait:
        deadline = time.monotonic() + args.wait
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.2)
            run = app.get_run(run.id)
    _show(run, args.json)
    return EXIT_OK if run.state in ("RUNNING", "READY", "FINISHED") else EXIT_FAILED


def optimize_store(as_json: bool) -> int:
    """Build the embedded store's HNSW graphs, offline: the folder must not be open elsewhere (stop
    the embedding worker first), as Qdrant Edge's build blocks its whole process."""
    from conveyor.etl.embeddings.config import EmbeddingSettings, open_store

    settings = EmbeddingSettings.from_env()
    store = open_store(settings)  # StoreLockedError, naming the owner, while a worker has it
    try:
        started = time.monotonic()
        store.optimize()
        seconds = time.monotonic() - started
    finally:
        store.close()
    figures = {"folder": settings.vector_dir, "seconds": round(seconds, 1)}
    print(json.dumps(figures) if as_json else f"indexes of {settings.vector_dir} built in {seconds:.1f} s")
    return EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["counts", "reindex", "optimize"],
                   help="counts: rows and points per source; reindex: re-embed the tenant as a pipeline run; "
                        "optimize: build the embedded store's HNSW graphs (with the embedding worker stopped)")
    p.add_argument("--tenant", default="default")
    p.add_argument("--table", action="append", help="reindex: only this source table (repeatable)")
    p.add_argument("--queue", default="embedding", help="reindex: the queue of the worker that owns the store")
    p.add_argument("--per-item", type=int, default=200, help="reindex: ids per embedding job")
    p.add_argument("--wait", type=float, metavar="SECONDS", help="reindex: wait for the run to end")
    p.add_argument("--json", action="store_true")
