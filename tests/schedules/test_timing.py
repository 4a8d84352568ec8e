"""Fire times without a database: cron in a time zone across DST, intervals, misfire policies, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conveyor.schedules.timing import ScheduleError, check_timing, due_times, first_fire, next_after

BERLIN = ZoneInfo("Europe/Berlin")


def fires(timing, start: datetime, n: int) -> list[datetime]:
    out, t = [], start
    for _ in range(n):
        t = next_after(timing, t)
        out.append(t)
    return out


def local(ts: list[datetime]) -> list[str]:
    return [t.astimezone(BERLIN).strftime("%m-%d %H:%M%z") for t in ts]


def test_daily_cron_keeps_wall_time_across_spring_forward() -> None:
    timing = check_timing("0 9 * * *", None, "Europe/Berlin")
    got = fires(timing, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert local(got) == ["03-29 09:00+0200", "03-30 09:00+0200"]
    assert [t.hour for t in got] == [7, 7]  # 09:00 CEST is 07:00 UTC (it was 08:00 UTC the day before)


def test_nonexistent_time_fires_once_at_the_jump() -> None:
    timing = check_timing("30 2 * * *", None, "Europe/Berlin")
    got = fires(timing, datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    assert local(got) == ["03-28 02:30+0100", "03-29 03:00+0200", "03-30 02:30+0200"]


def test_repeated_time_fires_once_when_clocks_fall_back() -> None:
    timing = check_timing("30 2 * * *", None, "Europe/Berlin")
    got = fires(timing, datetime(2026, 10, 23, 12, tzinfo=UTC), 3)
    assert local(got) == ["10-24 02:30+0200", "10-25 02:30+0200", "10-26 02:30+0100"]


def test_sub_hourly_cron_fires_every_real_slot_in_the_repeated_hour() -> None:
    timing = check_timing("*/30 * * * *", None, "Europe/Berlin")
    got = fires(timing, datetime(2026, 10, 24, 23, 40, tzinfo=UTC), 4)  # 01:40 CEST
    assert [(b - a).total_seconds() for a, b in zip(got, got[1:], strict=False)] == [1800.0, 1800.0, 1800.0]
    assert local(got) == ["10-25 02:00+0200", "10-25 02:30+0200", "10-25 02:00+0100", "10-25 02:30+0100"]


def test_interval_is_real_seconds_across_dst() -> None:
    timing = check_timing(None, 3600, "Europe/Berlin")
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    got = fires(timing, start, 3)
    assert [(t - start).total_seconds() for t in got] == [3600, 7200, 10800]


def test_on_time_fire() -> None:
    timing = check_timing(None, 60)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_times(timing, t, t - timedelta(seconds=1)) is None
    due = due_times(timing, t, t + timedelta(seconds=0.4))
    assert due is not None and due.fire == [t] and due.missed == 0 and due.next_fire_at == t + timedelta(seconds=60)


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("once", 1), ("all", 5)])
def test_misfire_policies_after_downtime(policy: str, expected: int) -> None:
    timing = check_timing(None, 60, misfire=policy, misfire_max=5)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    now = t + timedelta(hours=10, seconds=45)  # 600 fire times missed; the latest 45 s late: missed too
    due = due_times(timing, t, now)
    assert due is not None
    assert len(due.fire) == expected  # never a burst of 600
    assert due.next_fire_at == t + timedelta(hours=10, minutes=1)
    if expected:
        assert due.fire[-1] == t + timedelta(hours=10)  # the catch-up is the latest missed time
    assert due.fire == sorted(due.fire)


def test_skip_still_fires_the_latest_time_when_it_is_on_time() -> None:
    timing = check_timing(None, 60, misfire="skip")
    t = datetime(2026, 1, 1, tzinfo=UTC)
    due = due_times(timing, t, t + timedelta(minutes=30, seconds=5))
    assert due is not None and due.fire == [t + timedelta(minutes=30)] and due.missed >= 1


def test_misfire_all_with_cron_is_capped() -> None:
    timing = check_timing("* * * * *", None, misfire="all", misfire_max=3)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    due = due_times(timing, t, t + timedelta(days=3))
    assert due is not None and len(due.fire) == 3
    assert due.fire[-1] == t + timedelta(days=3)


def test_first_fire_is_after_now() -> None:
    now = datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    assert first_fire(check_timing("*/15 * * * *", None), now) == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(("cron", "interval", "tz", "misfire", "words"), [
    ("61 * * * *", None, "UTC", "skip", "Invalid cron"),
    ("not a cron", None, "UTC", "skip", "Invalid cron"),
    (None, 0, "UTC", "skip", "more than 0"),
    (None, -5, "UTC", "skip", "more than 0"),
    (None, float("nan"), "UTC", "skip", "more than 0"),
    (None, None, "UTC", "skip", "exactly one"),
    ("* * * * *", 60, "UTC", "skip", "exactly one"),
    ("* * * * *", None, "Mars/Olympus", "skip", "Unknown time zone"),
    ("* * * * *", None, "UTC", "sometimes", "Unknown misfire"),
])
def test_bad_timing_is_refused_clearly(cron, interval, tz, misfire, words) -> None:
    with pytest.raises(ScheduleError, match=words) as info:
        check_timing(cron, interval, tz, misfire)
    assert info.value.action
