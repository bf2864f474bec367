"""Every scheduled function runs end to end through Chalice's own dispatch, logging at INFO as in prod."""

from __future__ import annotations

import pytest
from chalice.app import ScheduledEventConfig
from chalice.test import Client

import app as _app


def _scheduled() -> list[str]:
    return [s.name for s in _app.app.event_sources if isinstance(s, ScheduledEventConfig)]


@pytest.mark.parametrize("name", _scheduled())
def test_scheduled_function_runs_twice_without_error(app, name):
    with Client(app) as c:
        event = c.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
        first = c.lambda_.invoke(name, event).payload
        second = c.lambda_.invoke(name, event).payload  # EventBridge may fire twice
    assert isinstance(first, dict) and isinstance(second, dict)
    if "created" in second:
        assert second["created"] == 0  # idempotent: the second run writes nothing


def test_there_is_a_daily_task_schedule():
    assert "daily_task_instances" in _scheduled()
