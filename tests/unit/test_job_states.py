from datetime import UTC, datetime, timedelta

from chalicelib.jobs import states
from chalicelib.jobs.worker import retry_delay_s

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_stuck_only_when_running_without_recent_heartbeat():
    assert states.is_stuck("running", NOW - timedelta(seconds=301), 300, NOW)
    assert not states.is_stuck("running", NOW - timedelta(seconds=299), 300, NOW)
    assert states.is_stuck("running", None, 300, NOW)
    assert not states.is_stuck("queued", None, 300, NOW)


def test_cancel_and_retry_rules():
    assert states.can_cancel("queued", False) and states.can_cancel("failed", False)
    assert states.can_cancel("running", True) and not states.can_cancel("running", False)
    assert not states.can_cancel("succeeded", False)
    assert states.can_retry("failed") and states.can_retry("cancelled") and not states.can_retry("queued")


def test_retry_back_off_grows_and_is_capped():
    delays = [retry_delay_s(n) for n in range(1, 8)]
    assert delays[:3] == [5, 20, 80]
    assert delays == sorted(delays) and max(delays) == 900


def test_queued_is_stuck_only_after_longer_than_any_delivery_takes():
    after = states.queued_stale_after_s(300)
    assert after >= 2 * (states.MAX_BACK_OFF_S + 300)
    assert not states.is_stuck("queued", None, 300, NOW, NOW - timedelta(seconds=after - 1))
    assert states.is_stuck("queued", None, 300, NOW, NOW - timedelta(seconds=after + 1))
    assert not states.is_stuck("queued", None, 300, NOW, None)
    assert not states.is_stuck("failed", None, 300, NOW, NOW - timedelta(days=9))


def test_a_stuck_queued_job_may_be_retried_a_fresh_one_may_not():
    assert states.can_retry("queued", stuck=True) and not states.can_retry("queued", stuck=False)
    assert not states.can_retry("running", stuck=True) and not states.can_retry("succeeded", stuck=True)
