"""The signal interface: producers hand signals over and never see an alerting failure."""

from __future__ import annotations

import logging

import pytest

from chalicelib.alerts import signals
from chalicelib.alerts.signals import Scope, Signal


def _signal() -> Signal:
    return Signal(kind="incident.new", subject="g1", occurrence="i1", title="New group", scope=Scope(area="frontend.x"))


def test_recording_captures_signals_and_restores_the_engine() -> None:
    before = signals._sink[0]
    with signals.recording() as seen:
        signals.emit(_signal())
        signals.emit(_signal())
    assert [s.occurrence for s in seen] == ["i1", "i1"]
    assert signals._sink[0] is before


def test_a_failing_engine_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: Signal) -> None:
        raise RuntimeError("engine down")

    with caplog.at_level(logging.ERROR), signals.use_sink(broken):
        signals.emit(_signal())  # does not raise into the producer
    assert "alert signal not delivered" in caplog.text


def test_every_kind_is_listed() -> None:
    assert "monitor.missed_run" in signals.KINDS and "dlq.not_empty" in signals.KINDS
    assert len(set(signals.KINDS)) == len(signals.KINDS) == 10
