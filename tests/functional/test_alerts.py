"""The alert engine: rules API, webhook channels (SSM SecureString), email subscriptions (SNS), the engine
(one job per occurrence, claims under concurrency, throttling at 1/10/100, digests, per-channel delivery with
retries), and the alert log. Deliveries go to a real HTTP receiver on 127.0.0.1 (tests/webhook_receiver.py)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.alerts import service, signals, store
from chalicelib.alerts.signals import Scope, Signal
from chalicelib.jobs import ledger, states, worker
from chalicelib.jobs.queues import QUEUES
from tests.webhook_receiver import serve

pytestmark = pytest.mark.alert_engine


@pytest.fixture
def env(app, client, tokens, monkeypatch):
    from chalicelib.core import aws

    aws.reset()
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0, report=lambda *a, **k: None))
    sqs = boto3.client("sqs")

    class Env:
        def __init__(self) -> None:
            self.client = client

        def pump(self, rounds: int = 40) -> None:
            from academy_cli.pump import drain_once

            url = sqs.get_queue_url(QueueName=QUEUES["jobs"].name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for _ in range(rounds):
                if drain_once(sqs, url, arn, app.handler_map["run_jobs"]) == (0, 0):
                    return

        def call(self, method: str, path: str, body=None, token: str | None = None):
            data = json.dumps(body) if body is not None else ""
            return client.http.request(method, path, headers=tokens.h(token or tokens.admin), body=data.encode())

        def log(self) -> list[dict]:
            got = self.call("GET", "/admin/alerts/log?limit=100")
            assert got.status_code == 200, got.body
            return json.loads(got.body)["items"]

    with serve() as receiver:
        e = Env()
        e.receiver = receiver
        yield e


def no_defaults() -> None:
    """The engine tests watch only their own rules: mark the defaults as made without making them."""
    store.ensure_defaults([])


def add_webhook(env, channel_id: str = "hook") -> None:
    got = env.call("POST", "/admin/alerts/channels", {"id": channel_id, "name": "Test hook", "url": env.receiver.url})
    assert got.status_code in (200, 201), got.body


def add_rule(env, rule_id: str = "r1", kind: str = "incident.new", channels=("hook",), **extra) -> dict:
    body = {"id": rule_id, "name": f"rule {rule_id}", "kind": kind, "channels": list(channels), **extra}
    got = env.call("POST", "/admin/alerts/rules", body)
    assert got.status_code in (200, 201), got.body
    return json.loads(got.body)


def sig(occurrence: str, subject: str = "grp-1", kind: str = "incident.new", **kw) -> Signal:
    return Signal(kind=kind, subject=subject, occurrence=occurrence, title=f"Something broke ({occurrence})", **kw)  # type: ignore[arg-type]


# --- rules ----------------------------------------------------------------------------------------


def test_a_new_stack_gets_one_default_rule_per_kind_once(env):
    got = json.loads(env.call("GET", "/admin/alerts/rules?limit=100").body)
    kinds = sorted(r["kind"] for r in got["items"])
    assert kinds == sorted(signals.KINDS)
    assert all(r["channels"] == ["email"] and r["enabled"] for r in got["items"])
    assert env.call("DELETE", "/admin/alerts/rules/default-incident-new").status_code == 200
    again = json.loads(env.call("GET", "/admin/alerts/rules?limit=100").body)["items"]
    assert len(again) == len(signals.KINDS) - 1  # a deleted default stays deleted


def test_rule_create_is_idempotent_by_id_and_put_with_the_same_body_changes_nothing(env):
    no_defaults()
    add_webhook(env)
    body = {"id": "spikes", "name": "Spikes", "kind": "incident.spike", "channels": ["hook", "email"], "params": {"count": 5}}
    first = env.call("POST", "/admin/alerts/rules", body)
    assert first.status_code == 201
    rule = json.loads(first.body)
    assert rule["params"] == {"count": 5, "minutes": 10}  # the kind's defaults fill the rest
    assert env.call("POST", "/admin/alerts/rules", body).status_code == 200
    other = env.call("POST", "/admin/alerts/rules", {**body, "name": "Other"})
    assert other.status_code == 409 and json.loads(other.body)["error"]["code"] == "rule_exists"
    put = {k: v for k, v in body.items() if k != "id"}
    same = env.call("PUT", "/admin/alerts/rules/spikes", {**put, "params": {"count": 5, "minutes": 10}})
    assert same.status_code == 200 and json.loads(same.body)["updated_at"] == rule["updated_at"]
    off = json.loads(env.call("PUT", "/admin/alerts/rules/spikes", {**put, "enabled": False}).body)
    assert off["enabled"] is False
    audit = json.loads(env.call("GET", "/admin/audit?action=alert_rule.update").body)["items"]
    assert [a["result"]["changed"] for a in audit] == [True, False]
    assert env.call("DELETE", "/admin/alerts/rules/spikes").status_code == 200
    assert env.call("DELETE", "/admin/alerts/rules/spikes").status_code == 404
    assert env.call("GET", "/admin/alerts/rules/spikes").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "incident.nope", "channels": ["email"]}, "kind"),
        ({"name": "x", "kind": "incident.new", "channels": []}, "channels"),
        ({"name": "x", "kind": "incident.new", "channels": ["email"], "params": {"count": 3}}, "params.count"),
        ({"name": "x", "kind": "incident.spike", "channels": ["email"], "params": {"count": "3"}}, "params.count"),
        ({"name": "x", "kind": "incident.spike", "channels": ["email"], "params": {"count": 0}}, "params.count"),
        ({"name": "x", "kind": "incident.new", "channels": ["nowhere"]}, "channels"),
        ({"name": "x", "kind": "incident.new", "channels": ["email"], "extra": 1}, "extra"),
        ({"name": "x", "kind": "incident.new", "channels": ["email"], "digest_minutes": "5"}, "digest_minutes"),
        ({"id": "bad id!", "name": "x", "kind": "incident.new", "channels": ["email"]}, "id"),
        ({"name": "", "kind": "incident.new", "channels": ["email"]}, "name"),
    ],
)
def test_bad_rules_are_400_naming_the_field(env, body, field):
    got = env.call("POST", "/admin/alerts/rules", body)
    assert got.status_code == 400, got.body
    assert any(k.startswith(field) for k in json.loads(got.body)["error"]["details"]["fields"]), got.body


def test_bad_input_on_the_other_routes(env):
    assert (
        env.call("PUT", "/admin/alerts/rules/nope", {"name": "x", "kind": "incident.new", "channels": ["email"]}).status_code
        == 404
    )
    assert env.call("PUT", "/admin/alerts/rules/x", {"kind": "incident.new"}).status_code == 400
    assert env.call("GET", "/admin/alerts/rules/bad%20id").status_code == 404
    assert env.call("POST", "/admin/alerts/channels", {"name": "x", "url": "ftp://example.com/x"}).status_code == 400
    assert env.call("POST", "/admin/alerts/channels", {"name": "x", "url": "https://10.1.2.3/hook"}).status_code == 400
    assert env.call("POST", "/admin/alerts/channels", {"name": "x", "url": "https://u:p@hooks.slack.com/x"}).status_code == 400
    assert env.call("POST", "/admin/alerts/channels", {"name": "x"}).status_code == 400
    assert env.call("DELETE", "/admin/alerts/channels/nope").status_code == 404
    assert env.call("POST", "/admin/alerts/email-subscriptions", {"email": "not-an-address"}).status_code == 400
    # what the fuzz found: a non-ASCII address (a lone surrogate cannot even be encoded for SNS) is refused, not a 500
    for odd in ("\u00f8@example.com", "ops@\u00e9xample.com", "a\udb48@example.com", "ops@example"):
        assert env.call("POST", "/admin/alerts/email-subscriptions", {"email": odd}).status_code == 400, odd
    assert env.call("DELETE", "/admin/alerts/email-subscriptions/nope").status_code == 404
    assert env.call("GET", "/admin/alerts/log?limit=0").status_code == 400
    rules_page = json.loads(env.call("GET", "/admin/alerts/rules?limit=1").body)
    foreign = env.call("GET", f"/admin/alerts/log?next_token={rules_page['next_token']}")
    assert foreign.status_code == 400 and json.loads(foreign.body)["error"]["code"] == "invalid_next_token"


def test_only_admins(env, tokens):
    for method, path in [("GET", "/admin/alerts/rules"), ("GET", "/admin/alerts/log"), ("GET", "/admin/alerts/channels")]:
        assert env.call(method, path, token=tokens.customer_a).status_code == 403
        assert env.client.http.request(method, path).status_code == 401


# --- channels ---------------------------------------------------------------------------------------


def test_webhook_url_is_a_secure_string_and_never_shown_or_logged(env, caplog, capfd):
    caplog.set_level(logging.INFO)  # what production logs at
    no_defaults()
    secret = env.receiver.secret
    created = env.call("POST", "/admin/alerts/channels", {"id": "slack", "name": "Slack", "url": env.receiver.url})
    assert created.status_code == 201
    again = env.call("POST", "/admin/alerts/channels", {"id": "slack", "name": "Slack", "url": env.receiver.url})
    assert again.status_code == 200
    other = env.call("POST", "/admin/alerts/channels", {"id": "slack", "name": "Slack", "url": env.receiver.url + "x"})
    assert other.status_code == 409
    assert json.loads(created.body)["hint"] == "http://127.0.0.1/…"
    param = boto3.client("ssm").get_parameter(Name="/academy/test/alerts/webhooks/slack")["Parameter"]
    assert param["Type"] == "SecureString"
    add_rule(env, channels=("slack",))
    signals.emit(sig("inc-1"))
    env.pump()
    assert len(env.receiver.delivered()) == 1
    bodies = [
        created.body,
        again.body,
        other.body,
        env.call("GET", "/admin/alerts/channels").body,
        env.call("GET", "/admin/audit?limit=100").body,
        env.call("GET", "/admin/alerts/log").body,
        env.call("GET", "/admin/jobs?limit=100").body,
    ]
    for body in bodies:
        assert secret not in (body.decode() if isinstance(body, bytes) else body)
    out = capfd.readouterr()
    assert secret not in out.out and secret not in out.err
    assert secret not in caplog.text
    assert env.call("DELETE", "/admin/alerts/channels/slack").status_code == 409  # a rule sends to it
    assert env.call("DELETE", "/admin/alerts/rules/r1").status_code == 200
    assert env.call("DELETE", "/admin/alerts/channels/slack").status_code == 200
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        boto3.client("ssm").get_parameter(Name="/academy/test/alerts/webhooks/slack")


def test_loopback_webhooks_are_refused_on_a_deployed_stage(env, monkeypatch):
    monkeypatch.setattr(service, "_local", lambda: False)
    got = env.call("POST", "/admin/alerts/channels", {"name": "x", "url": env.receiver.url})
    assert got.status_code == 400 and json.loads(got.body)["error"]["code"] == "invalid_webhook_url"
    assert env.call("POST", "/admin/alerts/channels", {"name": "x", "url": "http://hooks.slack.com/x"}).status_code == 400
    ok = env.call("POST", "/admin/alerts/channels", {"name": "x", "url": "https://hooks.slack.com/services/T/B/C"})
    assert ok.status_code == 201 and json.loads(ok.body)["hint"] == "https://hooks.slack.com/…"


def test_email_subscriptions_on_the_alerts_topic(env):
    got = env.call("POST", "/admin/alerts/email-subscriptions", {"email": "ops@example.com"})
    assert got.status_code == 201, got.body
    listed = json.loads(env.call("GET", "/admin/alerts/email-subscriptions").body)
    assert listed["topic"].endswith(":academy-test-alerts")
    assert [s["email"] for s in listed["items"]] == ["ops@example.com"]
    sid = listed["items"][0]["subscription_id"]
    assert sid
    assert env.call("DELETE", f"/admin/alerts/email-subscriptions/{sid}").status_code == 200
    assert json.loads(env.call("GET", "/admin/alerts/email-subscriptions").body)["items"] == []
    assert env.call("DELETE", f"/admin/alerts/email-subscriptions/{sid}").status_code == 404


# --- the engine -------------------------------------------------------------------------------------


def test_a_signal_is_delivered_to_email_and_webhook_and_logged(env):
    no_defaults()
    add_webhook(env)
    add_rule(env, channels=("hook", "email"), scope={"area": "customers."})
    signals.emit(sig("inc-1", scope=Scope(area="customers.homework.upload")))
    signals.emit(sig("inc-x", scope=Scope(area="admin.other")))  # out of the rule's scope
    env.pump()
    (body,) = env.receiver.delivered()
    assert set(body) == {"text", "blocks"} and "Something broke (inc-1)" in body["text"]
    log = env.log()
    assert sorted((r["channel"], r["state"], r["attempts"]) for r in log) == [("email", "sent", 1), ("hook", "sent", 1)]


def test_each_occurrence_fires_once_under_concurrent_emits_and_duplicate_deliveries(env):
    no_defaults()
    add_webhook(env)
    add_rule(env)
    threads = [threading.Thread(target=signals.emit, args=(sig("inc-1"),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    jobs = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    assert len(jobs) == 1  # one job per (kind, subject, occurrence), whoever emitted it
    # duplicate deliveries of the same evaluation (a redelivered message, a second job) while the job runs
    payload = service.payload_of(sig("inc-1"))

    def run() -> None:
        for _ in range(20):
            try:
                service.evaluate(payload, final_attempt=False)
                return
            except Exception:  # noqa: BLE001 - another run holds the send's lease: retry, like the runtime
                continue

    runs = [threading.Thread(target=run) for _ in range(6)]
    for t in runs:
        t.start()
    env.pump()
    for t in runs:
        t.join()
    texts = [b["text"].splitlines()[0] for b in env.receiver.delivered()]
    assert texts == ["[Academy Ops] Something broke (inc-1)"]
    assert store.throttle_of("r1", "grp-1").n == 1
    assert [(r["occurrence"], r["state"]) for r in env.log()] == [("inc-1", "sent")]
    assert ledger.get(jobs[0].job_id).state == states.SUCCEEDED


def test_concurrent_occurrences_are_each_counted_once(env):
    no_defaults()
    add_webhook(env)
    add_rule(env)
    payloads = [service.payload_of(sig(f"inc-{i}")) for i in range(1, 13)]

    def run(p) -> None:
        for _ in range(20):
            try:
                service.evaluate(p, final_attempt=False)
                return
            except Exception:  # noqa: BLE001 - a lease held by a duplicate: try again like the runtime
                continue

    threads = [threading.Thread(target=run, args=(p,)) for p in payloads + payloads]  # each twice, concurrently
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.throttle_of("r1", "grp-1").n == 12
    assert len(env.receiver.delivered()) == 2  # the 1st and the 10th
    numbers = sorted(r["n"] for r in env.log() if r["state"] in ("sent", "suppressed"))
    assert numbers == list(range(1, 13))


def test_throttling_sends_the_1st_10th_and_100th(env):
    no_defaults()
    add_webhook(env)
    add_rule(env, digest_minutes=10_000)
    for i in range(1, 121):
        service.evaluate(service.payload_of(sig(f"inc-{i}")), final_attempt=False)
    sent = [b["text"] for b in env.receiver.delivered()]
    assert len(sent) == 3
    assert ["Occurrence #1" in sent[0], "Occurrence #10" in sent[1], "Occurrence #100" in sent[2]] == [True, True, True]
    assert store.throttle_of("r1", "grp-1").pending == 117
    assert store.throttle_of("r1", "grp-2").n == 0  # per subject


def test_a_digest_of_the_suppressed_goes_out_at_most_every_digest_minutes(env, monkeypatch):
    no_defaults()
    add_webhook(env)
    add_rule(env, digest_minutes=60)
    t0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    clock = {"now": t0}
    monkeypatch.setattr(service, "utcnow", lambda: clock["now"])
    for i, minutes in enumerate([0, 1, 2, 3, 30, 61, 62, 90, 125], start=1):
        clock["now"] = t0 + timedelta(minutes=minutes)
        service.evaluate(service.payload_of(sig(f"inc-{i}")), final_attempt=False)
    texts = [b["text"].splitlines()[0] for b in env.receiver.delivered()]
    assert texts == [
        "[Academy Ops] Something broke (inc-1)",
        "[Academy Ops] Digest: 5 more occurrences of grp-1",  # #2..#6 at minute 61
        "[Academy Ops] Digest: 3 more occurrences of grp-1",  # #7..#9 at minute 125 (not at 62 or 90)
    ]
    digests = [r for r in env.log() if r["occurrence"].startswith("digest#")]
    assert sorted(r["digest_count"] for r in digests) == [3, 5]


def test_the_sweep_sends_a_due_digest_once_even_when_no_occurrence_comes(env, monkeypatch):
    no_defaults()
    add_webhook(env)
    add_rule(env, digest_minutes=60)
    t0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    clock = {"now": t0}
    monkeypatch.setattr(service, "utcnow", lambda: clock["now"])
    for i in range(1, 4):
        service.evaluate(service.payload_of(sig(f"inc-{i}")), final_attempt=False)
    clock["now"] = t0 + timedelta(minutes=30)
    service.request_sweep(clock["now"])
    env.pump()
    assert len(env.receiver.delivered()) == 1  # not due yet
    clock["now"] = t0 + timedelta(minutes=61)
    env.receiver.answers = [500]  # the first try fails: the sweep job retries and the digest is not lost
    service.request_sweep(clock["now"])
    service.request_sweep(clock["now"])  # the same 5-minute slot: one job
    env.pump()
    texts = [b["text"].splitlines()[0] for b in env.receiver.delivered()]
    assert texts[1:] == ["[Academy Ops] Digest: 2 more occurrences of grp-1"]
    clock["now"] = t0 + timedelta(minutes=200)
    service.request_sweep(clock["now"])
    env.pump()
    assert len(env.receiver.delivered()) == 2  # nothing waits any more
    assert store.waiting() == []
    sweeps = [j for j in ledger.Job.scan() if j.type == service.SWEEP_JOB_TYPE]
    assert len(sweeps) == 3 and all(ledger.get(j.job_id).state == states.SUCCEEDED for j in sweeps)


def test_the_watchdog_queues_the_digest_sweep_only_when_something_waits(env, monkeypatch):
    """Nothing waits: the 5-minute watchdog queues nothing. A throttle holds suppressed occurrences: it queues
    one sweep per 5-minute slot (twice in a slot is one job), and the due digest goes out with no new occurrence."""
    from chalicelib.monitors import service as monitors

    no_defaults()
    add_webhook(env)
    add_rule(env, digest_minutes=60)
    t0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    clock = {"now": t0}
    monkeypatch.setattr(service, "utcnow", lambda: clock["now"])
    monitors.use_clock(lambda: clock["now"])
    try:

        def sweeps() -> list:
            return [j for j in ledger.Job.scan() if j.type == service.SWEEP_JOB_TYPE]

        assert monitors.watchdog()["alert_digests"] is False and sweeps() == []
        for i in range(1, 4):  # the 1st is sent, the 2nd and 3rd wait for a digest
            service.evaluate(service.payload_of(sig(f"inc-{i}")), final_attempt=False)
        clock["now"] = t0 + timedelta(minutes=61)
        assert monitors.watchdog()["alert_digests"] is True
        monitors.watchdog()  # the same slot
        assert len(sweeps()) == 1
        env.pump()
        texts = [b["text"].splitlines()[0] for b in env.receiver.delivered()]
        assert texts[1:] == ["[Academy Ops] Digest: 2 more occurrences of grp-1"]
        clock["now"] = t0 + timedelta(minutes=70)
        assert monitors.watchdog()["alert_digests"] is False  # delivered: nothing waits any more
        assert len(sweeps()) == 1
    finally:
        monitors.use_clock(None)


def test_a_webhook_answering_500_is_retried_then_failed_and_no_duplicate_after_it_recovers(env):
    no_defaults()
    add_webhook(env)
    add_rule(env, channels=("hook", "email"))
    env.receiver.always = 500
    signals.emit(sig("inc-1"))
    env.pump()
    (job,) = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    job = ledger.get(job.job_id)
    assert job.state == states.FAILED and job.attempts == QUEUES["jobs"].max_receive_count
    assert len(env.receiver.received) == QUEUES["jobs"].max_receive_count
    rows = {r["channel"]: r for r in env.log()}
    assert rows["hook"]["state"] == "failed" and rows["hook"]["attempts"] == QUEUES["jobs"].max_receive_count
    assert "answered 500" in rows["hook"]["error"]
    assert rows["email"]["state"] == "sent" and rows["email"]["attempts"] == 1  # not re-sent by the retries
    env.receiver.always = None  # it recovers; an admin retries the job from the Jobs page
    assert env.call("POST", f"/admin/jobs/{job.job_id}/retry").status_code == 202
    env.pump()
    assert ledger.get(job.job_id).state == states.SUCCEEDED
    assert len(env.receiver.delivered()) == 1
    signals.emit(sig("inc-1"))  # the same occurrence again: nothing more
    env.pump()
    service.evaluate(service.payload_of(sig("inc-1")), final_attempt=False)
    assert len(env.receiver.delivered()) == 1
    rows = {r["channel"]: r for r in env.log()}
    assert rows["hook"]["state"] == "sent" and rows["email"]["attempts"] == 1


def test_a_webhook_failing_twice_then_ok_is_sent_once(env):
    no_defaults()
    add_webhook(env)
    add_rule(env)
    env.receiver.answers = [503, 500]
    signals.emit(sig("inc-1"))
    env.pump()
    (job,) = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    assert ledger.get(job.job_id).state == states.SUCCEEDED and ledger.get(job.job_id).attempts == 3
    assert len(env.receiver.received) == 3 and len(env.receiver.delivered()) == 1
    (row,) = env.log()
    assert row["state"] == "sent" and row["attempts"] == 3 and row["error"] is None


def test_a_webhook_answering_400_fails_for_good_without_retries(env):
    no_defaults()
    add_webhook(env)
    add_rule(env)
    env.receiver.always = 400
    signals.emit(sig("inc-1"))
    env.pump()
    (job,) = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    assert ledger.get(job.job_id).state == states.FAILED and ledger.get(job.job_id).attempts == 1
    (row,) = env.log()
    assert row["state"] == "failed" and "answered 400" in row["error"]


def test_the_log_pages_newest_first(env):
    no_defaults()
    add_webhook(env)
    add_rule(env, digest_minutes=10_000)
    for i in range(1, 6):
        service.evaluate(service.payload_of(sig(f"inc-{i}")), final_attempt=False)
    first = json.loads(env.call("GET", "/admin/alerts/log?limit=3").body)
    assert [r["occurrence"] for r in first["items"]] == ["inc-5", "inc-4", "inc-3"]
    second = json.loads(env.call("GET", f"/admin/alerts/log?limit=3&next_token={first['next_token']}").body)
    assert [r["occurrence"] for r in second["items"]] == ["inc-2", "inc-1"]


EMITTERS = ["APIHandler", "RunJobs", "RunMediaJobs", "JobsDeadLetters", "MediaDeadLetters", "IntegritySweep", "MonitorWatchdog"]


@pytest.mark.parametrize("function", EMITTERS)
def test_every_function_that_emits_may_fire_under_its_own_role(env, function):
    """The intake (in every function that files incidents), the ledger's final failure (the workers and the
    dead-letter consumers) and the watchdog emit: each one's dispatch of alerts.evaluate, and a duplicate's
    lookup, are calls its packaged role allows (the least-privilege fixture checks every call made here)."""
    from tests.least_privilege import _checker

    with _checker().recorder.running(function):
        signals.emit(sig(f"inc-{function}"))
        signals.emit(sig(f"inc-{function}"))  # a duplicate: reads the dedupe claim and the job
        service.request_sweep()
    jobs = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    assert len(jobs) == 1 and jobs[0].payload["occurrence"] == f"inc-{function}"


def test_a_failing_job_in_the_worker_alerts_through_the_engine(env, monkeypatch):
    """End to end in the worker: a job fails for good, the runtime files an incident (a new group: incident.new,
    emitted inside RunJobs), the alert job it queued runs, and the default rule's email is sent and logged."""
    from chalicelib.jobs import registry
    from chalicelib.jobs.dispatch import dispatch

    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0))  # real incidents this time
    registry.register("t_alert_bad", "jobs", "tests.jobfns:bad_input", timeout_s=30)
    try:
        job, _ = dispatch("t_alert_bad", {"key": "x"})
        env.pump()
    finally:
        registry.JOB_TYPES.pop("t_alert_bad", None)
    assert ledger.get(job.job_id).state == states.FAILED
    evaluations = [j for j in ledger.Job.scan() if j.type == service.JOB_TYPE]
    assert evaluations and all(ledger.get(j.job_id).state == states.SUCCEEDED for j in evaluations)
    sent = [r for r in env.log() if r["rule_id"] == "default-incident-new"]
    assert [(r["channel"], r["state"]) for r in sent] == [("email", "sent")]


