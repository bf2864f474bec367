"""Monitors: schedule expressions, counts and the expected window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.monitors import domain
from chalicelib.monitors.domain import LastRun, Monitor, assess, next_fire


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 * * * ? *)", "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z"),  # strictly after
        ("cron(0 * * * ? *)", "2026-12-03T10:59:59Z", "2026-12-03T11:00:00Z"),
        ("cron(0 * * * ? *)", "2026-12-31T23:30:00Z", "2027-01-01T00:00:00Z"),
        ("cron(15,45 8-9 * * ? *)", "2026-12-03T09:50:00Z", "2026-12-04T08:15:00Z"),
        ("cron(*/20 * * * ? *)", "2026-12-03T10:41:00Z", "2026-12-03T11:00:00Z"),
        ("cron(0 6 ? * 2 *)", "2026-12-03T00:00:00Z", "2026-12-07T06:00:00Z"),  # 2 = Monday in AWS cron
        ("cron(0 0 1 * ? 2027)", "2026-12-03T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("rate(6 hours)", "2026-12-03T10:07:00Z", "2026-12-03T16:07:00Z"),
        ("rate(1 minute)", "2026-12-03T10:07:00Z", "2026-12-03T10:08:00Z"),
        ("rate(2 days)", "2026-12-03T10:07:00Z", "2026-12-05T10:07:00Z"),
    ],
)
def test_next_fire(expression, after, expected):
    assert next_fire(expression, t(after)) == t(expected)


def test_a_cron_that_never_fires_again_is_none():
    assert next_fire("cron(0 0 1 1 ? 2020)", t("2026-01-01T00:00:00Z")) is None


@pytest.mark.parametrize(
    "bad", ["rate(0 hours)", "rate(5 weeks)", "cron(0 * * * *)", "cron(0 * * * * *)", "cron(61 * * * ? *)", "every hour"]
)
def test_unsupported_expressions_are_refused(bad):
    with pytest.raises(ValueError):
        domain.validate(bad)


def test_counts_keep_numbers_one_level_deep():
    result = {"created": 3, "skipped": False, "note": "x", "check": {"read": 10, "complete": True}}
    assert domain.counts_of(result) == {"created": 3, "check.read": 10}
    assert domain.counts_of(None) == {}


HOURLY = Monitor("m", "cron(0 * * * ? *)", timedelta(minutes=15))


def test_no_run_is_late_only_after_the_grace_period():
    since = t("2026-12-03T10:05:00Z")
    assert assess(HOURLY, None, since, t("2026-12-03T11:14:59Z")).state == domain.OK
    late = assess(HOURLY, None, since, t("2026-12-03T11:15:01Z"))
    assert late.state == domain.LATE and late.missed == t("2026-12-03T11:00:00Z")
    # hours later: the latest missed occurrence is the one reported
    assert assess(HOURLY, None, since, t("2026-12-03T14:20:00Z")).missed == t("2026-12-03T14:00:00Z")


def test_a_recent_ok_run_is_ok_and_a_failed_one_failed():
    now = t("2026-12-03T11:10:00Z")
    ok = LastRun("run#a", t("2026-12-03T11:00:00Z"), t("2026-12-03T11:00:01Z"), domain.OK)
    verdict = assess(HOURLY, ok, None, now)
    assert verdict.state == domain.OK and verdict.next_expected == t("2026-12-03T12:00:00Z")
    bad = LastRun("run#b", t("2026-12-03T11:00:00Z"), t("2026-12-03T11:00:01Z"), domain.FAILED)
    assert assess(HOURLY, bad, None, now).failed_run == "run#b"


def test_a_run_that_never_ended_failed_after_the_lambda_timeout():
    started = t("2026-12-03T11:00:01Z")
    running = LastRun("run#c", t("2026-12-03T11:00:00Z"), started, None)
    assert assess(HOURLY, running, None, started + timedelta(minutes=5)).state == domain.OK
    assert assess(HOURLY, running, None, started + timedelta(minutes=17)).state == domain.FAILED


def test_every_monitor_expression_is_understood():
    for m in domain.MONITORS.values():
        domain.validate(m.expression)
        assert m.grace > timedelta(0)
    assert next_fire(domain.WATCHDOG_EXPRESSION, datetime(2026, 1, 1, tzinfo=UTC)) is not None
