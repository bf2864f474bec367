"""Job health's pure rules: windows, snapshots of the outcome totals, high failure rates, waiting jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.jobs import counts, health
from chalicelib.jobs.health import LIMITS, HealthLimits, Rate


def test_windows_are_utc_aligned() -> None:
    at = datetime(2026, 12, 3, 10, 14, 59, tzinfo=UTC)
    assert health.window_start(at, 900) == int(datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp())
    assert health.window_start(at + timedelta(seconds=1), 900) == int(datetime(2026, 12, 3, 10, 15, tzinfo=UTC).timestamp())


def test_a_snapshot_keeps_failed_and_succeeded_per_type_only() -> None:
    totals = {("failed", "a"): 2, ("succeeded", "a"): 5, ("succeeded", "b"): 1, ("queued", "a"): 9}
    assert health.snapshot(totals) == {"a": [2, 5], "b": [0, 1]}


def test_high_rates_need_a_new_failure_enough_jobs_and_the_rate() -> None:
    before = {"a": [1, 1], "b": [0, 0], "c": [5, 5]}
    after = {"a": [4, 2], "b": [1, 1], "c": [5, 10], "d": [3, 0]}
    # a: 3 failed of 4 (75 %); b: 2 jobs < 3; c: no new failure; d: new type, 3 of 3
    assert health.high_rates(before, after, LIMITS) == [Rate("a", 3, 1), Rate("d", 3, 0)]
    strict = HealthLimits(failure_rate=0.8)
    assert health.high_rates(before, after, strict) == [Rate("d", 3, 0)]
    assert Rate("x", 1, 3).rate == 0.25 and Rate("x", 0, 0).rate == 0.0


def test_only_a_queued_job_past_the_threshold_is_waiting() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert health.waiting_for("queued", now - timedelta(minutes=29), now, LIMITS) is None
    assert health.waiting_for("queued", now - timedelta(minutes=30), now, LIMITS) == timedelta(minutes=30)
    assert health.waiting_for("running", now - timedelta(hours=2), now, LIMITS) is None
    assert health.waiting_for("queued", None, now, LIMITS) is None


def test_outcome_totals_are_moved_with_the_transition_and_never_down() -> None:
    _, adds = counts.moves("j1", "t", "running", "failed")
    names = [str(a.values[0]) for a in adds]
    assert any("t:failed:t" in n for n in names) and any("n:failed:t" in n for n in names)
    _, adds = counts.moves("j1", "t", "failed", "queued")  # a retry: the failed count goes down, its total does not
    assert not any(str(a.values[0]).startswith("t:") for a in adds)
    rows = {"~count~00": {"t:failed:t": {"N": "2"}, "n:failed:t": {"N": "1"}}, "~count~01": {"t:failed:t": {"N": "3"}}}
    assert counts.outcome_totals(rows) == {("failed", "t"): 5} and counts.totals(rows) == {("failed", "t"): 1}
