"""Local dates, DST and occurrences (pure; no AWS)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.schedules.domain import ScheduleTimes, active_until_key
from chalicelib.tasks import domain as recurrence
from chalicelib.tasks.domain import TaskWindow

ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("posix/", "right/")))
DST_ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Europe/Chisinau", "Asia/Tehran"]


def hourly_ticks(start: datetime, hours: int) -> list[datetime]:
    base = start.replace(minute=0, second=0, microsecond=0)
    return [base + timedelta(hours=h) for h in range(hours)]


@settings(max_examples=300, deadline=None)
@given(
    tz=st.sampled_from(ZONES) | st.sampled_from(DST_ZONES),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 1), timezones=st.just(UTC)),
)
def test_hourly_ticks_reach_every_local_day_exactly_once(tz, start):
    """Over 4 days of hourly (minute 0) ticks, the dates the scheduler targets are exactly the local
    dates that exist in that window (no gap at a DST change), and each maps to one instance key."""
    ticks = hourly_ticks(start, 96)
    produced = [recurrence.local_date(tz, t) for t in ticks]
    # every local date that any instant of the window (15-minute resolution) falls on ...
    instants = [ticks[0] + timedelta(minutes=15 * i) for i in range(4 * 95 + 1)]
    existing = {recurrence.local_date(tz, t) for t in instants}
    # ... except a partial first/last day, is reached by a tick.
    inner = {d for d in existing if d not in (min(existing), max(existing))}
    assert inner <= set(produced)
    # dates never go backwards and never jump more than one day between ticks... unless the zone
    # itself skipped a day (Pacific/Apia, 30 Dec 2011): then no instant had that date either.
    for a, b in itertools.pairwise(produced):
        assert a <= b
        for skipped in recurrence.days(a + timedelta(days=1), b - timedelta(days=1)):
            assert skipped not in existing
    # instance keys: one per (task, local date), however many ticks hit the day
    keys = {("task-1", d.isoformat()) for d in produced}
    assert len(keys) == len(set(produced))


@settings(max_examples=200, deadline=None)
@given(
    tz=st.sampled_from(DST_ZONES),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2036, 12, 31)),
)
def test_dst_days_get_one_instance_each(tz, day):
    """Simulate the scheduler's key for every hourly tick of the 3 days around any date: the day in
    the middle gets exactly one instance (23-, 24- or 25-hour days alike)."""
    window = TaskWindow("t", tz, date(1999, 1, 1))
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    store: dict[tuple[str, str], int] = {}
    for tick in hourly_ticks(start, 72):
        due = recurrence.due_today(window, tick)
        if due is not None:
            store.setdefault(("t", due.isoformat()), 0)
            store[("t", due.isoformat())] += 1
    assert ("t", day.isoformat()) in store
    assert sum(1 for k in store if k[1] == day.isoformat()) == 1


def test_due_today_respects_window_and_zone():
    now = datetime(2025, 3, 30, 23, 30, tzinfo=UTC)  # already 31 March in Tokyo
    assert recurrence.due_today(TaskWindow("t", "Asia/Tokyo", date(2025, 3, 1)), now) == date(2025, 3, 31)
    assert recurrence.due_today(TaskWindow("t", "America/Los_Angeles", date(2025, 3, 1)), now) == date(2025, 3, 30)
    assert recurrence.due_today(TaskWindow("t", "UTC", date(2025, 4, 1)), now) is None  # not started
    assert recurrence.due_today(TaskWindow("t", "UTC", date(2025, 3, 1), date(2025, 3, 29)), now) is None  # ended


def test_backfill_dates_clamped_to_window_and_today():
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    w = TaskWindow("t", "UTC", date(2025, 3, 3), date(2025, 3, 20))
    assert recurrence.backfill_dates(w, date(2025, 3, 1), date(2025, 3, 31), now) == list(
        recurrence.days(date(2025, 3, 3), date(2025, 3, 10))
    )
    assert recurrence.backfill_dates(w, date(2025, 4, 1), date(2025, 4, 5), now) == []


def test_creation_never_makes_a_future_daily_instance():
    today = date(2025, 3, 10)
    assert recurrence.creation_date("daily", today, today) == today
    assert recurrence.creation_date("daily", date(2025, 3, 12), today) is None
    assert recurrence.creation_date("none", date(2025, 3, 12), today) == date(2025, 3, 12)


def test_weekly_and_one_off_occurrences():
    start = datetime(2025, 1, 6, 23, 30, tzinfo=UTC)  # Monday 23:30 UTC = Tuesday in Berlin
    weekly = ScheduleTimes(start, start + timedelta(hours=1), "weekly", date(2025, 2, 28), "Europe/Berlin")
    assert weekly.occurs_on(date(2025, 1, 7)) and weekly.occurs_on(date(2025, 1, 14))
    assert not weekly.occurs_on(date(2025, 1, 6)) and not weekly.occurs_on(date(2025, 3, 4))
    one = ScheduleTimes(start, start + timedelta(hours=1), "none", None, "UTC")
    assert one.occurs_on(date(2025, 1, 6)) and one.occurs_on(date(2025, 1, 7)) and not one.occurs_on(date(2025, 1, 8))
    assert active_until_key(ScheduleTimes(start, start, "weekly")) == "9999-12-31"


def test_earliest_today_is_never_after_any_zone():
    at = datetime(2025, 6, 1, 11, 59, tzinfo=UTC)
    floor = recurrence.earliest_today(at)
    assert all(recurrence.local_date(z, at) >= floor for z in ZONES)


def test_instance_writer_leases_outlive_the_lambdas_that_hold_them():
    """A run killed at its Lambda timeout stops writing before its lease expires, so runs never overlap."""
    import json
    from pathlib import Path

    from chalicelib.jobs.queues import QUEUES
    from chalicelib.tasks import domain as tasks

    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    default = config.get("lambda_timeout", 60)  # Chalice's default
    shard_job = QUEUES["jobs"].function_timeout  # the shard jobs run on the jobs queue's Lambda
    assert tasks.SHARD_JOB_BUDGET_S + tasks.SHARD_JOB_MIN_REMAINING_MS / 1000 <= shard_job  # a job stops well inside it
    for name, stage in config["stages"].items():
        api_timeout = stage.get("lambda_timeout", default)
        assert tasks.SCHEDULER_LEASE_S > shard_job + tasks.LEASE_MARGIN_S / 2, name
        assert tasks.BACKFILL_LEASE_S > api_timeout, name  # backfill holds it within one API request


def test_shard_of_is_stable_and_spreads_ids():
    from collections import Counter

    from chalicelib.core.db import new_id
    from chalicelib.tasks import domain as recurrence

    assert recurrence.shard_of("01JABCDEFGHJKMNPQRSTVWXYZ0") == recurrence.shard_of("01JABCDEFGHJKMNPQRSTVWXYZ0")
    counts = Counter(recurrence.shard_of(new_id()) for _ in range(25_600))
    assert len(counts) == recurrence.SHARDS and max(counts.values()) < 2 * 100  # ~100 each
    assert recurrence.lease_id(7) == "lease#instance-writer#007" and recurrence.shard_key(7) == "007"
