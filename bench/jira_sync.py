"""A full Jira sync through the pipeline, with real worker processes, against a fake Jira with
N issues (every 97th with 101-180 histories): wall time as a ratio to a bare httpx client that
only pages through the same endpoints (target <= 2.0; the bare read runs before and after the
sync, and the ratio is to their mean), issues per second, and the peak RSS of each worker
process (target <= 300 MB, no growth from 10,000 to 50,000 issues).

    .venv/bin/python -m bench.jira_sync --issues 10000 --engine postgres

The fake runs in its own process, and the bare client reads it the same way the sync does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.jira_client import free_port
from bench.pipelines import ROOT, database, drop
from conveyor.etl.jira.client import ISSUE_SYSTEM_FIELDS
from conveyor.fakes.jira import FakeJiraConfig

QUEUES = {"extraction": 2, "transform": 4}


def bare_full_read(url: str, cfg: FakeJiraConfig) -> int:
    """What a sync reads, with nothing done to it: projects, statuses, fields, the issue search
    with explicit fields and changelogs, bulkfetch top-ups, long comment lists, dev-status."""
    with httpx.Client(base_url=url, auth=(cfg.email, cfg.api_token), timeout=60) as http:
        projects = http.get("/rest/api/3/project/search", params={"expand": "issueTypes,description"}).json()
        keys = [p["key"] for p in projects["values"]]
        http.get("/rest/api/3/issuetype")
        http.get("/rest/api/3/status")
        http.get("/rest/api/3/issueLinkType")
        for p in projects["values"]:
            http.get("/rest/api/3/statuses/search", params={"projectId": p["id"]})
        fields = http.get("/rest/api/3/field").json()
        custom = [f["id"] for f in fields if f.get("custom")]
        development = next((f["id"] for f in fields if "development" in f["name"].lower()), None)
        jql = "project in (" + ", ".join(f'"{k}"' for k in keys) + ") ORDER BY updated ASC"
        http.post("/rest/api/3/search/approximate-count", json={"jql": jql})
        body: dict[str, Any] = {"jql": jql, "fields": [*ISSUE_SYSTEM_FIELDS, *custom], "maxResults": 100,
                                "expand": "changelog"}
        issues, with_prs = 0, []
        while True:
            page = http.post("/rest/api/3/search/jql", json=body).json()
            issues += len(page["issues"])
            long = [i["id"] for i in page["issues"] if i["changelog"]["total"] > len(i["changelog"]["histories"])]
            token = None
            while long:
                bulk = http.post("/rest/api/3/changelog/bulkfetch", json={
                    "issueIdsOrKeys": long, "maxResults": 1000, **({"nextPageToken": token} if token else {})}).json()
                token = bulk.get("nextPageToken")
                if not token:
                    break
            for issue in page["issues"]:
                comments = issue["fields"].get("comment") or {}
                if comments.get("total", 0) > len(comments.get("comments") or []):
                    http.get(f"/rest/api/3/issue/{issue['id']}/comment", params={"startAt": 0, "maxResults": 100})
                if development and issue["fields"].get(development) not in (None, "{}", ""):
                    with_prs.append(issue["id"])
            if not page.get("nextPageToken"):
                break
            body["nextPageToken"] = page["nextPageToken"]
        for issue_id in with_prs:
            summary = http.get("/rest/dev-status/1.0/issue/summary", params={"issueId": issue_id}).json()
            by_type = summary["summary"]["pullrequest"]["byInstanceType"]
            for kind in [k for k, v in by_type.items() if v.get("count")]:
                http.get("/rest/dev-status/1.0/issue/detail",
                         params={"issueId": issue_id, "applicationType": kind, "dataType": "pullrequest"})
        return issues


def timed_bare(url: str, cfg: FakeJiraConfig, issues: int) -> float:
    started = time.perf_counter()
    count = bare_full_read(url, cfg)
    assert count == issues, count
    return time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_sync(url: str, jira_url: str, cfg: FakeJiraConfig, issues: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVEYOR_DATABASE_URL": url, "CONVEYOR_LOG_LEVEL": "WARNING"}
    os.environ.update({k: env[k] for k in ("CONVEYOR_SECRET_KEY",)})
    from bench.jira_app import app
    from conveyor.etl.jira.pipeline import start_sync
    from conveyor.integrations import Integrations

    bound = app.with_database(url)
    bound.migrate()
    integration = Integrations(url).create(tenant="bench", type="jira", name="bench", base_url=jira_url,
                                           credentials={"email": cfg.email, "api_token": cfg.api_token})
    workers = {queue: subprocess.Popen(
        [sys.executable, "-m", "conveyor", "worker", "--app", "bench.jira_app:app", "--queues", queue,
         "--concurrency", str(n)], env=env, cwd=str(ROOT)) for queue, n in QUEUES.items()}
    try:
        deadline = time.monotonic() + 60
        while bound.store.live_worker_count("transform", 15.0)[0] == 0 or \
                bound.store.live_worker_count("extraction", 15.0)[0] == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not come up")
            time.sleep(0.1)
        started = time.perf_counter()
        run = start_sync(bound, integration.id, tenant="bench", full=True)
        while not (current := bound.get_run(run.id)) or not current.finished:
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        if current.state != "FINISHED":
            raise RuntimeError(f"sync ended {current.state}: {current.error}")
        rss = {queue: round(peak_rss_mb(p.pid), 1) for queue, p in workers.items()}
        stages = {f"{step}/{stage}": round((datetime.fromisoformat(d["last_finish"])
                                            - datetime.fromisoformat(d["first_start"])).total_seconds(), 2)
                  for step, s in current.status["steps"].items() for stage, d in s["stages"].items()
                  if d.get("first_start") and d.get("last_finish")}
    finally:
        for p in workers.values():
            p.terminate()
        for p in workers.values():
            p.wait(30)
        bound.close()
    return {"seconds": seconds, "peak_rss_mb": rss, "stage_seconds": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--no-bare", action="store_true", help="sync only (peak RSS at a size where the bare reads take long)")
    args = parser.parse_args()
    os.environ.setdefault("CONVEYOR_SECRET_KEY", Fernet.generate_key().decode())
    cfg, port = FakeJiraConfig(), free_port()
    fake = subprocess.Popen([sys.executable, "-m", "conveyor.fakes.jira", "--port", str(port),
                             "--issues", str(args.issues)], stdout=subprocess.PIPE, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = database(args.engine, Path(tmp))
        try:
            assert fake.stdout is not None
            fake.stdout.readline()  # printed once it serves
            jira_url = f"http://127.0.0.1:{port}"
            # The bare read before and after the sync: on a shared machine the load moves during a
            # run, and the ratio is taken against the mean of the two.
            load = [os.getloadavg()[0]]
            bares = [] if args.no_bare else [timed_bare(jira_url, cfg, args.issues)]
            load.append(os.getloadavg()[0])
            sync = run_sync(url, jira_url, cfg, args.issues)
            load.append(os.getloadavg()[0])
            bares += [] if args.no_bare else [timed_bare(jira_url, cfg, args.issues)]
            load.append(os.getloadavg()[0])
            bare = sum(bares) / len(bares) if bares else float("nan")
            print(json.dumps({"issues": args.issues, "engine": args.engine, "sync_seconds": round(sync["seconds"], 2),
                              "bare_seconds": round(bare, 2), "bare_runs": [round(b, 2) for b in bares],
                              "load_1min": [round(x, 1) for x in load], "ratio": round(sync["seconds"] / bare, 2),
                              "issues_per_second": round(args.issues / sync["seconds"], 1),
                              "peak_rss_mb": sync["peak_rss_mb"], "stage_seconds": sync["stage_seconds"]}))
        finally:
            fake.terminate()
            fake.wait(timeout=30)
            drop(args.engine, url)


if __name__ == "__main__":
    main()
