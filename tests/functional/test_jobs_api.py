"""Admin > Insights > Jobs over HTTP: list, detail, summary, retry (one and bulk), cancel, audit, auth."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from chalicelib.core.db import new_id, utcnow
from chalicelib.core.settings import get_settings
from chalicelib.jobs import ledger, registry, states, worker
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.ledger import Job
from chalicelib.jobs.queues import QUEUES
from tests import jobops_fns

TYPES = {"t_needs_object": "tests.jobops_fns:needs_object", "t_rejects": "tests.jobops_fns:rejects"}


@pytest.fixture
def ops(app, client, tokens, monkeypatch):
    from chalicelib.core import aws

    aws.reset()
    jobops_fns.reset()
    for name, target in TYPES.items():
        registry.register(name, "jobs", target, timeout_s=30)
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0, report=lambda *a, **k: None))
    sqs = boto3.client("sqs")

    class Ops:
        def url(self, name: str) -> str:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]

        def arn(self, name: str) -> str:
            return sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        def pump(self, rounds: int = 30) -> None:
            from academy_cli.pump import drain_once

            name = QUEUES["jobs"].name
            for _ in range(rounds):
                if drain_once(sqs, self.url(name), self.arn(name), app.handler_map["run_jobs"]) == (0, 0):
                    return

        def depth(self, name: str) -> int:
            attrs = sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["All"])["Attributes"]
            return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

        def get(self, path: str, token: str | None = None):
            return client.http.get(path, headers=tokens.h(token or tokens.admin))

        def post(self, path: str, body=None, token: str | None = None):
            return client.http.post(
                path, headers=tokens.h(token or tokens.admin), body=json.dumps(body) if body is not None else ""
            )

        def delete(self, path: str, token: str | None = None):
            return client.http.delete(path, headers=tokens.h(token or tokens.admin))

        def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b""):
            return client.http.request(method, path, headers=headers, body=body)

        def upload(self, key: str) -> None:
            boto3.client("s3").put_object(Bucket=get_settings().bucket_name, Key=key, Body=b"homework")

    yield Ops()
    for name in TYPES:
        registry.JOB_TYPES.pop(name, None)


def poison(ops, key: str = "hw/1.pdf") -> str:
    """A job that fails every attempt until its object exists: ends failed, its message in the DLQ."""
    job, _ = dispatch("t_needs_object", {"key": key})
    ops.pump()
    return job.job_id


def rejected(n: int, message: str = "bad input") -> list[str]:
    ids = []
    for i in range(n):
        job, _ = dispatch("t_rejects", {"key": f"r{i}", "message": message})
        ids.append(job.job_id)
    return ids


def test_poison_job_is_failed_with_its_error_then_retry_after_fix_succeeds_once(ops):
    job_id = poison(ops)
    max_receives = QUEUES["jobs"].max_receive_count
    assert jobops_fns.calls["hw/1.pdf"] == max_receives
    assert ops.depth(QUEUES["jobs"].dlq_name) == 1

    listed = ops.get("/admin/jobs?state=failed").json_body
    assert [j["job_id"] for j in listed["items"]] == [job_id]
    assert "missing object" in listed["items"][0]["last_error"]["message"]
    detail = ops.get(f"/admin/jobs/{job_id}").json_body
    assert detail["state"] == "failed" and detail["attempts"] == max_receives
    assert len(detail["errors"]) == max_receives and detail["payload"] == {"key": "hw/1.pdf"}
    assert detail["actions"] == {"retry": True, "cancel": True}
    summary = ops.get("/admin/jobs/summary").json_body
    assert summary["states"]["failed"] == 1 and summary["types"]["t_needs_object"] == {"failed": 1}
    jobs_q = next(q for q in summary["queues"] if q["queue"] == "jobs")
    assert jobs_q["dead_letter"]["messages"] == 1 and jobs_q["main"]["messages"] == 0

    ops.upload("hw/1.pdf")  # the fix
    r = ops.post(f"/admin/jobs/{job_id}/retry")
    assert r.status_code == 202, r.body
    assert r.json_body["job"]["state"] == "queued" and r.json_body["dead_letters_removed"] == 1
    assert ops.depth(QUEUES["jobs"].dlq_name) == 0
    again = ops.post(f"/admin/jobs/{job_id}/retry")
    assert again.status_code == 409 and again.json_body["error"]["code"] == "already_queued"
    assert ops.depth(QUEUES["jobs"].name) == 1  # one fresh message, not two

    ops.pump()
    assert jobops_fns.calls["hw/1.pdf"] == max_receives + 1  # exactly one more run
    detail = ops.get(f"/admin/jobs/{job_id}").json_body
    assert detail["state"] == "succeeded" and detail["attempts"] == max_receives + 1
    assert len(detail["errors"]) == max_receives  # history kept
    assert detail["result"] == {"key": "hw/1.pdf", "size": 8}
    done = ops.post(f"/admin/jobs/{job_id}/retry")
    assert done.status_code == 409 and done.json_body["error"]["code"] == "already_succeeded"


def test_retry_racing_another_admin_loses_on_the_ledger_condition(ops, monkeypatch):
    """Two admins read the job as failed at once: the ledger's conditional requeue lets one through.

    (Threads cannot show this against moto: its in-process conditional writes are not atomic.)
    """
    from dataclasses import replace

    from chalicelib.operations import service

    (job_id,) = rejected(1)
    ops.pump()
    stale = ledger.get(job_id)  # what the second admin's request read, before the first one's write
    assert stale.state == states.FAILED
    assert ops.post(f"/admin/jobs/{job_id}/retry").status_code == 202
    monkeypatch.setattr(service, "config", replace(service.config, read_job=lambda _id: stale))
    r = ops.post(f"/admin/jobs/{job_id}/retry")
    assert r.status_code == 409 and r.json_body["error"]["code"] == "already_queued"
    assert ops.depth(QUEUES["jobs"].name) == 1
    ops.pump()
    assert jobops_fns.calls["r0"] == 2  # the first run, and one retry


def test_cancel_queued_job_is_skipped_by_the_worker(ops):
    ops.upload("hw/2.pdf")
    job, _ = dispatch("t_needs_object", {"key": "hw/2.pdf"})
    r = ops.delete(f"/admin/jobs/{job.job_id}")
    assert r.status_code == 200 and r.json_body["job"]["state"] == "cancelled"
    ops.pump()
    assert jobops_fns.calls["hw/2.pdf"] == 0
    assert ledger.get(job.job_id).state == states.CANCELLED
    assert ops.depth(QUEUES["jobs"].name) == 0  # the message was consumed and skipped
    again = ops.delete(f"/admin/jobs/{job.job_id}")
    assert again.status_code == 409 and again.json_body["error"]["code"] == "already_cancelled"
    # a cancelled job can be retried, and then it runs
    assert ops.post(f"/admin/jobs/{job.job_id}/retry").status_code == 202
    ops.pump()
    assert jobops_fns.calls["hw/2.pdf"] == 1 and ledger.get(job.job_id).state == states.SUCCEEDED


def test_cancel_failed_job_removes_its_dead_letter(ops):
    job_id = poison(ops, "hw/3.pdf")
    other = poison(ops, "hw/4.pdf")
    assert ops.depth(QUEUES["jobs"].dlq_name) == 2
    r = ops.delete(f"/admin/jobs/{job_id}")
    assert r.status_code == 200 and r.json_body["dead_letters_removed"] == 1
    assert ops.depth(QUEUES["jobs"].dlq_name) == 1  # the other job's letter is kept, and visible again
    sqs = boto3.client("sqs")
    msgs = sqs.receive_message(QueueUrl=ops.url(QUEUES["jobs"].dlq_name), MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["job_id"] for m in msgs] == [other]


def test_running_job_cancellable_only_when_stuck(ops):
    ops.upload("hw/5.pdf")
    job, _ = dispatch("t_needs_object", {"key": "hw/5.pdf"})
    assert ledger.start_run(job.job_id, stale_after_s=30) is not None
    r = ops.delete(f"/admin/jobs/{job.job_id}")
    assert r.status_code == 409 and r.json_body["error"]["code"] == "job_running"
    assert ops.get(f"/admin/jobs/{job.job_id}").json_body["stuck"] is False

    Job(job_id=job.job_id).update(actions=[Job.heartbeat_at.set(utcnow() - timedelta(seconds=120))])
    stuck = ops.get("/admin/jobs?state=stuck").json_body["items"]
    assert [j["job_id"] for j in stuck] == [job.job_id] and stuck[0]["stuck"] is True
    assert ops.get("/admin/jobs/summary").json_body["stuck"] == 1
    r = ops.delete(f"/admin/jobs/{job.job_id}")
    assert r.status_code == 200 and r.json_body["job"]["state"] == "cancelled"
    ops.pump()  # the original message: skipped
    assert jobops_fns.calls["hw/5.pdf"] == 0


def test_queued_job_whose_message_was_lost_turns_stuck_and_a_retry_sends_it_once(ops):
    """A crash between the ledger's requeue and the SQS send leaves a queued job with no message."""
    ops.upload("hw/lost.pdf")
    job, _ = dispatch("t_needs_object", {"key": "hw/lost.pdf"})
    boto3.client("sqs").purge_queue(QueueUrl=ops.url(QUEUES["jobs"].name))  # the message is gone
    fresh = ops.get(f"/admin/jobs/{job.job_id}").json_body
    assert fresh["state"] == "queued" and fresh["stuck"] is False and fresh["actions"]["retry"] is False
    r = ops.post(f"/admin/jobs/{job.job_id}/retry")
    assert r.status_code == 409 and r.json_body["error"]["code"] == "already_queued"  # not yet suspect

    stale_s = states.queued_stale_after_s(30) + 60
    Job(job_id=job.job_id).update(actions=[Job.updated_at.set(utcnow() - timedelta(seconds=stale_s))])
    detail = ops.get(f"/admin/jobs/{job.job_id}").json_body
    assert detail["stuck"] is True and detail["actions"] == {"retry": True, "cancel": True}
    listed = ops.get("/admin/jobs?state=stuck")
    assert listed.status_code == 200
    items, token = listed.json_body["items"], listed.json_body["next_token"]
    while token:  # running phase first, then queued: follow the cursor like a client does
        page = ops.get(f"/admin/jobs?state=stuck&next_token={token}").json_body
        items, token = items + page["items"], page["next_token"]
    assert [j["job_id"] for j in items] == [job.job_id]
    for forged in ("q.not-a-cursor", "not-a-cursor"):  # either phase's cursor, tampered: a clear 400
        r = ops.get(f"/admin/jobs?state=stuck&next_token={forged}")
        assert r.status_code == 400 and r.json_body["error"]["code"] == "invalid_next_token"
    assert ops.get("/admin/jobs/summary").json_body["stuck"] == 1

    first = ops.post(f"/admin/jobs/{job.job_id}/retry")
    again = ops.post(f"/admin/jobs/{job.job_id}/retry")  # a double click
    assert first.status_code == 202 and first.json_body["job"]["stuck"] is False
    assert again.status_code == 409 and again.json_body["error"]["code"] == "already_queued"
    assert ops.depth(QUEUES["jobs"].name) == 1
    ops.pump()
    assert ledger.get(job.job_id).state == "succeeded" and jobops_fns.calls["hw/lost.pdf"] == 1
    assert ops.get("/admin/jobs/summary").json_body["stuck"] == 0


