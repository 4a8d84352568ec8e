"""The demo pipeline `conveyor up` runs, so the Pipelines page shows a live run: a small ETL over
generated shop data, with the raw store, fan-out and two overlapping steps.

    customers: extract (pages of customers, saved raw) -> load
    orders:    extract (pages of orders, saved raw) -> transform (one item per order) -> load

Each stage does a little real work (JSON parsing, sums) and waits a little, so a run takes
about 15 s with the default worker and its grid visibly fills in.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from conveyor.app import Conveyor
from conveyor.context import JobContext

PIPELINE = "demo.shop_etl"
PAGE = 20  # records per fetched page
PAUSE = 0.05  # seconds each item's work "waits on the network"


def _page(kind: str, seed: int, page: int) -> list[dict[str, Any]]:
    """A page of made-up customers or orders, the same for the same seed."""
    rng = random.Random(f"{kind}-{seed}-{page}")
    if kind == "customers":
        return [{"id": page * PAGE + i, "name": f"Customer {page * PAGE + i}",
                 "country": rng.choice(["DE", "FR", "NL", "PL", "SE"])} for i in range(PAGE)]
    return [{"id": page * PAGE + i, "customer": rng.randrange(100),
             "lines": [{"sku": f"SKU-{rng.randrange(50):03d}", "qty": rng.randint(1, 4),
                        "price": round(rng.uniform(2, 80), 2)} for _ in range(rng.randint(1, 5))]}
            for i in range(PAGE)]


def register(app: Conveyor) -> None:
    """Declare the demo pipeline's stage tasks and the pipeline on `app` (queue default)."""

    @app.task(name="demo.etl.extract", queue="default", timeout=120)
    async def extract(ctx: JobContext, params: dict[str, Any]) -> int:
        """Fetch `pages` pages of the step's records (customers or orders); every response is kept
        raw and its row id emitted."""
        kind = ctx.stage[1] if ctx.stage else "orders"  # (run, step, stage): the step says what to fetch
        pages, seed = int(params.get("pages", 4)), int(params.get("seed", 0))
        for page in range(pages):
            await asyncio.sleep(PAUSE * 4)  # the "API call"
            body = json.dumps({"page": page, "items": _page(kind, seed, page)})
            ctx.emit(ctx.save_raw(body, source=f"demo-shop/{kind}", fingerprint=f"seed={seed}&page={page}"))
        return pages

    @app.task(name="demo.etl.split_orders", queue="default", timeout=60)
    async def split_orders(ctx: JobContext, raw_id: int) -> int:
        """Parse one stored page of orders and send each order on with its total."""
        page = json.loads(ctx.load_raw(raw_id))
        await asyncio.sleep(PAUSE)
        for order in page["items"]:
            total = round(sum(line["qty"] * line["price"] for line in order["lines"]), 2)
            ctx.emit({"order": order["id"], "customer": order["customer"], "total": total,
                      "items": sum(line["qty"] for line in order["lines"])})
        return len(page["items"])

    @app.task(name="demo.etl.load", queue="default", timeout=60)
    async def load(ctx: JobContext, record: Any) -> dict[str, Any]:
        """'Write' a record (a customers page, by its raw id, or one order) to the warehouse."""
        await asyncio.sleep(PAUSE)
        if isinstance(record, int):  # a raw customers page
            customers = json.loads(ctx.load_raw(record))["items"]
            return {"customers": len(customers), "countries": sorted({c["country"] for c in customers})}
        return {"order": record["order"], "total": record["total"]}

    app.pipeline(PIPELINE, steps=[
        {"name": "customers", "display_name": "Customers", "stages": [
            {"name": "extraction", "task": "demo.etl.extract"},
            {"name": "load", "task": "demo.etl.load"}]},
        {"name": "orders", "display_name": "Orders", "stages": [
            {"name": "extraction", "task": "demo.etl.extract"},
            {"name": "transform", "task": "demo.etl.split_orders"},
            {"name": "load", "task": "demo.etl.load"}]},
    ])


def start_demo_run(app: Conveyor, seed: int | None = None) -> str | None:
    """Start a demo run unless one is still going (then None)."""
    from conveyor.store.pipelines_common import RunFilter

    if app.runs.list(RunFilter(pipeline=PIPELINE, states=["READY", "RUNNING"]), limit=1):
        return None
    seed = random.randrange(1000) if seed is None else seed
    return app.pipelines[PIPELINE].start({"seed": seed, "pages": 4}).id
