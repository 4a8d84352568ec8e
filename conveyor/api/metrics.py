"""Prometheus metrics at GET /metrics.

Queue and worker gauges are read from the store at scrape time by a custom collector (the
store's per-queue counts come from partial indexes, never a scan of the finished history). The
enqueue counter counts this API's enqueues; the duration and pickup-latency histograms are fed by
the finished-job events the event hub sees (sampled above its fetch budget under heavy load).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from conveyor.api.auth import Viewer
from conveyor.api.errors import ApiError
from conveyor.api.state import get_ctx
from conveyor.model import Job

if TYPE_CHECKING:
    from conveyor.app import Conveyor

log = logging.getLogger("conveyor.api.metrics")

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class StoreCollector(Collector):
    """Reads queue_stats and list_workers when Prometheus scrapes."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        liveness = self.app.settings.liveness_timeout
        up = GaugeMetricFamily("conveyor_database_up", "1 when the last scrape could read the database")
        try:
            stats = self.app.store.queue_stats(liveness)
            workers = self.app.store.list_workers(liveness)
        except Exception as exc:  # a scrape must answer even when the database is down
            log.warning("metrics: cannot read the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("conveyor_jobs", "Jobs per queue and state (active and dead-letter states)",
                                 labels=["queue", "state"])
        oldest = GaugeMetricFamily("conveyor_queue_oldest_ready_seconds",
                                   "Age of the oldest ready (queued) job; 0 when none", labels=["queue"])
        live = GaugeMetricFamily("conveyor_live_workers", "Live running workers serving the queue",
                                 labels=["queue"])
        done = GaugeMetricFamily("conveyor_jobs_completed_last_minute", "Jobs completed in the last minute",
                                 labels=["queue"])
        paused = GaugeMetricFamily("conveyor_queue_paused", "1 when the queue is paused", labels=["queue"])
        stranded = GaugeMetricFamily("conveyor_queue_stranded",
                                     "1 when jobs are ready and no live worker serves the queue", labels=["queue"])
        for s in stats:
            for state, n in s.counts.items():
                jobs.add_metric([s.name, state], n)
            oldest.add_metric([s.name], s.oldest_ready_age or 0.0)
            live.add_metric([s.name], s.live_workers)
            done.add_metric([s.name], s.completed_last_minute)
            paused.add_metric([s.name], 1 if s.paused else 0)
            stranded.add_metric([s.name], 1 if s.stranded else 0)
        yield from (jobs, oldest, live, done, paused, stranded)
        by_state = GaugeMetricFamily("conveyor_workers", "Workers known to the database by state",
                                     labels=["state"])
        counts: dict[str, int] = {}
        for w in workers:
            state = w.state if w.alive or w.state in ("stopped", "dead") else "dead"
            counts[state] = counts.get(state, 0) + 1
        for state, n in sorted(counts.items()):
            by_state.add_metric([state], n)
        yield by_state


class ApiMetrics:
    def __init__(self, app: Conveyor) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(app))
        from conveyor.etl.jira.prometheus import JiraCollector

        self.registry.register(JiraCollector(app))  # Jira run metrics (issue #15)
        from conveyor.etl.github.prometheus import GitHubCollector

        self.registry.register(GitHubCollector(app))  # GitHub run metrics (issue #16)
        self.enqueue_counter = Counter(
            "conveyor_api_enqueued", "Enqueue requests answered by this API process",
            ["queue", "outcome"], registry=self.registry,
        )
        self.duration = Histogram(
            "conveyor_job_duration_seconds", "Duration of the final attempt of finished jobs",
            ["queue", "state"], buckets=DURATION_BUCKETS, registry=self.registry,
        )
        self.pickup = Histogram(
            "conveyor_job_pickup_latency_seconds", "From ready (enqueued) to started, for finished jobs",
            ["queue"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def enqueued(self, queue: str, outcome: str) -> None:
        self.enqueue_counter.labels(queue=queue, outcome=outcome).inc()

    def observe_finished(self, job: Job) -> None:
        if job.started_at is None or job.finished_at is None:
            return  # failed at enqueue, or cancelled before it ran
        key = (job.id, job.finished_at.isoformat())
        with self._lock:
            if key in self._seen:
                return
            self._seen[key] = None
            while len(self._seen) > 50_000:
                self._seen.popitem(last=False)
        duration = (job.finished_at - job.started_at).total_seconds()
        if duration >= 0:
            self.duration.labels(queue=job.queue, state=job.state.value).observe(duration)
        if job.queued_at is not None:
            latency = (job.started_at - job.queued_at).total_seconds()
            if latency >= 0:
                self.pickup.labels(queue=job.queue).observe(latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, caller: Viewer) -> Response:
    if caller.tenant is not None:
        raise ApiError(
            403, "Metrics cover every tenant; this API key is bound to one.",
            action="Scrape with a key of every tenant: conveyor apikey create --role viewer --tenant '*'",
        )
    return Response(get_ctx(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
