"""Metrics added during an invocation are emitted (EMF on stdout) when it ends, for routes and workers."""

from __future__ import annotations

import json

from chalicelib.core.observability import metrics


def _metric_names(out: str) -> set[str]:
    return {m["Name"] for doc in _emf_lines(out) for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def _emf_lines(out: str) -> list[dict]:
    docs = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def test_route_metrics_are_flushed_after_the_request(client, tokens, capsys):
    r = client.http.post("/admin/students", headers=tokens.h(tokens.admin), body=json.dumps({"customer_id": "c", "name": "A"}))
    assert r.status_code == 201
    metrics.add_metric(name="ProbeOnly", unit="Count", value=1)  # left for the next invocation to flush
    client.http.get("/health")
    names = {
        m["Name"] for doc in _emf_lines(capsys.readouterr().out) for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert "ProbeOnly" in names


def test_job_metrics_are_flushed_after_the_batch(app, capsys):
    from chalice.test import Client

    from chalicelib.core import aws
    from chalicelib.jobs.dispatch import dispatch

    aws.reset()
    job, _ = dispatch("noop", {})
    body = json.dumps({"job_id": job.job_id, "dispatch_id": job.dispatch_id})
    with Client(app) as c:
        event = c.events.generate_sqs_event(message_bodies=[body], queue_name="academy-test-jobs")
        result = c.lambda_.invoke("run_jobs", event)
    assert result.payload == {"batchItemFailures": []}
    names = {
        m["Name"] for doc in _emf_lines(capsys.readouterr().out) for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"JobDispatched", "JobSucceeded"} <= names
