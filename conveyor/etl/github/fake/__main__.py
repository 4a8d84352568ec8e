"""The fake GitHub in its own process (benchmarks, the demo, trying the ETL by hand):

    python -m conveyor.etl.github.fake --port 8765 --repositories 10 --pull-requests 500 --huge 20

Prints one line `READY <graphql url> <token>` once it serves; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from conveyor.etl.github.fake.dataset import DatasetSpec
from conveyor.etl.github.fake.server import FakeGitHub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--owner", default="acme")
    parser.add_argument("--repositories", type=int, default=3)
    parser.add_argument("--pull-requests", type=int, default=30, help="per repository")
    parser.add_argument("--huge", type=int, default=1, help="PRs with huge nested connections")
    parser.add_argument("--huge-commits", type=int, default=250)
    parser.add_argument("--huge-reviews", type=int, default=120)
    parser.add_argument("--huge-comments", type=int, default=300)
    parser.add_argument("--huge-threads", type=int, default=130)
    parser.add_argument("--huge-thread-comments", type=int, default=120)
    parser.add_argument("--rate-limit", type=int, default=5000, help="GraphQL points per hour per login")
    parser.add_argument("--secondary-per-minute", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    spec = DatasetSpec(seed=args.seed, owner=args.owner, repositories=args.repositories,
                       pull_requests_per_repository=args.pull_requests, huge_pull_requests=args.huge,
                       huge_commits=args.huge_commits, huge_reviews=args.huge_reviews,
                       huge_comments=args.huge_comments, huge_threads=args.huge_threads,
                       huge_thread_comments=args.huge_thread_comments)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake = FakeGitHub(spec, rate_limit=args.rate_limit, secondary_per_minute=args.secondary_per_minute).start(args.port)
    try:
        sys.stdout.write(f"READY {fake.graphql_url} {fake.token}\n")
        sys.stdout.flush()
        stop.wait()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
