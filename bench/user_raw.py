"""Raw-SQL consumers for `python -m bench.user_way`: what a hand-written loop over psycopg achieves
with the same task body (bench.user_app.body) on the same table shape as bench/raw_sql.py.

    python -m bench.user_raw claim --dsn DSN     # claim 100 + run body + complete 100, until empty
    python -m bench.user_raw listen --dsn DSN    # LISTEN; on each NOTIFY claim, run body, complete

Both run in their own OS process, as a Conveyor worker does; `listen` prints READY once listening
and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

import psycopg

from bench.raw_sql import CHANNEL, CLAIM_BATCH, CLAIM_BATCH_SQL, COMPLETE_MANY_SQL, QUEUE, RESULT, TABLE
from bench.user_app import body

INSERT_NOTIFY_SQL = f"""
WITH ins AS (INSERT INTO {TABLE} (queue, priority, args) VALUES (%s, 0, %s::jsonb) RETURNING id)
SELECT pg_notify('{CHANNEL}', ins.id::text) FROM ins
"""


def drain(conn: psycopg.Connection) -> int:
    """Claim batches of 100, run the body of each job, complete the batch; until none is left."""
    params = {"queue": QUEUE, "limit": CLAIM_BATCH}
    done = 0
    while True:
        jobs = conn.execute(CLAIM_BATCH_SQL, params).fetchall()
        if not jobs:
            return done
        for _job_id, args in jobs:
            body(args, time.monotonic_ns())
        conn.execute(COMPLETE_MANY_SQL, (RESULT, [job[0] for job in jobs]))
        done += len(jobs)


def listen(dsn: str) -> None:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with psycopg.connect(dsn, autocommit=True) as listener, psycopg.connect(dsn, autocommit=True) as work:
        listener.execute(f"LISTEN {CHANNEL}")
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        while not stop:
            for _note in listener.notifies(timeout=0.5, stop_after=1):
                drain(work)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("claim", "listen"))
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args(argv)
    if args.mode == "claim":
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            cpu = time.process_time()
            drain(conn)
            sys.stdout.write(f"CPU {time.process_time() - cpu}\n")  # of the drain alone
    else:
        listen(args.dsn)


if __name__ == "__main__":
    main()
