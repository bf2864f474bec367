"""The watchdog's alert signals (monitor.missed_run, monitor.failed_run): once per occurrence, after the claim,
whatever the number of watchdog runs; and a stopped scheduler (its rule disabled on the local stack's
scheduler) is detected by the watchdog alone."""

from __future__ import annotations

import heapq
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.alerts import signals
from chalicelib.monitors import service

T0 = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    c = FakeClock(T0)
    service.use_clock(c)
    yield c
    service.use_clock(None)


@pytest.fixture
def seen() -> Iterator[list[signals.Signal]]:
    with signals.recording() as out:
        yield out


def event(when: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def monitor_signals(seen: list[signals.Signal]) -> list[signals.Signal]:
    return [s for s in seen if s.kind.startswith("monitor.")]


def test_a_missed_run_is_signalled_once_however_often_the_watchdog_runs(client, clock, seen):
    client.lambda_.invoke("monitor_watchdog", event(T0))  # watching from now on
    clock.now = datetime(2026, 12, 3, 11, 16, tzinfo=UTC)  # 11:00 + the 15 min grace is over
    outs: list[Any] = []
    barrier = threading.Barrier(4, timeout=10)

    def run() -> None:
        barrier.wait()
        outs.append(client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload)

    threads = [threading.Thread(target=run) for _ in range(4)]  # concurrent watchdogs (a duplicate delivery)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    client.lambda_.invoke("monitor_watchdog", event(clock.now))  # and once more afterwards
    assert sum(o["missed"] for o in outs) == 1
    [sig] = monitor_signals(seen)
    assert (sig.kind, sig.subject, sig.occurrence) == ("monitor.missed_run", "daily_task_instances", "2026-12-03T11:00:00.000Z")
    assert sig.scope.source == "monitor" and sig.scope.area == "backend.monitors.daily_task_instances"
    assert sig.detail["expression"] == "cron(0 * * * ? *)" and sig.detail["grace_s"] == 900
    assert sig.link == "/console/admin/monitors"


def test_a_failed_run_is_signalled_once_with_its_scheduled_time(client, clock, seen, monkeypatch):
    from chalicelib.tasks import service as tasks

    def broken(*_args: object) -> dict[str, Any]:
        raise RuntimeError("the scheduler broke")

    monkeypatch.setattr(tasks, "fan_out", broken)  # the hourly run's body (it fans out to shard jobs)
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("daily_task_instances", event(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)))
    for _ in range(3):
        client.lambda_.invoke("monitor_watchdog", event(T0))
    [sig] = monitor_signals(seen)
    assert (sig.kind, sig.subject, sig.occurrence) == ("monitor.failed_run", "daily_task_instances", "2026-12-03T10:00:00.000Z")
    assert str(sig.detail["run"]).startswith("2026-12-03T10:00:00")


def test_no_signal_when_filing_the_incident_failed_and_one_on_the_run_that_files_it(client, clock, seen, monkeypatch):
    from chalicelib.incidents import service as incidents

    client.lambda_.invoke("monitor_watchdog", event(T0))
    clock.now = datetime(2026, 12, 3, 11, 20, tzinfo=UTC)
    real = incidents.record

    def down(draft: Any) -> Any:
        raise RuntimeError("incidents are down")

    monkeypatch.setattr(incidents, "record", down)
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("monitor_watchdog", event(clock.now))
    assert monitor_signals(seen) == []  # the claim was given back: nothing was filed, nothing signalled
    monkeypatch.setattr(incidents, "record", real)
    client.lambda_.invoke("monitor_watchdog", event(clock.now))
    client.lambda_.invoke("monitor_watchdog", event(clock.now))
    assert [s.occurrence for s in monitor_signals(seen)] == ["2026-12-03T11:00:00.000Z"]


def test_a_stopped_scheduler_is_detected_by_the_watchdog_alone(app, client, tokens, clock, seen):
    """The local stack's scheduler with ``daily_task_instances`` disabled (``academy up --disable-schedule``):
    every other schedule fires at its times (the watchdog every 5 minutes) with the clock advanced to each
    firing; the missed hourly run is reported once per occurrence, after its grace period, never twice."""
    from academy_cli import schedules
    from academy_cli.localstack import invoke_scheduled

    functions = schedules.enabled(schedules.scheduled_functions(app), {"daily_task_instances"})
    assert "daily_task_instances" not in {f.name for f in functions} and "monitor_watchdog" in {f.name for f in functions}
    with pytest.raises(ValueError, match="no scheduled function named daily_tasks"):
        schedules.enabled(schedules.scheduled_functions(app), {"daily_tasks"})  # a typo is refused

    lines: list[str] = []
    end = datetime(2026, 12, 3, 12, 40, tzinfo=UTC)
    heap = [(schedules.next_fire(f.expression, T0), n, f) for n, f in enumerate(functions)]
    heap = [h for h in heap if h[0] is not None]
    heapq.heapify(heap)
    first_seen: dict[str, datetime] = {}
    runs = 0
    while heap and heap[0][0] <= end:  # the local scheduler's loop, on a simulated clock
        when, n, fn = heapq.heappop(heap)
        clock.now = when
        assert invoke_scheduled(fn, "us-east-1", when, lines.append), lines[-1]
        runs += fn.name == "monitor_watchdog"
        for s in monitor_signals(seen):
            first_seen.setdefault(s.occurrence, when)
        following = schedules.next_fire(fn.expression, when)
        if following is not None:
            heapq.heappush(heap, (following, n, fn))
    assert runs >= 25
    missed = monitor_signals(seen)
    assert [(s.kind, s.subject, s.occurrence) for s in missed] == [
        ("monitor.missed_run", "daily_task_instances", "2026-12-03T11:00:00.000Z"),
        ("monitor.missed_run", "daily_task_instances", "2026-12-03T12:00:00.000Z"),
    ]  # once each, though the watchdog ran every 5 minutes
    # detected at the first watchdog run past 11:00 + 15 min grace (11:20: it fires every 5 min from 10:05)
    assert first_seen == {
        "2026-12-03T11:00:00.000Z": datetime(2026, 12, 3, 11, 20, tzinfo=UTC),
        "2026-12-03T12:00:00.000Z": datetime(2026, 12, 3, 12, 20, tzinfo=UTC),
    }
    r = client.http.get("/admin/incidents?area=backend.monitors.daily_task_instances", headers=tokens.h(tokens.admin))
    assert sum(g["count"] for g in r.json_body["items"]) == 2  # one incident per missed occurrence
    r = client.http.get("/admin/monitors", headers=tokens.h(tokens.admin))
    daily = {m["name"]: m for m in r.json_body["items"]}["daily_task_instances"]
    assert daily["state"] == "late" and daily["runs"] == 0 and daily["missed_at"] == "2026-12-03T12:00:00.000Z"


def test_academy_up_takes_disable_schedule(monkeypatch):
    from click.testing import CliRunner

    from academy_cli.main import cli

    out = CliRunner().invoke(cli, ["up", "--help"])
    assert out.exit_code == 0 and "--disable-schedule" in out.output
    out = CliRunner().invoke(cli, ["up", "--rehearse", "--disable-schedule", "daily_task_instances"])
    assert out.exit_code != 0 and "--disable-schedule is for the local stack" in out.output
