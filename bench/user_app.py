"""The app `python -m bench.user_way` runs as a user would: `conveyor worker --app bench.user_app:app`.

One task shaped like real work: it takes a ~100-byte dict and appends one line to a file. Its first
line reads the clock (CLOCK_MONOTONIC, system-wide on Linux, so comparable with the reading the
client took in another process before its enqueue call); the line written holds the order number
and that reading, so pickup latency is measured from the user's call to the task body.

The raw baselines (bench/user_raw.py) call the very same `body()`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from conveyor import Conveyor

app = Conveyor(app_path="bench.user_app:app")

OUT_ENV = "CONVEYOR_BENCH_OUT"  # the file each job appends its line to


def body(order: dict[str, Any], started_ns: int) -> None:
    """The task's work: one line appended to the output file."""
    with open(os.environ[OUT_ENV], "a") as out:
        out.write(f"{order['n']} {started_ns}\n")


@app.task(name="bench.record_order")
async def record_order(order: dict[str, Any]) -> None:
    started_ns = time.monotonic_ns()  # the task body's first line
    body(order, started_ns)


def order(i: int) -> dict[str, Any]:
    """A ~100-byte order: what a web app typically hands a background job."""
    return {"n": i, "customer": f"cust-{i % 997:05d}", "sku": "SKU-4411-B", "qty": 1 + i % 5,
            "email": "someone@example.com", "note": "gift wrap"}
