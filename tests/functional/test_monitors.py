"""Monitors: every scheduled run is recorded; the watchdog (its own function) opens one incident per missed
occurrence or failed run; Admin > Insights > Monitors reads them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from chalice.app import ScheduledEventConfig

from chalicelib.monitors import domain, service

T0 = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    c = FakeClock(T0)
    service.use_clock(c)
    yield c
    service.use_clock(None)


def event(when: datetime, event_id: str | None = None) -> dict:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def monitors(client, tokens) -> dict[str, dict]:
    r = client.http.get("/admin/monitors", headers=tokens.h(tokens.admin))
    assert r.status_code == 200, r.body
    return {m["name"]: m for m in r.json_body["items"]}


def monitor_incidents(client, tokens, name: str) -> int:
    r = client.http.get(f"/admin/incidents?area=backend.monitors.{name}", headers=tokens.h(tokens.admin))
    assert r.status_code == 200, r.body
    return sum(g["count"] for g in r.json_body["items"])


def test_every_scheduled_function_is_monitored_with_its_own_expression(app):
    scheduled = {s.name: s.schedule_expression for s in app.event_sources if isinstance(s, ScheduledEventConfig)}
    expressions = {n: e.to_string() if hasattr(e, "to_string") else str(e) for n, e in scheduled.items()}
    assert expressions.pop(domain.WATCHDOG) == domain.WATCHDOG_EXPRESSION
    assert expressions == {m.name: m.expression for m in domain.MONITORS.values()}
    # the watchdog is not one of the functions it watches: its own handler (a Lambda of its own)
    assert domain.WATCHDOG not in domain.MONITORS
    assert app.handler_map[domain.WATCHDOG] is not app.handler_map["daily_task_instances"]


def test_a_run_is_recorded_with_its_counts_and_a_duplicate_delivery_is_not_counted_twice(client, tokens, clock):
    when = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    ev = event(when)
    first = client.lambda_.invoke("daily_task_instances", ev).payload
    second = client.lambda_.invoke("daily_task_instances", ev).payload  # EventBridge delivered it twice
    assert isinstance(first, dict) and isinstance(second, dict)
    daily = monitors(client, tokens)["daily_task_instances"]
    assert daily["state"] == "ok" and daily["last_outcome"] == "ok"
    assert daily["runs"] == 1 and daily["ok"] == 1 and daily["duplicates"] == 1  # both recorded, counted once
    assert daily["next_expected_at"] == "2026-12-03T11:00:00.000Z"
    runs = daily["recent_runs"]
    assert len(runs) == 2 and sorted(r["duplicate"] for r in runs) == [False, True]
    assert {r["event_id"] for r in runs} == {ev["id"]} and len({r["invocation_id"] for r in runs}) == 2
    assert all(r["outcome"] == "ok" and r["scheduled_at"] == "2026-12-03T10:00:00.000Z" for r in runs)
    assert all("created" in r["counts"] and r["duration_ms"] >= 0 and r["ended_at"] for r in runs)
    # the integrity sweep records its numbers too (one level deep)
    client.lambda_.invoke("integrity_sweep", event(when))
    sweep = monitors(client, tokens)["integrity_sweep"]
    assert sweep["runs"] == 1 and any(k.endswith(".read") for k in sweep["recent_runs"][0]["counts"])


def test_a_failing_run_is_recorded_as_failed_and_the_watchdog_files_it_once(client, tokens, clock, monkeypatch):
    from chalicelib.tasks import service as tasks

    def broken(*_args: object) -> dict:
        raise RuntimeError("the scheduler broke")

    monkeypatch.setattr(tasks, "fan_out", broken)
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("daily_task_instances", event(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)))
    daily = monitors(client, tokens)["daily_task_instances"]
    assert daily["state"] == "failed" and daily["last_outcome"] == "failed" and daily["failed"] == 1
    (run,) = daily["recent_runs"]
    assert run["outcome"] == "failed" and "RuntimeError: the scheduler broke" in run["error"]
    before = monitor_incidents(client, tokens, "daily_task_instances")
    watchdog = client.lambda_.invoke("monitor_watchdog", event(T0)).payload
    assert watchdog["failed"] == 1 and watchdog["daily_task_instances"] == "failed"
    assert client.lambda_.invoke("monitor_watchdog", event(T0)).payload["failed"] == 0  # once per failed run
    assert monitor_incidents(client, tokens, "daily_task_instances") == before + 1


def test_a_stopped_scheduler_is_detected_within_the_grace_period(client, tokens, clock):
    """No run is ever recorded (the schedule is disabled): the watchdog alone notices, once per occurrence."""
    out = client.lambda_.invoke("monitor_watchdog", event(T0)).payload
    assert out["missed"] == 0 and out["daily_task_instances"] == "ok"  # first look: watching from now on
    daily = monitors(client, tokens)["daily_task_instances"]
    assert daily["watching_since"] == "2026-12-03T10:05:00.000Z" and daily["next_expected_at"] == "2026-12-03T11:00:00.000Z"

    clock.now = datetime(2026, 12, 3, 11, 14, tzinfo=UTC)  # 11:00 plus less than the 15 min grace
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] == 0
    clock.now = datetime(2026, 12, 3, 11, 16, tzinfo=UTC)  # the grace period is over: detected
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] == 1
    assert monitor_incidents(client, tokens, "daily_task_instances") == 1
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] == 0  # twice: no second one
    assert monitor_incidents(client, tokens, "daily_task_instances") == 1
    daily = monitors(client, tokens)["daily_task_instances"]
    assert daily["state"] == "late" and daily["missed_at"] == "2026-12-03T11:00:00.000Z"

    clock.now = datetime(2026, 12, 3, 12, 20, tzinfo=UTC)  # the next occurrence is missed too: its own incident
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] == 1
    assert monitor_incidents(client, tokens, "daily_task_instances") == 2

    # the scheduler comes back: the monitor is ok again and nothing more is filed
    client.lambda_.invoke("daily_task_instances", event(datetime(2026, 12, 3, 13, 0, tzinfo=UTC)))
    clock.now = datetime(2026, 12, 3, 13, 5, tzinfo=UTC)
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] == 0
    assert monitors(client, tokens)["daily_task_instances"]["state"] == "ok"


def test_a_failure_to_file_gives_the_claim_back(client, tokens, clock, monkeypatch):
    from chalicelib.incidents import service as incidents

    client.lambda_.invoke("monitor_watchdog", event(T0))
    clock.now = T0 + timedelta(hours=2)
    real = incidents.record

    def down(draft):
        raise RuntimeError("incidents are down")

    monkeypatch.setattr(incidents, "record", down)
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("monitor_watchdog", event(clock.now))
    monkeypatch.setattr(incidents, "record", real)
    assert client.lambda_.invoke("monitor_watchdog", event(clock.now)).payload["missed"] >= 1  # filed on the next run


def test_runs_are_paginated_newest_first_and_an_unknown_monitor_is_404(client, tokens, clock):
    for hour in (10, 11, 12):
        client.lambda_.invoke("daily_task_instances", event(datetime(2026, 12, 3, hour, 0, tzinfo=UTC)))
    h = tokens.h(tokens.admin)
    r = client.http.get("/admin/monitors/daily_task_instances/runs?limit=2", headers=h)
    assert r.status_code == 200, r.body
    first = r.json_body
    assert [x["scheduled_at"][11:13] for x in first["items"]] == ["12", "11"] and first["next_token"]
    r = client.http.get(f"/admin/monitors/daily_task_instances/runs?limit=2&next_token={first['next_token']}", headers=h)
    assert [x["scheduled_at"][11:13] for x in r.json_body["items"]] == ["10"] and r.json_body["next_token"] is None
    other = client.http.get(f"/admin/monitors/integrity_sweep/runs?next_token={first['next_token']}", headers=h)
    assert other.status_code == 400  # a token is bound to its list
    for name in ("nope", "no%20such"):
        r = client.http.get(f"/admin/monitors/{name}/runs", headers=h)
        assert r.status_code == 404 and json.loads(r.body)["error"]["code"] == "monitor_not_found"
    assert client.http.get("/admin/monitors/daily_task_instances/runs?limit=0", headers=h).status_code == 400


def test_the_watchdog_is_its_own_function_with_its_own_rule_and_role():
    from academy_cli.package_cmd import merge_template
    from infra.iam import ACCESS, role_logical

    template = merge_template("prod")
    resources = template["Resources"]
    assert resources["MonitorWatchdog"]["Properties"]["FunctionName"] == {"Fn::Sub": "academy-${Stage}-MonitorWatchdog"}
    (policy,) = resources[role_logical("MonitorWatchdog")]["Properties"]["Policies"]
    assert policy["PolicyName"] == "MonitorWatchdogAccess"
    # the runs table, incidents (and their links and rollups), the jobs table's counter/health rows (job
    # health), and the dispatch of an alert job (jobs + job-dedupe: infra.iam.ALERT_FIRE); never a watched
    # function's tables
    tables = {"monitor-runs", "incidents", "incident-groups", "incident-timeline", "incident-links", "rollups"}
    assert set(ACCESS["MonitorWatchdog"].tables) == tables | {"jobs", "job-dedupe"}
    assert not {"tasks", "task-instances"} & set(ACCESS["MonitorWatchdog"].tables)
    assert "MonitorRunsTable" in resources
    for watched in ("DailyTaskInstances", "IntegritySweep"):
        assert "monitor-runs" in ACCESS[watched].tables and role_logical(watched) != role_logical("MonitorWatchdog")
