"""Jira run metrics as Prometheus counters, read from `jira_step_metrics` at scrape time: totals
per tenant, step and stage of API calls, pages, records, rate-limit hits, seconds parked and
retries. Rows are only ever added to, so the sums only grow, as counters must."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from conveyor.etl.db import shared_engine
from conveyor.etl.jira.tables import jira_step_metrics as M

log = logging.getLogger("conveyor.etl.jira")
COUNTERS = {"api_calls": "Jira API calls", "pages": "Jira answer pages stored", "records": "Records fetched or loaded",
            "rate_limit_hits": "Throttled Jira answers (429/503)", "parked_seconds": "Seconds parked or slept on rate limits",
            "retries": "Jira calls retried after 5xx or network errors", "items": "Items handled per stage"}


class JiraCollector(Collector):
    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[CounterMetricFamily]:
        columns = [func.sum(M.c[name]) for name in COUNTERS]
        query = select(M.c.tenant, M.c.step, M.c.stage, *columns).group_by(M.c.tenant, M.c.step, M.c.stage)
        try:
            with shared_engine(self.app.settings.database_url).connect() as conn:
                rows = conn.execute(query).all()
        except Exception as exc:  # tables not migrated yet, database down: the scrape still answers
            log.debug("jira metrics not read: %s", exc)
            return
        for i, (name, doc) in enumerate(COUNTERS.items()):
            family = CounterMetricFamily(f"conveyor_jira_{name}", doc, labels=["tenant", "step", "stage"])
            for row in rows:
                family.add_metric([row[0], row[1], row[2]], float(row[3 + i] or 0))
            yield family
