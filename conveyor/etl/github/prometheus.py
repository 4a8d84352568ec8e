"""GitHub run metrics as Prometheus series, read from `github_run_metrics` at scrape time, as the
Jira ones are: per tenant, step and stage the stage attempts, API calls, pages, records, GraphQL
points spent, rate-limit parks, throttled answers, seconds waited, retries and page halvings (counters: rows are only ever added to or grown), and per
tenant the GraphQL points left at the latest answer (a gauge, with the window's reset time)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from conveyor.etl.db import shared_engine
from conveyor.etl.github.tables import github_run_metrics as M

log = logging.getLogger("conveyor.etl.github")
COUNTERS = {"attempts": "GitHub stage attempts", "api_calls": "GitHub GraphQL and REST requests sent",
            "pages": "GitHub answer pages stored", "records": "Records loaded from GitHub",
            "points_spent": "GitHub GraphQL rate-limit points spent", "parks": "Stage jobs parked by a GitHub rate limit",
            "rate_limit_hits": "Throttled GitHub answers (slept through or parked)",
            "waited_seconds": "Seconds slept in place on short GitHub rate-limit waits",
            "retries": "GitHub calls retried after 5xx or network errors",
            "page_shrinks": "GitHub page sizes halved on 502/504 or resource limits"}


class GitHubCollector(Collector):
    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        c = M.c
        sums = select(c.tenant, c.step, c.stage, func.count().label("attempts"), func.sum(c.api_calls),
                      func.sum(c.pages), func.sum(c.records), func.sum(c.points_spent),
                      func.count(c.parked_until), func.sum(c.rate_limit_hits), func.sum(c.waited_seconds),
                      func.sum(c.retries), func.sum(c.page_shrinks)).group_by(c.tenant, c.step, c.stage)
        newest = select(c.tenant, func.max(c.updated_at).label("at")).where(
            c.points_remaining.is_not(None)).group_by(c.tenant).subquery()
        left = select(c.tenant, c.points_remaining, c.rate_reset_at).join(
            newest, (newest.c.tenant == c.tenant) & (newest.c.at == c.updated_at)).where(c.points_remaining.is_not(None))
        try:
            with shared_engine(self.app.settings.database_url).connect() as conn:
                rows, remaining = conn.execute(sums).all(), conn.execute(left).all()
        except Exception as exc:  # tables not migrated yet, database down: the scrape still answers
            log.debug("github metrics not read: %s", exc)
            return
        for i, (name, doc) in enumerate(COUNTERS.items()):
            family = CounterMetricFamily(f"conveyor_github_{name}", doc, labels=["tenant", "step", "stage"])
            for row in rows:
                family.add_metric([row[0], row[1], row[2]], float(row[3 + i] or 0))
            yield family
        points = GaugeMetricFamily("conveyor_github_points_remaining",
                                   "GitHub GraphQL points left at the latest answer", labels=["tenant"])
        reset = GaugeMetricFamily("conveyor_github_rate_limit_reset_timestamp_seconds",
                                  "When that GraphQL rate-limit window resets (Unix time)", labels=["tenant"])
        seen: set[str] = set()
        for tenant, points_left, reset_at in remaining:
            if tenant in seen:  # two attempts ending in the same instant: either is the latest
                continue
            seen.add(tenant)
            points.add_metric([tenant], float(points_left))
            if reset_at is not None:
                reset.add_metric([tenant], reset_at.timestamp())
        yield points
        yield reset
