"""The local scheduler: AWS rate/cron expressions, the scheduled event, and the firing loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice import Chalice
from chalice.app import Cron, Rate

from academy_cli import schedules
from academy_cli.localstack import LocalStack, StackOptions

T0 = datetime(2025, 3, 5, 10, 17, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("aws", "expected"),
    [
        ("0 10 * * ? *", "0 10 * * *"),
        ("15 12 ? * 1 *", "15 12 * * 0"),  # AWS 1 = Sunday
        ("0 8 ? * 2-6 *", "0 8 * * 1-5"),
        ("0 8 ? * MON-FRI *", "0 8 * * MON-FRI"),
        ("0 9 ? * 3#2 *", "0 9 * * 2#2"),
        ("0 9 ? * 1,7 *", "0 9 * * 0,6"),
        ("0/15 * * * ? *", "0/15 * * * *"),
    ],
)
def test_aws_cron_becomes_croniter(aws: str, expected: str) -> None:
    assert schedules.to_croniter(aws)[0] == expected


@pytest.mark.parametrize("bad", ["0 10 * * *", "0 10 * * 1 *", "0 10 ? * ? *", "99 10 * * ? *"])
def test_invalid_cron_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        schedules.to_croniter(bad)


def test_next_fire_rate_and_cron() -> None:
    assert schedules.next_fire("rate(1 hour)", T0) == T0 + timedelta(hours=1)
    assert schedules.next_fire("rate(5 minutes)", T0) == T0 + timedelta(minutes=5)
    assert schedules.next_fire("cron(0 10 * * ? *)", T0) == datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
    assert schedules.next_fire("cron(0 12 ? * 1 *)", T0) == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)  # next Sunday
    assert schedules.next_fire("cron(0 0 1 1 ? 2027)", T0) == datetime(2027, 1, 1, tzinfo=UTC)
    assert schedules.next_fire("cron(0 0 1 1 ? 2020)", T0) is None
    with pytest.raises(ValueError):
        schedules.next_fire("every day", T0)


def test_scheduled_functions_and_event() -> None:
    app = Chalice(app_name="sched-test")
    calls: list[dict[str, Any]] = []

    @app.schedule(Rate(1, unit=Rate.HOURS))
    def hourly(event: Any) -> None:
        calls.append(event.to_dict())

    @app.schedule(Cron(0, 10, "*", "*", "?", "*"), name="daily")
    def daily(event: Any) -> None:
        pass

    found = {f.name: f.expression for f in schedules.scheduled_functions(app)}
    assert found == {"hourly": "rate(1 hour)", "daily": "cron(0 10 * * ? *)"}
    fn = next(f for f in schedules.scheduled_functions(app) if f.name == "hourly")
    fn.handler(schedules.scheduled_event("hourly", "us-east-1", T0), None)
    assert calls[0]["detail-type"] == "Scheduled Event" and calls[0]["time"] == "2025-03-05T10:17:30Z"
    assert calls[0]["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/hourly"]


def test_loop_fires_repeatedly_and_retries_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop fires on time, re-arms, and retries a failed run (delays shortened for the test)."""
    monkeypatch.setattr(schedules, "next_fire", lambda expr, after: after + timedelta(milliseconds=50))
    monkeypatch.setattr("academy_cli.localstack.SCHEDULE_RETRY_DELAYS_S", (0.01, 0.01))
    runs: list[str] = []
    fail_first = {"n": 0}

    def handler(event: dict[str, Any], ctx: Any) -> None:
        runs.append(event["time"])
        fail_first["n"] += 1
        if fail_first["n"] == 1:
            raise RuntimeError("transient")

    lines: list[str] = []
    stack = LocalStack(StackOptions(out=lines.append))
    t = threading.Thread(target=stack._schedule_loop, args=([schedules.ScheduledFunction("f", "rate(1 minute)", handler)],))
    t.start()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while len(runs) < 4 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    stack.stop_event.set()
    t.join(timeout=3)
    assert not t.is_alive()
    assert len(runs) >= 4
    assert any("failed: RuntimeError: transient" in x for x in lines) and any(" ran in " in x for x in lines)
