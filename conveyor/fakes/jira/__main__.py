"""Run the fake Jira in the foreground: python -m conveyor.fakes.jira --port 8089 --issues 200"""

from __future__ import annotations

import argparse
import time

from conveyor.fakes.jira import FakeJira, FakeJiraConfig


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Jira Cloud site on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--issues", type=int, default=60)
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--time-zone", default="Australia/Sydney")
    args = parser.parse_args()
    config = FakeJiraConfig(time_zone=args.time_zone)
    with FakeJira(seed=args.seed, issues=args.issues, projects=args.projects, config=config, port=args.port) as jira:
        print(f"fake Jira on {jira.url} (email {config.email}, API token {config.api_token}); Ctrl-C stops it",
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
