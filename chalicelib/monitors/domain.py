"""Monitors for scheduled functions (heartbeats): the registry, expected windows and run states (pure).

Every ``@schedule`` function of the app is listed in :data:`MONITORS` with the expression it is scheduled
with (a test keeps the two in step) and a grace period. :func:`next_fire` understands the expressions
the app uses: ``rate(N minutes|hours|days)`` and AWS 6-field ``cron(min hour dom month dow year)`` with
``*``, ``?``, numbers, lists, ranges and steps (UTC; day-of-week 1-7 from Sunday).

A monitor's *anchor* is the scheduled time of its last recorded run (the EventBridge event's ``time``),
or, before any run, the moment the watchdog first watched it. The next expected run is the first firing
after the anchor; once ``now`` passes it plus the grace period, that occurrence was missed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OK = "ok"
FAILED = "failed"
RUNNING = "running"
LATE = "late"
OUTCOMES = (OK, FAILED)
STATES = (OK, LATE, FAILED)
INCIDENT_AREA = "backend.monitors."  # + the monitor's name
ACTOR: dict[str, Any] = {"role": "system", "id": "monitor-watchdog"}
MAX_COUNTS = 50  # numeric results kept per run
RUN_TIMEOUT = timedelta(seconds=960)  # a Lambda's longest run (900 s) + a minute: a run still open after it died
MAX_STEPS = 10_000  # firings walked per question (an hourly cron over a year is 8,760)
RECENT_RUNS = 5  # runs GET /admin/monitors shows per monitor


@dataclass(frozen=True)
class Monitor:
    name: str  # the scheduled function's name (its Chalice ``name=``)
    expression: str  # rate(...) or cron(...), exactly as scheduled
    grace: timedelta  # how late a run may start before it counts as missed


MONITORS: dict[str, Monitor] = {
    m.name: m
    for m in (
        Monitor("daily_task_instances", "cron(0 * * * ? *)", timedelta(minutes=15)),
        Monitor("integrity_sweep", "rate(6 hours)", timedelta(minutes=30)),
    )
}

WATCHDOG = "monitor_watchdog"  # the watchdog's own schedule (not a monitor: it cannot watch itself)
WATCHDOG_EXPRESSION = "rate(5 minutes)"


# --- schedule expressions ----------------------------------------------------------------------

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def _field(text: str, lo: int, hi: int) -> frozenset[int]:
    """One cron field (``*``, ``?``, ``5``, ``1,3``, ``2-6``, ``*/15``, ``10-50/10``) → its values."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"cron step must be positive: {text!r}")
        if base in ("*", "?"):
            start, end = lo, hi
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(base)
            end = hi if step_text else start
        if not lo <= start <= end <= hi:
            raise ValueError(f"cron field {text!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int] | None  # None: '?'
    months: frozenset[int]
    dow: frozenset[int] | None  # AWS numbering 1 (Sunday) .. 7; None: '?'
    years: frozenset[int] | None  # None: any

    def matches_day(self, day: datetime) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.dom is not None and day.day not in self.dom:
            return False
        return self.dow is None or (day.isoweekday() % 7) + 1 in self.dow


def parse_cron(fields_text: str) -> _Cron:
    fields = fields_text.split()
    if len(fields) != 6:
        raise ValueError(f"AWS cron needs 6 fields (min hour dom month dow year), got {fields_text!r}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"AWS cron needs '?' in exactly one of day-of-month and day-of-week: {fields_text!r}")
    return _Cron(
        _field(minute, 0, 59),
        _field(hour, 0, 23),
        None if dom == "?" else _field(dom, 1, 31),
        _field(month, 1, 12),
        None if dow == "?" else _field(dow, 1, 7),
        None if year in ("*", "?") else _field(year, 1970, 2199),
    )


def validate(expression: str) -> None:
    """Raise ``ValueError`` for an expression :func:`next_fire` cannot answer."""
    next_fire(expression, datetime(2026, 1, 1, tzinfo=UTC))


def next_fire(expression: str, after: datetime) -> datetime | None:
    """The first firing strictly after ``after`` (UTC), or None when none comes within about a year."""
    expression = expression.strip()
    after = after.astimezone(UTC)
    if m := _RATE.match(expression):
        n = int(m.group(1))
        if n < 1:
            raise ValueError(f"rate must be positive: {expression!r}")
        return after + n * _UNIT[m.group(2).rstrip("s")]
    if m := _CRON.match(expression):
        cron = parse_cron(m.group(1))
        t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=400)
        while t <= limit:
            if not cron.matches_day(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in cron.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute in cron.minutes:
                return t
            t += timedelta(minutes=1)
        return None
    raise ValueError(f"unsupported schedule expression {expression!r} (use rate(...) or cron(...))")


# --- runs ---------------------------------------------------------------------------------------


def counts_of(result: Any) -> dict[str, int]:
    """The numbers a run returned (``{"created": 3}``; one level of nesting as ``check.found``), at most
    :data:`MAX_COUNTS`; booleans and everything else are left out."""
    out: dict[str, int] = {}
    if not isinstance(result, Mapping):
        return out

    def keep(key: str, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and len(out) < MAX_COUNTS:
            out[key[:100]] = value

    for key, value in result.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                keep(f"{key}.{sub}", inner)
        else:
            keep(str(key), value)
    return out


def run_key(scheduled_at: datetime, invocation_id: str) -> str:
    """A run's sort key: by scheduled time, then invocation (a retry of one invocation is the same run)."""
    return f"run#{stamp(scheduled_at)}#{invocation_id}"


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> datetime | None:
    """An EventBridge ``time`` (``2026-12-03T10:00:00Z``) as UTC, else None."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LastRun:
    """What the watchdog knows of a monitor's latest run (from its state row)."""

    key: str
    scheduled_at: datetime
    started_at: datetime
    outcome: str | None  # ok | failed | None (still running, or died without a word)


@dataclass(frozen=True)
class Verdict:
    state: str  # ok | late | failed
    next_expected: datetime | None  # the occurrence awaited (or missed)
    missed: datetime | None  # the latest missed occurrence, if any
    failed_run: str | None  # the run key of a failed last run


def outcome_of(last: LastRun, now: datetime) -> str | None:
    """A run still open after :data:`RUN_TIMEOUT` died (Lambda timeout, out of memory): it failed."""
    if last.outcome is None and now - last.started_at > RUN_TIMEOUT:
        return FAILED
    return last.outcome


def assess(monitor: Monitor, last: LastRun | None, watching_since: datetime | None, now: datetime) -> Verdict:
    """The monitor's state at ``now``: failed (its last run failed), late (an occurrence was missed) or ok."""
    anchor = last.scheduled_at if last is not None else watching_since or now
    expected = next_fire(monitor.expression, anchor)
    missed = None
    steps = 0
    while expected is not None and expected + monitor.grace < now and steps < MAX_STEPS:
        missed = expected
        expected = next_fire(monitor.expression, expected)
        steps += 1
    failed_run = last.key if last is not None and outcome_of(last, now) == FAILED else None
    state = FAILED if failed_run else LATE if missed else OK
    return Verdict(state, missed or expected, missed, failed_run)
