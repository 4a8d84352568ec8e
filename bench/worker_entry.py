"""A Conveyor worker in its own OS process, for the processing benchmarks.

    python -m bench.worker_entry --url URL --concurrency 10 --worker-id bench-w1 [--queues default]

It serves the demo app (conveyor.demo:app) bound to URL, prints READY on stdout once it is
registered and claiming, stops gracefully on SIGTERM (a second SIGTERM hands jobs back at once).
Settings come from CONVEYOR_* environment variables like any worker.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from conveyor.demo import app
from conveyor.logs import configure_logging
from conveyor.worker import Worker


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--queues", default="default")
    args = parser.parse_args(argv)

    configure_logging("text", "WARNING")
    bound = app.with_database(args.url)
    worker = Worker(
        bound, args.queues.split(","), args.concurrency, worker_id=args.worker_id, install_signal_handlers=True
    )

    def announce() -> None:
        if worker.started.wait(60):
            sys.stdout.write("READY\n")
            sys.stdout.flush()

    threading.Thread(target=announce, name="bench-ready", daemon=True).start()
    try:
        worker.run()
    finally:
        bound.close()


if __name__ == "__main__":
    main()
