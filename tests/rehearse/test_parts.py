"""The rehearsal's pure parts: package wiring, API Gateway's route matching and events, SQS batch responses."""

from __future__ import annotations

import base64
import copy
import json
from types import SimpleNamespace

import pytest

from academy_cli import package_wiring
from academy_cli.rehearse.apigw import Gateway, Matcher, is_binary
from academy_cli.rehearse.sqs import failed_ids
from academy_cli.rehearse.stack import Route

SAM = {
    "Resources": {
        "JobsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "academy-${Stage}-jobs"}}},
        "Worker": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Environment": {"Variables": {"ACADEMY_STAGE": "prod"}},
                "Events": {
                    "Src": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:academy-prod-jobs"}
                        },
                    }
                },
            },
        },
    }
}


def test_wiring_points_event_sources_at_the_stacks_own_queues_and_the_stage_parameter():
    sam = copy.deepcopy(SAM)
    changes = package_wiring.wire(sam, "prod")
    props = sam["Resources"]["Worker"]["Properties"]
    assert props["Events"]["Src"]["Properties"]["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert props["Environment"]["Variables"]["ACADEMY_STAGE"] == {"Ref": "Stage"}
    assert len(changes) == 2
    assert package_wiring.wire(sam, "prod") == []  # idempotent


def test_wiring_refuses_a_queue_the_stack_does_not_own():
    sam = copy.deepcopy(SAM)
    sam["Resources"]["Worker"]["Properties"]["Events"]["Src"]["Properties"]["Queue"] = "arn:aws:sqs:us-east-1:1:elsewhere"
    with pytest.raises(ValueError, match="elsewhere"):
        package_wiring.wire(sam, "prod")


def test_routes_match_literal_parts_first_and_decode_parameters():
    m = Matcher(
        [Route("/admin/jobs/{job_id}", {"GET": "f"}), Route("/admin/jobs/summary", {"GET": "f"}), Route("/", {"GET": "f"})]
    )
    route, params = m.match("/admin/jobs/summary")
    assert route.path == "/admin/jobs/summary" and params == {}
    route, params = m.match("/admin/jobs/a%20b")
    assert route.path == "/admin/jobs/{job_id}" and params == {"job_id": "a b"}
    assert m.match("/admin/jobs") is None
    assert m.match("/")[0].path == "/"


def test_binary_media_types():
    types = ["image/png", "video/*", "application~1octet-stream"]
    assert is_binary("image/png", types) and is_binary("video/mp4; x=1", types) and is_binary("application/octet-stream", types)
    assert not is_binary("application/json", types)


def test_proxy_response_with_multi_value_headers_and_base64_body():
    status, headers, body = Gateway.response(
        {
            "statusCode": 201,
            "headers": {"A": "1"},
            "multiValueHeaders": {"Set-Cookie": ["x=1", "y=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert status == 201 and ("Set-Cookie", "y=2") in headers and ("A", "1") in headers and body == b"\x00\x01"
    with pytest.raises(ValueError):
        Gateway.response({"body": "no status"})


def test_batch_item_failures_follow_aws_rules():
    ids = {"a", "b"}
    assert failed_ids({"batchItemFailures": []}, ids) == set()
    assert failed_ids(None, ids) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, ids) == {"a"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ids) == ids  # unknown id: whole batch
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == ids
    assert failed_ids("garbage", ids) == ids


def test_proxy_event_is_payload_v1(monkeypatch):
    deployed = SimpleNamespace(api_stage="api", api_id="abc123", binary_media_types=["image/png"], routes=[])
    gw = Gateway.__new__(Gateway)
    gw.deployed, gw.account, gw.region = deployed, "123456789012", "us-east-1"

    class Headers(dict):
        def items(self):
            return [("Content-Type", "image/png"), ("X-A", "1"), ("X-A", "2")]

    h = SimpleNamespace(headers=Headers({"Content-Type": "image/png"}), command="POST", client_address=("203.0.113.9", 5))
    event = gw.event(
        h, Route("/things/{id}", {"POST": "f"}), {"id": "7"}, "/things/7", "/api/things/7", "q=1&q=2", b"\x89PNG", "rid"
    )
    assert event["path"] == "/things/7" and event["requestContext"]["path"] == "/api/things/7"
    assert event["multiValueHeaders"]["X-A"] == ["1", "2"] and event["headers"]["X-A"] == "2"
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]} and event["queryStringParameters"] == {"q": "2"}
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x89PNG"
    assert event["requestContext"]["identity"]["sourceIp"] == "203.0.113.9" and event["requestContext"]["requestId"] == "rid"


class _Fake:
    """A stand-in for a deployed function (the gateway only calls ``invoke``)."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.events = []

    def invoke(self, event, request_id=None):
        self.events.append(event)
        return self.behaviour(event)


def _gateway(fn, monkeypatch, timeout_s=29.0):
    import academy_cli.rehearse.apigw as apigw
    from academy_cli.spawn import free_port

    monkeypatch.setattr(apigw, "INTEGRATION_TIMEOUT_S", timeout_s)
    deployed = SimpleNamespace(
        api_stage="api", api_id="abc", binary_media_types=["image/png"], routes=[Route("/things/{id}", {"ANY": "fn"})]
    )
    port = free_port()
    gw = Gateway(deployed, {"fn": fn}, "127.0.0.1", port, "123456789012", "us-east-1")
    gw.start()
    return gw, f"http://127.0.0.1:{port}"


def test_gateway_timeouts_errors_and_binary_bodies_over_http(monkeypatch):
    import time

    import requests

    from academy_cli.rehearse.functions import FunctionError

    def behave(event):
        if event["path"] == "/things/slow":
            time.sleep(1.0)
        if event["path"] == "/things/boom":
            raise FunctionError({"errorType": "ValueError", "errorMessage": "boom"})
        if event["path"] == "/things/bad":
            return {"no": "status"}
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(event),
            "isBase64Encoded": False,
        }

    fn = _Fake(behave)
    gw, base = _gateway(fn, monkeypatch, timeout_s=0.3)
    try:
        r = requests.get(f"{base}/api/things/slow", timeout=10)
        assert r.status_code == 504 and r.json() == {"message": "Endpoint request timed out"}
        assert requests.get(f"{base}/api/things/boom", timeout=10).status_code == 502
        assert requests.get(f"{base}/api/things/bad", timeout=10).status_code == 502
        r = requests.post(f"{base}/api/things/7?a=1", data=b"\x89PNG\x00", headers={"Content-Type": "image/png"}, timeout=10)
        event = r.json()
        assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x89PNG\x00"
        assert event["pathParameters"] == {"id": "7"} and event["requestContext"]["path"] == "/api/things/7"
        r = requests.post(f"{base}/things/8", json={"x": 1}, timeout=10)  # the root (custom domain) way
        event = r.json()
        assert not event["isBase64Encoded"] and json.loads(event["body"]) == {"x": 1} and event["path"] == "/things/8"
        assert requests.get(f"{base}/api/other", timeout=10).status_code == 403
    finally:
        gw.stop()
