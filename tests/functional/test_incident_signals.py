"""The intake's alert signals: incident.new, incident.regression, incident.spike — once per occurrence, and
no extra DynamoDB call on the common path (an existing group under its limits)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.alerts import signals
from chalicelib.core.db import iso
from chalicelib.incidents import domain, service
from tests.dynamo_calls import DynamoCalls


class Clock:
    now = 1_800_000_000.0  # the start of a 600 s window

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    service.use_intake(service.Intake(clock=c))
    yield c
    service.use_intake(None)


@pytest.fixture
def hub(clock: Clock, aws: Any) -> service.Intake:
    return service.intake()


@pytest.fixture
def seen() -> Iterator[list[signals.Signal]]:
    with signals.recording() as out:
        yield out


def _draft(message: str = "Upload failed", area: str = "customers.homework.upload") -> domain.Draft:
    return domain.build_draft(source="frontend", area=area, message=message, actor={"role": "customer", "id": "cust-a"})


def _threads(target: Any, n: int) -> None:
    barrier = threading.Barrier(n, timeout=10)

    def go() -> None:
        barrier.wait()
        target()

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)


def test_a_new_group_emits_incident_new_once_with_the_incident_as_occurrence(hub, seen):
    first = hub.record(_draft())
    hub.record(_draft())  # the same group: nothing new
    assert [s.kind for s in seen] == ["incident.new"]
    [sig] = seen
    assert (sig.subject, sig.occurrence) == (first.group_id, first.id)
    assert sig.scope == signals.Scope(area="customers.homework.upload", source="frontend")
    assert sig.link == f"/console/admin/incidents?group={first.group_id}&status=all"
    assert sig.detail["incident_id"] == first.id and "Upload failed" in sig.title


def test_concurrent_first_intakes_emit_one_incident_new(hub, seen):
    out: list[service.Recorded] = []
    _threads(lambda: out.append(hub.record(_draft())), 8)
    assert len({r.group_id for r in out}) == 1
    assert [s.kind for s in seen] == ["incident.new"]
    assert seen[0].occurrence in {r.id for r in out}


def test_concurrent_intakes_into_a_resolved_group_emit_one_regression(hub, seen):
    hub.limits = dataclasses.replace(hub.limits, spike_incidents=1000)
    gid = hub.record(_draft()).group_id
    hub.set_status(gid, "resolved", {"role": "admin", "id": "admin-1"})
    seen.clear()
    out: list[service.Recorded] = []
    _threads(lambda: out.append(hub.record(_draft())), 8)
    assert [s.kind for s in seen] == ["incident.regression"]
    assert seen[0].subject == gid and seen[0].occurrence in {r.id for r in out}
    hub.record(_draft())  # the group is open again: no second regression
    assert len(seen) == 1
    hub.set_status(gid, "resolved", {"role": "admin", "id": "admin-1"})
    again = hub.record(_draft())  # resolved again, then a new incident: a second regression, its own occurrence
    assert [s.kind for s in seen] == ["incident.regression"] * 2 and seen[1].occurrence == again.id


def test_a_spike_is_emitted_once_per_window_at_the_crossing_under_concurrency(hub, clock, seen):
    hub.limits = dataclasses.replace(hub.limits, spike_incidents=5, group_rows_per_window=3)  # crossing while flooding
    gid = hub.record(_draft()).group_id
    hub.record(_draft())
    _threads(lambda: hub.record(_draft()), 8)  # 10 in the window: the 5th is one of these
    spikes = [s for s in seen if s.kind == "incident.spike"]
    window = iso(datetime.fromtimestamp(1_800_000_000 // 600 * 600, UTC))
    assert len(spikes) == 1 and spikes[0].subject == gid and spikes[0].occurrence == window
    assert spikes[0].detail["count"] == 5 and spikes[0].detail["window_minutes"] == 10 and spikes[0].count == 5
    for _ in range(6):
        hub.record(_draft())  # past the threshold in the same window: nothing more
    assert len([s for s in seen if s.kind == "incident.spike"]) == 1
    clock.now += 600  # the next window counts from one again
    for _ in range(4):
        hub.record(_draft())
    assert len([s for s in seen if s.kind == "incident.spike"]) == 1
    hub.record(_draft())
    spikes = [s for s in seen if s.kind == "incident.spike"]
    assert len(spikes) == 2 and spikes[1].occurrence == iso(datetime.fromtimestamp(clock.now // 600 * 600, UTC))


def test_the_common_path_costs_no_extra_dynamodb_call_and_emits_nothing(hub, seen):
    hub.limits = dataclasses.replace(hub.limits, spike_incidents=3)
    hub.record(_draft())  # the group exists from here on
    per_intake: list[list[str]] = []
    for _ in range(4):  # the 2nd (common), 3rd (the spike's crossing), 4th and 5th (past it)
        with DynamoCalls() as calls:
            hub.record(_draft())
        per_intake.append(calls.ops)
    assert all(ops == ["UpdateItem", "PutItem"] for ops in per_intake), per_intake  # the group's count, the row
    assert [s.kind for s in seen] == ["incident.new", "incident.spike"]


def test_a_failing_alert_engine_never_breaks_the_intake(hub):
    def broken(signal: signals.Signal) -> None:
        raise RuntimeError("engine down")

    with signals.use_sink(broken):
        out = hub.record(_draft())
    assert out.stored is True


def test_backend_incidents_carry_their_source_in_the_scope(hub, seen):
    hub.capture(ValueError("boom"), {"route": "/admin/things", "status": 500})
    [sig] = seen
    assert sig.kind == "incident.new" and sig.scope.source == "backend" and (sig.scope.area or "").startswith("backend.")