def test_a_stricter_rule_ignores_a_signal_below_its_parameters(env):
    no_defaults()
    add_webhook(env)
    add_rule(env, kind="job.waiting", params={"minutes": 60})
    for n, minutes in ((1, 31), (2, 75)):
        signal = sig(f"job-{n}", subject="process_video_proof", kind="job.waiting", detail={"minutes": minutes})
        service.evaluate(service.payload_of(signal), final_attempt=False)
    (body,) = env.receiver.delivered()
    assert "(job-2)" in body["text"]  # 31 minutes is below the rule's 60: not an occurrence of this rule
    assert store.throttle_of("r1", "process_video_proof").n == 1


def test_a_sent_incident_alert_is_on_the_groups_timeline_once(env):
    """Issue 18's timeline: created, assigned, resolved, reopened, noted, notified. A retried or duplicate
    evaluation sends nothing more, so it writes no second entry."""
    from chalicelib.incidents import store as incidents

    no_defaults()
    add_webhook(env)
    add_rule(env)
    for _ in range(2):  # a duplicate delivery of the same alerts.evaluate job
        service.evaluate(service.payload_of(sig("inc-1")), final_attempt=False)
    entries = [e for e in incidents.TimelineEntry.query("grp-1") if e.event == "notified"]
    assert len(entries) == 1 and len(env.receiver.delivered()) == 1
    (entry,) = entries
    assert entry.details == {"rule_id": "r1", "rule": "rule r1", "channel": "hook", "occurrence": "inc-1"}
    assert entry.actor == {"role": "system", "id": "alerts"}
