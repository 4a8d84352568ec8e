"""Live job events over WebSockets.

ONE hub per server process subscribes once to the store's change feed (LISTEN/NOTIFY on
PostgreSQL, one poller over the updated_at index on SQLite). For each batch of changed ids it
fetches the jobs once, and only those someone watches, then fans the JSON out to the matching
connections through bounded asyncio queues. Clients never poll the jobs table.

Messages: {"type": "job", "job": <job JSON>} for each state change or progress update,
{"type": "deleted", "id": ...} for deletions, {"type": "resync"} when changes may have been
missed (the database feed reconnected: re-read what you show), {"type": "error", ...} before a
refused connection is closed (4401 no/invalid key, 4403 not allowed, 4404 no such job, 1013
client too slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from conveyor.api.auth import Caller, websocket_secret
from conveyor.api.errors import ApiError
from conveyor.api.schemas import QUEUE_PATTERN
from conveyor.api.state import get_ctx
from conveyor.api.ws_pump import pump
from conveyor.model import Job
from conveyor.store import Store
from conveyor.store.base import RESYNC

log = logging.getLogger("conveyor.api.events")
router = APIRouter()

FINISHED_EVENT_STATES = {"finished", "completed", "dead", "cancelled"}
SUBSCRIBER_QUEUE = 1000
KNOWN_JOBS = 20_000  # id -> (tenant, queue, task, token) of jobs seen, to route 'deleted' events


Message = tuple[str | None, datetime | None, dict[str, Any]]


@dataclass(eq=False)
class Subscriber:
    tenant: str | None  # None: every tenant
    queue: str | None = None
    task: str | None = None
    token: str | None = None
    job_id: str | None = None  # a /ws/jobs/{id} subscription
    inbox: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    sent: OrderedDict[str, datetime] = field(default_factory=OrderedDict)  # job id -> updated_at sent
    dropped: bool = False

    def matches(self, tenant: str, queue: str, task: str, token: str, job_id: str) -> bool:
        if self.job_id is not None:
            return job_id == self.job_id
        return ((self.tenant is None or tenant == self.tenant) and (self.queue is None or queue == self.queue)
                and (self.task is None or task == self.task) and (self.token is None or token == self.token))

    def fresh(self, job_id: str | None, version: datetime | None) -> bool:
        """Checked when sending: True when this version is newer than what the client last got,
        so a client never sees a job go back to an older state or the same version twice."""
        if job_id is None or version is None:
            return True
        last = self.sent.get(job_id)
        if last is not None and version <= last:
            return False
        self.sent[job_id] = version
        self.sent.move_to_end(job_id)
        while len(self.sent) > 5000:
            self.sent.popitem(last=False)
        return True

    def put(self, message: dict[str, Any], job: Job | None = None) -> None:
        if self.dropped:
            return
        try:
            self.inbox.put_nowait((job.id, job.updated_at, message) if job else (None, None, message))
        except asyncio.QueueFull:
            # The client reads slower than jobs change: close it; it reconnects and re-reads.
            self.dropped = True
            while not self.inbox.empty():
                self.inbox.get_nowait()
            self.inbox.put_nowait(None)


class EventHub:
    def __init__(
        self,
        store: Store,
        *,
        on_finished: Callable[[Job], None] | None = None,
        finished_fetch_rate: float = 50.0,
    ) -> None:
        self.store = store
        self.on_finished = on_finished
        self.finished_fetch_rate = finished_fetch_rate
        self._budget = finished_fetch_rate
        self._budget_at = time.monotonic()
        self.subscribers: set[Subscriber] = set()
        self._known: OrderedDict[str, tuple[str, str, str, str]] = OrderedDict()
        self._known_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[tuple[str, list[str]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.batches = 0  # processed event batches (tests, diagnostics)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="conveyor-event-hub")
        self._unsubscribe = await asyncio.to_thread(self.store.subscribe_events, self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self.subscribers):
            sub.put({"type": "error", "error": "The server is shutting down.", "action": "Reconnect shortly."})

    def _on_event(self, state: str, ids: list[str]) -> None:
        """Called from the store's listener thread: hand over to the event loop."""
        loop, inbox = self._loop, self._inbox
        if (not ids and state != RESYNC) or loop is None or inbox is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, (state, list(ids)))
        except RuntimeError:
            pass  # the loop closed while we were shutting down

    # -- subscriptions ----------------------------------------------------------------------
    def add(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def remember(self, job: Job) -> None:
        """Note a job's tenant and filters, so its 'deleted' event reaches only those allowed to see it.
        Thread-safe: routes call it from the thread pool."""
        with self._known_lock:
            self._known[job.id] = (job.tenant, job.queue, job.task, job.token)
            self._known.move_to_end(job.id)
            while len(self._known) > KNOWN_JOBS:
                self._known.popitem(last=False)

    # -- the pump ---------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._inbox is not None
        while True:
            state, ids = await self._inbox.get()
            batch: dict[str, set[str]] = {state: set(ids)}
            while not self._inbox.empty():  # coalesce whatever else arrived meanwhile
                more_state, more_ids = self._inbox.get_nowait()
                batch.setdefault(more_state, set()).update(more_ids)
            try:
                await self._process(batch)
            except Exception:  # the hub must outlive a bad batch or a database blip
                log.exception("event hub: processing a batch failed")
            self.batches += 1

    def _take_budget(self, wanted: int) -> int:
        now = time.monotonic()
        self._budget = min(self.finished_fetch_rate, self._budget + (now - self._budget_at) * self.finished_fetch_rate)
        self._budget_at = now
        granted = min(wanted, int(self._budget))
        self._budget -= granted
        return granted

    async def _process(self, batch: dict[str, set[str]]) -> None:
        if batch.pop(RESYNC, None) is not None:
            await self._resync()
        deleted = batch.pop("deleted", set())
        for job_id in deleted:
            self._fan_out_deleted(job_id)
        changed: set[str] = set().union(*batch.values()) if batch else set()
        changed -= deleted
        if not changed:
            return
        if any(s.job_id is None for s in self.subscribers):
            watched = set(changed)
        else:
            watched = {s.job_id for s in self.subscribers if s.job_id in changed}  # type: ignore[misc]
        finished: set[str] = set()  # for the metrics: fetched anyway when watched, else within a budget
        extra: set[str] = set()
        if self.on_finished is not None:
            finished = set().union(*(ids for st, ids in batch.items() if st in FINISHED_EVENT_STATES)) - deleted
            unwatched = sorted(finished - watched)
            extra = set(unwatched[: self._take_budget(len(unwatched))])
        wanted = sorted(watched | extra)
        if not wanted:
            return
        jobs = await asyncio.to_thread(self._fetch, wanted)
        for job in jobs:
            self.remember(job)
            if job.id in finished and job.finished and self.on_finished is not None:
                try:
                    self.on_finished(job)
                except Exception:  # metrics must never break the live feed
                    log.exception("event hub: finished-job callback failed")
            if job.id in watched:
                self._fan_out(job)

    async def _resync(self) -> None:
        """The store's feed lost events: single-job feeds get their job's current state, the
        others a {"type": "resync"} message telling them to re-read over REST."""
        for sub in list(self.subscribers):
            if sub.job_id is None:
                sub.put({"type": RESYNC})
        watched = sorted({s.job_id for s in self.subscribers if s.job_id is not None})
        if watched:
            for job in await asyncio.to_thread(self._fetch, watched):
                self._fan_out(job)

    def _fetch(self, ids: list[str]) -> list[Job]:
        return self.store.get_jobs(ids)

    def _fan_out(self, job: Job) -> None:
        message: dict[str, Any] | None = None
        for sub in list(self.subscribers):
            if sub.matches(job.tenant, job.queue, job.task, job.token, job.id):
                if message is None:
                    message = {"type": "job", "job": job.to_dict()}
                sub.put(message, job)

    def _fan_out_deleted(self, job_id: str) -> None:
        with self._known_lock:
            info = self._known.pop(job_id, None)
        message = {"type": "deleted", "id": job_id}
        for sub in list(self.subscribers):
            if sub.job_id is not None:
                hit = sub.job_id == job_id
            elif info is None:  # unknown tenant: only unfiltered all-tenant subscribers may hear of it
                hit = sub.tenant is None and sub.queue is None and sub.task is None and sub.token is None
            else:
                hit = sub.matches(*info, job_id)
            if hit:
                sub.put(message)


# -- WebSocket endpoints ----------------------------------------------------------------------------
async def _refuse(websocket: WebSocket, code: int, error: str, action: str) -> None:
    await websocket.accept()
    await websocket.send_json({"type": "error", "error": error, "action": action})
    await websocket.close(code=code, reason=error[:120])


async def _authenticate(websocket: WebSocket) -> Caller | None:
    ctx = get_ctx(websocket)
    try:
        return await asyncio.to_thread(ctx.authenticator.resolve, websocket_secret(websocket))
    except ApiError as exc:
        await _refuse(websocket, 4401, exc.error, exc.action)
        return None


async def _pump(websocket: WebSocket, sub: Subscriber) -> None:
    """Send the subscriber's messages until the client goes away (or is too slow)."""

    async def send_forever() -> None:
        while True:
            item = await sub.inbox.get()
            if item is None:
                await websocket.close(code=1013, reason="client too slow: reconnect")
                return
            job_id, version, message = item
            if sub.fresh(job_id, version):
                await websocket.send_json(message)

    await pump(websocket, send_forever)


def _text_param(websocket: WebSocket, name: str) -> str | None:
    value = websocket.query_params.get(name) or None
    if value is not None and ("\x00" in value or len(value) > 200):
        raise ValueError(name)
    return value


@router.websocket("/ws/events")
async def ws_events(websocket: WebSocket) -> None:
    """Every job change the key may see; filters: ?queue=&task=&tenant=&token=."""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    try:
        queue, task, tenant, token = (_text_param(websocket, n) for n in ("queue", "task", "tenant", "token"))
        if queue is not None and not re.match(QUEUE_PATTERN, queue):
            raise ValueError("queue")
    except ValueError as exc:
        await _refuse(websocket, 4422, f"Invalid query parameter {exc}.", "Fix the parameter and reconnect.")
        return
    try:
        scope = caller.tenant_filter(tenant)
    except ApiError as exc:
        await _refuse(websocket, 4403, exc.error, exc.action)
        return
    hub = get_ctx(websocket).hub
    sub = Subscriber(tenant=scope, queue=queue, task=task, token=token)
    hub.add(sub)
    try:
        await websocket.accept()
        await _pump(websocket, sub)
    finally:
        hub.remove(sub)


@router.websocket("/ws/jobs/{job_id}")
async def ws_job(websocket: WebSocket, job_id: str) -> None:
    """One job: its current state first, then every change."""
    caller = await _authenticate(websocket)
    if caller is None:
        return
    try:
        canonical = str(uuid.UUID(job_id))
    except ValueError:
        await _refuse(websocket, 4404, f"No job {job_id[:64]}.", "Check the id.")
        return
    ctx = get_ctx(websocket)
    sub = Subscriber(tenant=caller.tenant, job_id=canonical)
    ctx.hub.add(sub)  # before reading the job, so no change between the read and the feed is lost
    try:
        job = await asyncio.to_thread(ctx.store.get_job, canonical, caller.tenant)
        if job is None:
            await _refuse(websocket, 4404, f"No job {canonical}.", "Check the id; list jobs with GET /api/jobs.")
            return
        ctx.hub.remember(job)
        await websocket.accept()
        sub.fresh(job.id, job.updated_at)
        await websocket.send_json({"type": "job", "job": job.to_dict()})
        await _pump(websocket, sub)
    finally:
        ctx.hub.remove(sub)
        if websocket.application_state == WebSocketState.CONNECTED and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