def test_bulk_retry_dry_run_changes_nothing_then_apply_in_pages(ops):
    ids = rejected(5, message="Upstream Timeout while fetching")
    other = rejected(2, message="corrupt file")
    ops.pump()
    dry = ops.post("/admin/jobs/retry", {"error_contains": "upstream timeout"})
    assert dry.status_code == 200, dry.body
    body = dry.json_body
    assert body["dry_run"] is True and body["matched"] == 5 and body["examined"] == 7 and body["next_token"] is None
    assert {j["job_id"] for j in body["sample"]} == set(ids)
    assert {ledger.get(i).state for i in ids + other} == {states.FAILED}
    assert ops.depth(QUEUES["jobs"].name) == 0

    r = ops.post("/admin/jobs/retry", {"apply": True})
    assert r.status_code == 400 and r.json_body["error"]["code"] == "filter_required"

    retried: list[str] = []
    token = None
    for _ in range(10):
        page = ops.post(
            "/admin/jobs/retry",
            {"type": "t_rejects", "error_contains": "timeout", "apply": True, "limit": 3, "next_token": token},
        ).json_body
        assert page["dry_run"] is False and page["examined"] <= 3
        retried += page["retried"]
        token = page["next_token"]
        if token is None:
            break
    assert sorted(retried) == sorted(ids)
    assert {ledger.get(i).state for i in ids} == {states.QUEUED}
    assert {ledger.get(i).state for i in other} == {states.FAILED}
    assert ops.depth(QUEUES["jobs"].name) == 5
    # repeating the bulk retry finds nothing left to do
    repeat = ops.post("/admin/jobs/retry", {"error_contains": "timeout", "apply": True}).json_body
    assert repeat["matched"] == 0 and repeat["retried"] == []
    assert ops.depth(QUEUES["jobs"].name) == 5


