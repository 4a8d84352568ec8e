"""What the routes share: the Conveyor app, auth, limits, the event hub, metrics, the supervisor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from conveyor.api.auth import Authenticator
    from conveyor.api.events import EventHub
    from conveyor.api.limits import RateLimiter
    from conveyor.api.metrics import ApiMetrics
    from conveyor.app import Conveyor
    from conveyor.settings import Settings
    from conveyor.store import Store


@dataclass
class ApiContext:
    app: Conveyor
    authenticator: Authenticator
    limiter: RateLimiter
    hub: EventHub
    metrics: ApiMetrics
    supervisor: Any | None = None

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def settings(self) -> Settings:
        return self.app.settings


def get_ctx(conn: HTTPConnection) -> ApiContext:
    return conn.app.state.conveyor  # type: ignore[no-any-return]
