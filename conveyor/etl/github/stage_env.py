"""What every GitHub stage attempt works with, and how GitHub's answers become job outcomes.

* `StageEnv`: the run (id, step, token, tenant, params), the domain engine, the raw writer and --
  when the stage calls GitHub -- a client; its figures (requests, pages, records, GraphQL points
  spent and remaining, throttled answers, seconds waited, retries, page halvings, a park) go to
  github_run_metrics when the attempt ends, however it ends.
* `github_outcomes`: a rate limit parks the job (worker freed, same attempt again at `resume_at`);
  a 401/plain 403 fails the step with GitHub's reason, and so do query errors, incomplete
  connections and missing raw pages (retrying cannot change them); 5xx/network errors retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from conveyor.errors import PermanentError
from conveyor.etl.db import shared_engine, upsert
from conveyor.etl.github.assemble import MissingFollowUp
from conveyor.etl.github.checkpoint import RawWriter
from conveyor.etl.github.client import GitHubClient
from conveyor.etl.github.errors import (
    GitHubPermissionError,
    GitHubQueryError,
    GitHubRateLimited,
    IncompleteConnection,
)
from conveyor.etl.github.settings import GitHubSettings, settings_from_params
from conveyor.etl.github.tables import github_run_metrics
from conveyor.etl.rate_limit import RateLimitParked

if TYPE_CHECKING:
    from conveyor.app import Conveyor
    from conveyor.context import JobContext

log = logging.getLogger("conveyor.etl.github")
INLINE_WAIT_SECONDS = 2.0  # a rate-limit wait up to this long is slept in place; longer ones park


@dataclass
class StageEnv:
    app: Conveyor
    ctx: JobContext
    engine: Engine
    params: dict[str, Any]
    client: GitHubClient | None = None
    settings: GitHubSettings | None = None
    pages: int = 0
    records: int = 0
    parked_until: datetime | None = None
    emitted: list[Any] = field(default_factory=list)
    attempt_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def run_id(self) -> str | None:
        return self.ctx.stage[0] if self.ctx.stage else None

    @property
    def step(self) -> str:
        return self.ctx.stage[1] if self.ctx.stage else ""

    @property
    def stage(self) -> str:
        return self.ctx.stage[2] if self.ctx.stage else ""

    @property
    def tenant(self) -> str:
        return self.ctx.tenant

    @property
    def token(self) -> str:
        return self.ctx.token

    @property
    def writer(self) -> RawWriter:
        return RawWriter(self.engine, self.run_id, self.step, self.tenant, self.token)

    def connect(self) -> GitHubClient:
        """The GitHub client of this attempt, from the run's settings (made once)."""
        if self.client is None:
            self.settings = settings_from_params(self.app.settings.database_url, self.tenant, self.params)
            self.client = GitHubClient(self.settings.token, self.settings.endpoint, max_inline_wait=INLINE_WAIT_SECONDS)
        return self.client

    def emit(self, *items: Any) -> None:
        self.emitted.extend(items)
        self.ctx.emit(*items)

    def record_metrics(self) -> None:
        c = self.client
        state = c.rate_limit if c else None
        row = {"attempt_id": self.attempt_id, "job_id": self.ctx.job_id, "attempt": self.ctx.attempt, "run_id": self.run_id, "tenant": self.tenant,
               "step": self.step, "stage": self.stage, "api_calls": c.requests_sent if c else 0, "pages": self.pages,
               "records": self.records, "points_spent": c.points_spent if c else 0,
               "points_remaining": state.remaining if state else None, "rate_reset_at": state.reset_at if state else None,
               "parked_until": self.parked_until, "updated_at": datetime.now(UTC),
               "rate_limit_hits": c.rate_limit_hits if c else 0, "waited_seconds": c.waited_seconds if c else 0.0,
               "retries": c.retries if c else 0, "page_shrinks": c.page_shrinks if c else 0}
        with self.engine.begin() as conn:
            upsert(conn, github_run_metrics, [row], keys=["attempt_id"])


_params: dict[str, dict[str, Any]] = {}  # run id -> its params (they never change)


def run_params(app: Conveyor, ctx: JobContext, item: Any) -> dict[str, Any]:
    """The run's params: the item itself for an entry stage, else read from the run (once per
    run and process)."""
    if isinstance(item, dict) and "page" not in item:
        return item
    run_id = ctx.stage[0] if ctx.stage else None
    if run_id is None:
        return {}
    if run_id not in _params:
        run = app.get_run(run_id)
        if len(_params) > 1000:
            _params.clear()
        _params[run_id] = dict(run.params) if run else {}
    return _params[run_id]


@contextmanager
def stage_env(app: Conveyor, ctx: JobContext, params: dict[str, Any]) -> Iterator[StageEnv]:
    env = StageEnv(app, ctx, shared_engine(app.settings.database_url), params)
    try:
        with github_outcomes(env):
            yield env
    finally:
        try:
            env.record_metrics()
        except Exception as exc:  # noqa: BLE001 - figures must never replace the attempt's own outcome
            log.warning("GITHUB_METRICS not recorded for job %s: %s: %s", env.ctx.job_id, type(exc).__name__, exc)
        finally:
            if env.client is not None:
                env.client.close()


@contextmanager
def github_outcomes(env: StageEnv) -> Iterator[None]:
    try:
        yield
    except GitHubRateLimited as exc:
        decision = exc.decision
        env.parked_until = decision.resume_at
        env.ctx.set_meta(parked_until=decision.resume_at.isoformat(), park_reason=decision.reason)
        wait = decision.seconds_from(datetime.now(UTC))
        raise RateLimitParked(decision.resume_at, wait, f"{decision.kind}: {decision.reason}",
                              env.client.endpoint if env.client else "GitHub") from exc
    except GitHubPermissionError as exc:
        raise PermanentError(str(exc)) from exc
    except (GitHubQueryError, IncompleteConnection, MissingFollowUp) as exc:
        raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
