"""GitHub ETL benchmark (issue 16), separate from `python -m bench`:

    .venv/bin/python -m bench.github_sync [--engine postgres|sqlite] [--repositories 10] [--pull-requests 500]
                                          [--huge 20] [--workers 2] [--repeats 1]

A fake GitHub in its own process with 5,000 PRs by default (10 repositories of 500, and an empty
one), `huge` of them with 150 commits, 110 reviews and 120 comments each. Measured:

1. bare: one loop of httpx calls that sends the ETL's own queries -- the repositories page(s),
   every PR page (25 a page) and every follow-up page of every nested connection by node id --
   parses the JSON and keeps nothing. The floor any client pays.
2. conveyor: a full sync by the `github` pipeline with `workers` worker processes (each serving
   both GitHub queues, concurrency 4) into a scratch database: from start() to FINISHED.

Figures: both wall times, their ratio (target <= 2.0), PRs per second of the sync, the peak RSS
of each worker process (VmHWM). Results go to bench/results/<date>-github-<engine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.github_app import TOKEN_ENV
from bench.github_app import app as bench_app
from bench.pipelines import ROOT, database, drop, live, wait
from conveyor.etl.github.assemble import FOLLOW_QUERIES, PULL_REQUEST_FIELDS
from conveyor.etl.github.queries import load_query, operation_name


def start_fake(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    fake = subprocess.Popen(
        [sys.executable, "-m", "conveyor.etl.github.fake", "--repositories", str(args.repositories),
         "--pull-requests", str(args.pull_requests), "--huge", str(args.huge), "--huge-commits", "150",
         "--huge-reviews", "110", "--huge-comments", "120", "--huge-threads", "30", "--huge-thread-comments", "40",
         "--rate-limit", "10000000", "--secondary-per-minute", "1000000"],
        stdout=subprocess.PIPE, text=True, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert fake.stdout is not None
    line = fake.stdout.readline().split()
    if not line or line[0] != "READY":
        raise RuntimeError(f"the fake GitHub did not start: {line}")
    return fake, line[1], line[2]


class Bare:
    """The floor: the same queries, one after the other, nothing stored."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"})
        self.url = url
        self.requests = 0

    def post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        answer = self.http.post(self.url, json={"query": load_query(query), "variables": variables,
                                                "operationName": operation_name(query)})
        answer.raise_for_status()
        return answer.json()["data"]  # type: ignore[no-any-return]

    def follow(self, kind: str, field: str, node_id: str, connection: dict[str, Any]) -> list[Any]:
        items = list(connection.get("nodes") or connection.get("edges") or [])
        query = FOLLOW_QUERIES[(kind, field)]
        while connection["pageInfo"]["hasNextPage"]:
            connection = self.post(query, {"id": node_id, "cursor": connection["pageInfo"]["endCursor"],
                                           "pageSize": 100})["node"][field]
            items += connection.get("nodes") or connection.get("edges") or []
        return items

    def sync(self, owner: str) -> int:
        prs, cursor = 0, None
        repos = []
        while True:
            page = self.post("repositories", {"owner": owner, "cursor": cursor, "pageSize": 100})["repositoryOwner"]
            repos += page["repositories"]["nodes"]
            if not page["repositories"]["pageInfo"]["hasNextPage"]:
                break
            cursor = page["repositories"]["pageInfo"]["endCursor"]
        for repo in repos:
            cursor = None
            while True:
                connection = self.post("pull_requests", {"owner": owner, "name": repo["name"], "cursor": cursor,
                                                         "pageSize": 25})["repository"]["pullRequests"]
                for pr in connection["nodes"]:
                    prs += 1
                    for field in PULL_REQUEST_FIELDS:
                        pr[field]["nodes"] = self.follow("PullRequest", field, pr["id"], pr[field])
                    for thread in pr["reviewThreads"]["nodes"]:
                        self.follow("PullRequestReviewThread", "comments", thread["id"], thread["comments"])
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                cursor = connection["pageInfo"]["endCursor"]
        return prs


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stored_pull_requests(url: str) -> int:
    from sqlalchemy import func, select

    from conveyor.etl.db import shared_engine
    from conveyor.etl.github.tables import pull_requests

    with shared_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(pull_requests)).scalar_one())


def conveyor_sync(engine: str, url_fake: str, token: str, workers: int, tmp: Path) -> dict[str, Any]:
    url = database(engine, tmp)
    app = bench_app.with_database(url)
    app.migrate()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_DATABASE_URL": url, "CONVEYOR_LOG_LEVEL": "WARNING",
           TOKEN_ENV: token}
    procs = [subprocess.Popen([sys.executable, "-m", "conveyor", "worker", "--app", "bench.github_app:app",
                               "--queues", "github_extraction,github_transform", "--concurrency", "4"],
                              env=env, cwd=str(ROOT)) for _ in range(workers)]
    try:
        wait(lambda: live(app, "github_extraction") and live(app, "github_transform"), 60, "workers")
        started = time.perf_counter()
        run = app.pipelines["github"].start({"owner": "acme", "endpoint": url_fake, "token_env": TOKEN_ENV},
                                            tenant="bench")
        done = wait(lambda: (r := app.get_run(run.id)).finished and r, 3600, "the sync")
        wall = time.perf_counter() - started
        if done.state != "FINISHED":
            raise RuntimeError(f"the sync ended {done.state}: {done.error}")
        rss = [peak_rss_mb(p.pid) for p in procs]
        stages = done.status["steps"]["github_prs_with_nested"]["stages"]
        return {"wall_seconds": wall, "peak_rss_mb_per_worker": rss, "stored": stored_pull_requests(url),
                "stage_jobs": {name: s["done"] for name, s in stages.items()}}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        app.close()
        drop(engine, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--repositories", type=int, default=11, help="the fake's last one (from 4 on) is empty")
    parser.add_argument("--pull-requests", type=int, default=500, help="per repository")
    parser.add_argument("--huge", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    total = (args.repositories - (1 if args.repositories >= 4 else 0)) * args.pull_requests
    fake, url, token = start_fake(args)
    try:
        bare_times, runs = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                bare = Bare(url, token)
                started = time.perf_counter()
                assert bare.sync("acme") == total
                bare_times.append(time.perf_counter() - started)
                print(f"bare: {bare_times[-1]:.1f} s, {bare.requests} requests", file=sys.stderr)
                runs.append(conveyor_sync(args.engine, url, token, args.workers, Path(tmp)))
                if runs[-1]["stored"] != total:
                    raise RuntimeError(f"the sync stored {runs[-1]['stored']} pull requests, not {total}")
                print(f"conveyor: {runs[-1]['wall_seconds']:.1f} s", file=sys.stderr)
    finally:
        fake.terminate()
        fake.wait(30)
    bare_wall = statistics.median(bare_times)
    wall = statistics.median(r["wall_seconds"] for r in runs)
    result = {
        "engine": args.engine, "pull_requests": total, "huge_pull_requests": args.huge, "workers": args.workers,
        "bare_wall_seconds": round(bare_wall, 2), "bare_requests": bare.requests,
        "conveyor_wall_seconds": round(wall, 2), "ratio_conveyor_vs_bare": round(wall / bare_wall, 3),
        "target_ratio": 2.0, "pull_requests_per_second": round(total / wall, 1),
        "peak_rss_mb_per_worker": runs[-1]["peak_rss_mb_per_worker"], "stage_jobs": runs[-1]["stage_jobs"],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC).date().isoformat()}-github-{args.engine}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
