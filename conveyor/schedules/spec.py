"""A schedule as users declare it (app.schedule, the API, the CLI) and as it is stored: checked
against the app's tasks and pipelines before anything is written."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from conveyor.schedules.timing import ScheduleError, Timing, check_timing
from conveyor.store.base import dumps

if TYPE_CHECKING:
    from conveyor.app import Conveyor

NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
TENANT = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass(frozen=True)
class ScheduleSpec:
    """What defines a schedule; two equal specs fire the same way."""

    name: str
    target_kind: str  # 'task' | 'pipeline'
    target: str
    cron: str | None = None
    interval: float | None = None
    timezone: str = "UTC"
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    tenant: str = "default"
    active: bool = True
    misfire: str = "skip"
    misfire_max: int = 10

    @property
    def timing(self) -> Timing:
        return check_timing(self.cron, self.interval, self.timezone, self.misfire, self.misfire_max)

    def same_definition(self, row: dict[str, Any]) -> bool:
        """The stored row fires the way this spec says (the active flag is not compared: an
        operator's pause of a schedule declared in code survives a restart)."""
        return (row["target_kind"], row["target"], row["cron"], row["interval_seconds"], row["timezone"],
                row["args"], row["kwargs"], row["misfire"], row["misfire_max"]) == (
                self.target_kind, self.target, self.cron, self.interval, self.timezone, self.args, self.kwargs,
                self.misfire, self.misfire_max)

    def columns(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "name": self.name, "target_kind": self.target_kind, "target": self.target,
                "cron": self.cron, "interval_seconds": self.interval, "timezone": self.timezone, "args": self.args,
                "kwargs": self.kwargs, "misfire": self.misfire, "misfire_max": self.misfire_max,
                "active": self.active}


def resolve_target(app: Conveyor, target: Any, kind: str | None = None) -> tuple[str, str]:
    """(kind, name) of a Task, a declared pipeline, or a name; an unknown one is refused."""
    name = getattr(target, "name", target)
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"A schedule's target must be a task or a pipeline, got {target!r}.",
                            action="Pass a registered task, a declared pipeline, or the name of one.")
    if kind not in (None, "task", "pipeline"):
        raise ScheduleError(f"Unknown target kind {kind!r}.", action="Use 'task' or 'pipeline'.")
    if kind == "pipeline" or (kind is None and name in app.pipelines):
        if name not in app.pipelines:
            known = ", ".join(sorted(app.pipelines)) or "none"
            raise ScheduleError(f"Unknown pipeline {name!r}.", action=f"Use one of the declared pipelines: {known}.")
        return "pipeline", name
    return "task", app.get_task(name).name  # UnknownTaskError names the registered tasks


def build_spec(app: Conveyor, name: str | None, target: Any, *, kind: str | None = None, cron: str | None = None,
               interval: float | None = None, timezone: str = "UTC", args: Any = None, kwargs: Any = None,
               tenant: str = "default", active: bool = True, misfire: str = "skip",
               misfire_max: int = 10) -> ScheduleSpec:
    """A checked spec: every mistake is a ScheduleError (or UnknownTaskError) before anything is written."""
    target_kind, target_name = resolve_target(app, target, kind)
    name = name or target_name
    if not isinstance(name, str) or not NAME.match(name):
        raise ScheduleError(f"Invalid schedule name {name!r}.", action="Use 1-200 letters, digits and _ . : -")
    if not isinstance(tenant, str) or not TENANT.match(tenant):
        raise ScheduleError(f"Invalid tenant {tenant!r}.", action="Use 1-100 letters, digits and _ . : -")
    args = list(args) if args is not None else []
    kwargs = dict(kwargs) if kwargs is not None else {}
    if not all(isinstance(k, str) for k in kwargs):
        raise ScheduleError("kwargs keys must be strings.", action="Pass kwargs as a JSON object.")
    try:
        dumps(args), dumps(kwargs)
    except Exception as exc:
        raise ScheduleError(f"Schedule {name!r}: arguments are not JSON: {exc}.",
                            action="Pass only JSON values (numbers, strings, lists, objects).") from None
    if target_kind == "task":
        task = app.get_task(target_name)
        task.signature.check(task.name, args, kwargs)
    elif args:
        raise ScheduleError(f"Schedule {name!r}: a pipeline takes params (kwargs), not positional args.",
                            action="Pass kwargs={...}: they become the run's params.")
    check_timing(cron, interval, timezone, misfire, misfire_max)
    return ScheduleSpec(name=name, target_kind=target_kind, target=target_name, cron=cron,
                        interval=float(interval) if interval is not None else None, timezone=timezone, args=args,
                        kwargs=kwargs, tenant=tenant, active=bool(active), misfire=misfire, misfire_max=misfire_max)


@dataclass
class Schedule:
    """A stored schedule with its next fire time and last outcome."""

    id: str
    tenant: str
    name: str
    target_kind: str
    target: str
    cron: str | None
    interval: float | None
    timezone: str
    args: list[Any]
    kwargs: dict[str, Any]
    misfire: str
    misfire_max: int
    active: bool
    in_code: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    last_job_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Schedule:
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        values["interval"] = row["interval_seconds"]
        return cls(**values)

    @property
    def timing(self) -> Timing:
        return check_timing(self.cron, self.interval, self.timezone, self.misfire, self.misfire_max)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        out["every"] = self.cron or f"every {self.interval:g} s"
        return out


def new_schedule_id() -> str:
    return str(uuid.uuid4())
