"""The alert engine's pure rules: scope matching, throttling at powers of ten, digests, webhook URLs, the body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.alerts import domain

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_notify_at_powers_of_ten_only():
    assert [n for n in range(1, 2001) if domain.notify_at(n)] == [1, 10, 100, 1000]
    assert not domain.notify_at(0)


def test_scope_matching():
    rule = domain.Rule("r", "r", "incident.new", domain.RuleScope(area="customers.", source="frontend"))
    assert domain.matches(rule, "incident.new", "customers.homework.upload", None, "frontend")
    assert not domain.matches(rule, "incident.new", "admin.x", None, "frontend")
    assert not domain.matches(rule, "incident.new", "customers.x", None, "backend")
    assert not domain.matches(rule, "incident.regression", "customers.x", None, "frontend")
    off = domain.Rule("r", "r", "incident.new", enabled=False)
    assert not domain.matches(off, "incident.new", None, None, None)
    jobs = domain.Rule("j", "j", "job.stuck", domain.RuleScope(job_type="process_video_proof"))
    assert domain.matches(jobs, "job.stuck", None, "process_video_proof", "jobs")
    assert not domain.matches(jobs, "job.stuck", None, "delete_schedule", "jobs")


def test_decide_counts_suppresses_and_releases_a_digest_after_the_period():
    state = domain.Throttle()
    first = domain.decide(state, T0, 60)
    assert (first.n, first.notify, first.digest) == (1, True, 0)
    second = domain.decide(first.after, T0 + timedelta(minutes=5), 60)
    assert (second.n, second.notify, second.digest, second.after.pending) == (2, False, 0, 1)
    third = domain.decide(second.after, T0 + timedelta(minutes=60), 60)
    assert (third.n, third.notify, third.digest, third.after.pending, third.after.digest_seq) == (3, False, 2, 0, 1)
    assert domain.digest_due(second.after, T0 + timedelta(minutes=60), 60)
    assert not domain.digest_due(second.after, T0 + timedelta(minutes=59), 60)


def test_params_are_the_kinds_and_in_range():
    assert domain.param_errors("incident.spike", {"count": 5, "minutes": 3}) == {}
    assert set(domain.param_errors("incident.spike", {"count": 1, "rate": 0.5})) == {"params.count", "params.rate"}
    assert set(domain.param_errors("job.failure_rate", {"rate": True})) == {"params.rate"}
    assert domain.with_defaults("job.waiting", {}) == {"minutes": 30}


@pytest.mark.parametrize(
    ("url", "local", "ok"),
    [
        ("https://hooks.slack.com/services/T/B/C", False, True),
        ("http://hooks.slack.com/services/T/B/C", False, False),
        ("http://127.0.0.1:9000/hook", False, False),
        ("http://127.0.0.1:9000/hook", True, True),
        ("http://localhost/hook", True, True),
        ("https://localhost/hook", False, False),
        ("https://10.0.0.5/hook", False, False),
        ("https://169.254.169.254/latest", False, False),
        ("https://[::1]/hook", False, False),
        ("https://metadata.internal/x", False, False),
        ("https://user:pw@hooks.slack.com/x", False, False),
        ("http://192.168.1.2/hook", True, False),
        ("not a url", True, False),
        ("https://hooks.slack.com/a b", False, False),
        ("https://exämple.com/x", False, False),
        ("http://[::1", True, False),
    ],
)
def test_webhook_urls_by_stage(url, local, ok):
    assert (domain.url_error(url, local=local) is None) is ok


def test_resolved_addresses_and_the_mask():
    assert domain.address_allowed("8.8.8.8", local=False)
    assert not domain.address_allowed("127.0.0.1", local=False)
    assert domain.address_allowed("127.0.0.1", local=True)
    assert not domain.address_allowed("10.0.0.1", local=True)
    assert domain.mask("https://hooks.slack.com/services/T/B/secret") == "https://hooks.slack.com/…"


def test_the_body_is_slack_compatible():
    msg = domain.occurrence_message(
        "New group", "KeyError in upload", 10, {"area": "customers.x"}, "/console/incidents/g1", "https://ops.example"
    )
    body = msg.slack()
    assert set(body) == {"text", "blocks"}
    assert body["blocks"][0]["type"] == "header" and "Occurrence #10" in body["text"]
    assert "https://ops.example/console/incidents/g1" in body["text"]


def test_a_rule_can_only_be_stricter_than_the_signal():
    rate = domain.Rule("r", "r", "job.failure_rate", params=domain.with_defaults("job.failure_rate", {"rate": 0.5}))
    assert domain.passes(rate, {"rate": 0.6, "jobs": 10, "window_minutes": 15})
    assert not domain.passes(rate, {"rate": 0.3, "jobs": 10, "window_minutes": 15})
    assert not domain.passes(rate, {"rate": 0.9, "jobs": 2, "window_minutes": 15})  # min_jobs 3
    default = domain.Rule("d", "d", "job.failure_rate", params=domain.with_defaults("job.failure_rate", {}))
    assert domain.passes(default, {"rate": 0.2, "jobs": 3, "window_minutes": 15})  # the producer's floor passes
    waiting = domain.Rule("w", "w", "job.waiting", params={"minutes": 60})
    assert not domain.passes(waiting, {"minutes": 31}) and domain.passes(waiting, {"minutes": 61})
    assert domain.passes(waiting, {})  # nothing measured: not judged
    spike = domain.Rule("s", "s", "incident.spike", params={"count": 20, "minutes": 10})
    assert not domain.passes(spike, {"count": 10, "window_minutes": 10})