def test_every_action_is_audited_with_actor_and_result(ops):
    (job_id,) = rejected(1)
    ops.pump()
    ops.post(f"/admin/jobs/{job_id}/retry")
    ops.post(f"/admin/jobs/{job_id}/retry")
    ops.delete(f"/admin/jobs/{job_id}")
    ops.post("/admin/jobs/retry", {"type": "t_rejects"})
    entries = ops.get("/admin/audit?limit=10").json_body["items"]
    got = [(e["action"], e["target"], e["result"].get("status"), e["result"].get("code")) for e in reversed(entries)]
    assert got == [
        ("job.retry", f"job:{job_id}", 202, None),
        ("job.retry", f"job:{job_id}", 409, "already_queued"),
        ("job.cancel", f"job:{job_id}", 200, None),
        ("job.bulk_retry", "jobs:failed", 200, None),
    ]
    assert all(e["actor"] == {"role": "admin", "id": "admin-1"} for e in entries)
    assert entries[0]["params"]["apply"] is False and entries[0]["result"]["dry_run"] is True
    only = ops.get("/admin/audit?action=job.retry").json_body["items"]
    assert len(only) == 2


def test_default_list_merges_attention_states_newest_first_and_pages(ops):
    failed = rejected(3)
    ok = dispatch("noop", {})[0].job_id
    ops.pump()
    assert ledger.get(ok).state == states.SUCCEEDED
    queued = [dispatch("t_rejects", {"key": f"q{i}"})[0].job_id for i in range(3)]
    running = queued.pop()
    ledger.start_run(running, stale_after_s=30)
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = ops.get("/admin/jobs?limit=2" + (f"&next_token={token}" if token else "")).json_body
        assert len(page["items"]) <= 2
        seen += [j["job_id"] for j in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == sorted(failed + queued + [running], reverse=True)
    assert ok not in seen
    by_type = ops.get("/admin/jobs?type=t_rejects&state=queued").json_body["items"]
    assert [j["job_id"] for j in by_type] == sorted(queued, reverse=True)
    assert [j["job_id"] for j in ops.get("/admin/jobs?type=noop").json_body["items"]] == [ok]


def test_auth_not_found_and_bad_input(ops, tokens):
    some_id = new_id()
    routes = [
        ("GET", "/admin/jobs"),
        ("GET", "/admin/jobs/summary"),
        ("GET", f"/admin/jobs/{some_id}"),
        ("POST", f"/admin/jobs/{some_id}/retry"),
        ("DELETE", f"/admin/jobs/{some_id}"),
        ("POST", "/admin/jobs/retry"),
    ]
    for method, path in routes:
        body = b"{}" if method == "POST" else b""
        customer = ops.request(method, path, tokens.h(tokens.customer_a), body)
        assert customer.status_code == 403 and customer.json_body["error"]["code"] == "wrong_role", (method, path)
        anonymous = ops.request(method, path, {"Content-Type": "application/json"}, body)
        assert anonymous.status_code == 401, (method, path)

    for path in (f"/admin/jobs/{some_id}", "/admin/jobs/not-a-job-id", f"/admin/jobs/{'x' * 3000}"):
        r = ops.get(path)
        assert r.status_code == 404 and r.json_body["error"]["code"] == "job_not_found"
    assert ops.post(f"/admin/jobs/{some_id}/retry").status_code == 404
    assert ops.delete(f"/admin/jobs/{some_id}").status_code == 404

    for query, field in [
        ("state=bogus", "query.state"),
        ("type=nope", "query.type"),
        ("type=bad%20type", "query.type"),
        ("limit=0", "query.limit"),
    ]:
        r = ops.get(f"/admin/jobs?{query}")
        assert r.status_code == 400 and field in r.json_body["error"]["details"]["fields"], query
    for query in ("next_token=%%%", "next_token=eyJ4IjoxfQ", "state=failed&next_token=abc"):
        r = ops.get(f"/admin/jobs?{query}")
        assert r.status_code == 400 and r.json_body["error"]["code"] == "invalid_next_token", query
    for body in ({"apply": "yes"}, {"type": "nope"}, {"unknown": 1}, {"limit": 1000}, {"state": "queued"}):
        r = ops.post("/admin/jobs/retry", body)
        assert r.status_code == 400, body
    r = ops.post("/admin/jobs/retry", {"next_token": "garbage!"})
    assert r.status_code == 400


def test_summary_reads_counters_not_the_history(ops, monkeypatch):
    """Succeeded jobs pile up for ever: the summary reads the counters (and a small stuck window), exactly."""
    from chalicelib.jobs import counts
    from chalicelib.operations.domain import STUCK_WINDOW

    reads = {"items": 0}
    real_query = Job.by_state.query

    def counting_query(*args, **kwargs):
        for item in real_query(*args, **kwargs):
            reads["items"] += 1
            yield item

    with Job.batch_write() as batch:  # bulk-seeded history: rows and their counts written side by side
        for i in range(12):
            job = ledger.new_job("t_needs_object", "jobs", {"key": f"done/{i}"}, None, None)
            job.state = states.SUCCEEDED
            batch.save(job)
    counts.add([(states.SUCCEEDED, "t_needs_object", 12)])
    failed = rejected(7)
    ops.pump()
    monkeypatch.setattr(Job.by_state, "query", counting_query)
    summary = ops.get("/admin/jobs/summary").json_body
    assert summary["states"]["succeeded"] == 12 and summary["capped_states"] == []
    assert summary["states"]["failed"] == len(failed) == 7
    assert summary["types"]["t_needs_object"]["succeeded"] == 12
    assert reads["items"] <= 2 * STUCK_WINDOW  # the stuck window only: no state's history is read
