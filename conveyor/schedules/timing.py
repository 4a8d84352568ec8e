"""When a schedule fires: cron expressions (croniter) in the schedule's own time zone, fixed
intervals, and the misfire policy after downtime. Pure: every function takes "now".

Cron times are wall-clock times of the schedule's zone. Across a DST change that means: a time
that does not exist that day (02:30 when clocks jump from 02:00 to 03:00) fires once at the jump,
and a time that exists twice (02:30 when clocks fall back) fires once, at its first occurrence,
unless the hour field repeats by itself (`*/15 * * * *` fires every 15 real minutes). Intervals are
real seconds, so DST does not touch them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from conveyor.errors import InvalidJobError

MAX_CATCH_UP = 1000  # `all` never fires more than this many missed times, whatever misfire_max says
DEFAULT_GRACE = 60.0  # a fire time this late (seconds, at most half the period) is on time, not a misfire


class ScheduleError(InvalidJobError):
    """A schedule that cannot be accepted (bad cron, time zone, interval, target, policy)."""


class Misfire(StrEnum):
    SKIP = "skip"  # missed times are dropped: only the next future time fires
    ONCE = "once"  # one catch-up run for all the missed times
    ALL = "all"  # every missed time, at most misfire_max


@dataclass(frozen=True)
class Timing:
    cron: str | None = None
    interval: float | None = None
    timezone: str = "UTC"
    misfire: Misfire = Misfire.SKIP
    misfire_max: int = 10
    grace: float = DEFAULT_GRACE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def check_timing(cron: str | None, interval: float | None, timezone: str = "UTC", misfire: str = "skip",
                 misfire_max: int = 10) -> Timing:
    """A Timing, or ScheduleError saying exactly what is wrong."""
    if (cron is None) == (interval is None):
        raise ScheduleError("A schedule needs exactly one of cron or interval.",
                            action="Pass cron='*/5 * * * *' or interval=300 (seconds).")
    if cron is not None and (not isinstance(cron, str) or not croniter.is_valid(cron)
                             or len(cron.split()) not in (5, 6)):
        raise ScheduleError(f"Invalid cron expression {cron!r}.",
                            action="Use five fields: minute hour day-of-month month day-of-week, "
                                   "e.g. '*/15 * * * *' or '30 2 * * 1-5'.")
    if interval is not None:
        try:
            seconds = float(interval)
        except (TypeError, ValueError):
            raise ScheduleError(f"interval must be a number of seconds, got {interval!r}.",
                                action="Pass interval > 0, e.g. interval=300.") from None
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ScheduleError(f"interval must be more than 0 seconds, got {interval!r}.",
                                action="Pass interval > 0, e.g. interval=300.")
        interval = seconds
    try:
        if not isinstance(timezone, str) or not timezone:
            raise ValueError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"Unknown time zone {timezone!r}.",
                            action="Use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'.") from None
    try:
        policy = Misfire(misfire)
    except ValueError:
        raise ScheduleError(f"Unknown misfire policy {misfire!r}.", action="Use skip, once or all.") from None
    if not isinstance(misfire_max, int) or isinstance(misfire_max, bool) or not 1 <= misfire_max <= MAX_CATCH_UP:
        raise ScheduleError(f"misfire_max must be a whole number from 1 to {MAX_CATCH_UP}, got {misfire_max!r}.",
                            action="Pass e.g. misfire_max=10.")
    return Timing(cron=cron, interval=interval, timezone=timezone, misfire=policy, misfire_max=misfire_max)


def _repeated_wall_time(t: datetime, zone: ZoneInfo) -> bool:
    """t is the second occurrence of a wall time that exists twice (clocks fell back)."""
    naive = t.astimezone(zone).replace(tzinfo=None)
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and t.utcoffset() == second.utcoffset()


def _hour_repeats(cron: str) -> bool:
    return cron.split()[1].startswith("*")


def next_after(timing: Timing, t: datetime) -> datetime:
    """The first fire time strictly after t (UTC)."""
    if timing.interval is not None:
        return t + timedelta(seconds=timing.interval)
    assert timing.cron is not None
    zone = timing.zone
    it = croniter(timing.cron, t.astimezone(zone))
    while True:
        nxt: datetime = it.get_next(datetime)
        if _hour_repeats(timing.cron) or not _repeated_wall_time(nxt, zone):
            return nxt.astimezone(UTC)


def first_fire(timing: Timing, now: datetime) -> datetime:
    """A new (or changed, or re-activated) schedule's first fire time: the next one after now."""
    return next_after(timing, now)


def _latest_due(timing: Timing, start: datetime, now: datetime, limit: int) -> tuple[list[datetime], datetime]:
    """Up to `limit` of the latest fire times in [start, now], oldest first, and the next time after now."""
    if timing.interval is not None:
        step = timing.interval
        k = math.floor((now - start).total_seconds() / step)
        times = [start + timedelta(seconds=step * i) for i in range(max(0, k - limit + 1), k + 1)]
        return times, start + timedelta(seconds=step * (k + 1))
    assert timing.cron is not None
    zone = timing.zone
    back = croniter(timing.cron, (now + timedelta(microseconds=1)).astimezone(zone))
    times = []
    while len(times) < limit:
        t: datetime = back.get_prev(datetime).astimezone(UTC)
        if t < start:
            break
        if _hour_repeats(timing.cron) or not _repeated_wall_time(t, zone):
            times.append(t)
    times.reverse()
    return times, next_after(timing, now)


@dataclass(frozen=True)
class Due:
    fire: list[datetime]  # the times to fire now, oldest first
    missed: int  # due times dropped by the misfire policy (lower bound when very many)
    next_fire_at: datetime


def due_times(timing: Timing, next_fire_at: datetime, now: datetime) -> Due | None:
    """What a scheduler pass does with one schedule; None when it is not due yet."""
    if next_fire_at > now:
        return None
    limit = timing.misfire_max if timing.misfire is Misfire.ALL else 1
    times, following = _latest_due(timing, next_fire_at, now, limit + 1)
    if not times:  # the stored time was not a fire time of this expression (changed by hand)
        return Due([], 0, following)
    # On time: late by less than the grace, and by less than half the period (a 1-minute schedule
    # 50 s late has missed its slot).
    grace = min(timing.grace, (following - times[-1]).total_seconds() / 2)
    latest_on_time = (now - times[-1]).total_seconds() <= grace
    if timing.misfire is Misfire.SKIP:
        fire = times[-1:] if latest_on_time else []
    elif timing.misfire is Misfire.ONCE:
        fire = times[-1:]
    else:
        fire = times[-limit:]
    return Due(fire, max(0, len(times) - len(fire)), following)
