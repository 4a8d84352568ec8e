"""Jira client overhead: a full read of a fake Jira (search/jql with changelogs, complete
changelogs topped up through bulkfetch) by conveyor's JiraClient, as a ratio to a bare httpx
loop that pages through the same endpoints with the same bodies and does nothing else.

    .venv/bin/python -m bench.jira_client --issues 2000 --repeats 3

The fake runs in its own process (python -m conveyor.fakes.jira), so its rendering does not
share a GIL with the client being measured. Prints one JSON object with medians.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from conveyor.etl.jira.client import ISSUE_SYSTEM_FIELDS, JiraClient
from conveyor.etl.jira.transport import BasicAuth
from conveyor.fakes.jira import FakeJiraConfig

JQL = 'project in ("ALPHA", "BETA", "TEAM") ORDER BY updated ASC'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def conveyor_read(url: str, cfg: FakeJiraConfig) -> int:
    with JiraClient(url, BasicAuth(cfg.email, cfg.api_token)) as client:
        issues = 0
        for page in client.search_pages(JQL, ISSUE_SYSTEM_FIELDS):
            client.complete_changelogs(page.items)
            issues += len(page.items)
        return issues


def bare_read(url: str, cfg: FakeJiraConfig) -> int:
    with httpx.Client(base_url=url, auth=(cfg.email, cfg.api_token), timeout=30) as http:
        body: dict[str, Any] = {"jql": JQL, "fields": list(ISSUE_SYSTEM_FIELDS), "maxResults": 100,
                                "expand": "changelog"}
        issues = 0
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
            if not page.get("nextPageToken"):
                return issues
            body["nextPageToken"] = page["nextPageToken"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg, port = FakeJiraConfig(), free_port()
    fake = subprocess.Popen([sys.executable, "-m", "conveyor.fakes.jira", "--port", str(port),
                             "--issues", str(args.issues)], stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        fake.stdout.readline()  # printed once it serves
        url = f"http://127.0.0.1:{port}"
        times: dict[str, list[float]] = {"conveyor": [], "bare": []}
        for _ in range(args.repeats):
            for name, read in (("bare", bare_read), ("conveyor", conveyor_read)):
                started = time.perf_counter()
                count = read(url, cfg)
                times[name].append(time.perf_counter() - started)
                assert count == args.issues, (name, count)
        conveyor, bare = statistics.median(times["conveyor"]), statistics.median(times["bare"])
        print(json.dumps({"issues": args.issues, "conveyor_seconds": round(conveyor, 3),
                          "bare_seconds": round(bare, 3), "ratio": round(conveyor / bare, 3),
                          "issues_per_second": round(args.issues / conveyor, 1)}))
    finally:
        fake.terminate()
        fake.wait(timeout=30)


if __name__ == "__main__":
    main()
