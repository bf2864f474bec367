"""The deployed template's alarms, caps and logs (the merge template ``academy package`` hands chalice)."""

from __future__ import annotations

import json

import pytest

from chalicelib.jobs.queues import QUEUES


@pytest.fixture(scope="module")
def template():
    from academy_cli.package_cmd import merge_template

    return merge_template("prod")


def _alarms(template) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v.get("Type") == "AWS::CloudWatch::Alarm"}


def _dims(alarm: dict) -> dict:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_every_alarm_notifies_the_topic_and_email_is_an_optional_parameter(template):
    alarms = _alarms(template)
    assert alarms and all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] == a["OKActions"] for a in alarms.values())
    assert all(a["TreatMissingData"] == "notBreaching" for a in alarms.values())
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    sub = template["Resources"]["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail" and sub["Properties"]["Protocol"] == "email"
    allow, deny = template["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":alarm:academy-${Stage}-*")
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dead_letter_and_queue_age_alarms(template):
    alarms = _alarms(template)
    for short, spec in QUEUES.items():
        dlq = {"QueueName": {"Fn::GetAtt": [f"{short.capitalize()}DeadLetterQueue", "QueueName"]}}
        depth = alarms[f"{short.capitalize()}DeadLettersAlarm"]
        assert depth["MetricName"] == "ApproximateNumberOfMessagesVisible" and depth["Threshold"] == 0
        assert depth["ComparisonOperator"] == "GreaterThanThreshold" and _dims(depth) == dlq
        age = alarms[f"{short.capitalize()}DeadLetterAgeAlarm"]
        assert age["MetricName"] == "ApproximateAgeOfOldestMessage" and _dims(age) == dlq
        assert age["Threshold"] < 14 * 24 * 3600  # before SQS drops the letter
        work = alarms[f"{short.capitalize()}QueueAgeAlarm"]
        assert _dims(work) == {"QueueName": {"Fn::GetAtt": [f"{short.capitalize()}Queue", "QueueName"]}}
        assert work["Threshold"] >= spec.max_receive_count * spec.function_timeout  # never on a healthy message


def test_every_function_has_error_and_throttle_alarms_and_the_media_worker_a_duration_alarm(template):
    from infra.iam import ACCESS

    alarms = _alarms(template)
    for fn in ACCESS:
        for metric in ("Errors", "Throttles"):
            alarm = alarms[f"{fn}{metric}Alarm"]
            assert alarm["Namespace"] == "AWS/Lambda" and alarm["MetricName"] == metric and alarm["Threshold"] == 0
            assert _dims(alarm) == {"FunctionName": {"Ref": fn}}
    duration = alarms["MediaWorkerDurationAlarm"]
    timeout_ms = template["Resources"]["RunMediaJobs"]["Properties"]["Timeout"] * 1000
    assert _dims(duration) == {"FunctionName": {"Ref": "RunMediaJobs"}} and duration["Statistic"] == "Maximum"
    assert 0.5 * timeout_ms < duration["Threshold"] < timeout_ms


def test_api_5xx_rate_alarm_watches_this_api(template):
    alarm = _alarms(template)["Api5xxAlarm"]
    api = template["Resources"]["RestAPI"]["Properties"]
    assert alarm["MetricName"] == "5XXError" and alarm["Statistic"] == "Average"  # Average of 5XXError is the rate
    assert _dims(alarm) == {"ApiName": api["Name"], "Stage": "api"}
    assert api["DefinitionBody"]["info"]["title"] == api["Name"]  # the body's title names the API too
    assert alarm["Threshold"] == {"Ref": "Api5xxRateThreshold"}


def test_concurrency_caps_throttling_and_access_logs_are_parameters(template):
    params, res = template["Parameters"], template["Resources"]
    for fn, param in (("RunMediaJobs", "MediaWorkerMaxConcurrency"), ("RunJobs", "JobsWorkerMaxConcurrency")):
        (event,) = res[fn]["Properties"]["Events"].values()
        assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": param}}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert params[param]["MinValue"] == 2  # SQS's floor
    (settings,) = res["RestAPI"]["Properties"]["MethodSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    access = res["RestAPI"]["Properties"]["AccessLogSetting"]
    assert "${ApiAccessLogGroup}" in access["DestinationArn"]["Fn::Sub"] and not access["DestinationArn"]["Fn::Sub"].endswith("*")
    fields = json.loads(access["Format"])
    assert {"requestId", "status", "ip", "resourcePath"} <= set(fields)
    assert not any("header" in v.lower() or "querystring" in v.lower() for v in fields.values())  # no tokens in logs
    assert res["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
