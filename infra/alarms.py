"""CloudWatch alarms of the deployed stack, to one SNS topic (an email subscription is a parameter).

- every dead-letter queue: any message (depth > 0), and its oldest message older than half of SQS's retention;
- every work queue: its oldest message older than a healthy message can live (all its receives and back-offs);
- every function: errors and throttles;
- the API: the share of 5xx answers above a parameter;
- the media worker: a run longer than 80 % of its timeout (the next long video will time out).
"""

from __future__ import annotations

from typing import Any

from chalicelib.jobs.queues import QUEUES, RETENTION_SECONDS
from infra.iam import ACCESS, queue_logical
from infra.limits import API_NAME, API_STAGE

BACK_OFF_MAX_S = 900  # chalicelib.jobs.worker.retry_delay_s's ceiling
DURATION_SHARE = 0.8
ALARM_ARNS = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:academy-${Stage}-*"


def _alarm(name: str, description: str, metric: dict[str, Any], threshold: Any, *, period: int = 300) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": f"academy-${{Stage}}-{name}"},
            "AlarmDescription": description,
            "ActionsEnabled": True,
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Period": period,
            "Threshold": threshold,
            "TreatMissingData": "notBreaching",
            **metric,
        },
    }


def _metric(namespace: str, name: str, statistic: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Statistic": statistic,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


def healthy_age_s(short: str) -> int:
    """The oldest a message of this queue gets while things work: every receive runs to its timeout, then backs off."""
    spec = QUEUES[short]
    return spec.max_receive_count * (spec.function_timeout + BACK_OFF_MAX_S)


def add_alarms(template: dict[str, Any]) -> None:
    params, resources = template["Parameters"], template["Resources"]
    params["AlarmEmail"] = {
        "Type": "String",
        "Default": "",
        "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
        "Description": "Email subscribed to the alarm topic (confirm the subscription mail); empty: subscribe yourself.",
    }
    params["Api5xxRateThreshold"] = {
        "Type": "Number",
        "Default": 0.05,
        "MinValue": 0,
        "MaxValue": 1,
        "Description": "Alarm when more than this share of API answers in 5 minutes are 5xx.",
    }
    template.setdefault("Conditions", {})["HasAlarmEmail"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    resources["AlarmTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": {"Fn::Sub": "academy-${Stage}-alarms"}, "DisplayName": "Academy Ops alarms"},
    }
    resources["AlarmTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "Topics": [{"Ref": "AlarmTopic"}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OnlyThisStacksAlarms",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": {"Ref": "AlarmTopic"},
                        "Condition": {
                            "ArnLike": {
                                "aws:SourceArn": {"Fn::Sub": ALARM_ARNS},
                            }
                        },
                    },
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": {"Ref": "AlarmTopic"},
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    }
    resources["AlarmEmailSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": "HasAlarmEmail",
        "Properties": {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
    }

    for short in QUEUES:
        dlq = {"QueueName": {"Fn::GetAtt": [queue_logical(f"{short}-dlq"), "QueueName"]}}
        work = {"QueueName": {"Fn::GetAtt": [queue_logical(short), "QueueName"]}}
        title = short.capitalize()
        resources[f"{title}DeadLettersAlarm"] = _alarm(
            f"{short}-dead-letters",
            f"Messages in the {short} dead-letter queue: jobs gave up (Admin > Insights > Jobs, or academy jobs list).",
            _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", dlq),
            0,
            period=60,
        )
        resources[f"{title}DeadLetterAgeAlarm"] = _alarm(
            f"{short}-dead-letter-age",
            f"The {short} dead-letter queue's oldest message is past half of SQS's retention: deal with it before it expires.",
            _metric("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", dlq),
            RETENTION_SECONDS // 2,
        )
        resources[f"{title}QueueAgeAlarm"] = _alarm(
            f"{short}-queue-age",
            f"A {short} message is older than all its receives and back-offs take: its consumer is not keeping up.",
            _metric("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", work),
            healthy_age_s(short),
        )

    for fn in ACCESS:
        for metric, what in (("Errors", "failed invocations"), ("Throttles", "throttled invocations")):
            resources[f"{fn}{metric}Alarm"] = _alarm(
                f"{fn}-{metric.lower()}",
                f"{fn}: {what} (its log group: /aws/lambda/academy-<stage>-{fn}).",
                _metric("AWS/Lambda", metric, "Sum", {"FunctionName": {"Ref": fn}}),
                0,
            )

    media = next(fn for fn, a in ACCESS.items() if a.consumes == "media")
    timeout_ms = QUEUES["media"].function_timeout * 1000
    resources["MediaWorkerDurationAlarm"] = _alarm(
        "media-worker-duration",
        f"A media worker run took over {int(DURATION_SHARE * 100)} % of its {timeout_ms // 1000} s timeout.",
        _metric("AWS/Lambda", "Duration", "Maximum", {"FunctionName": {"Ref": media}}),
        int(DURATION_SHARE * timeout_ms),
    )
    resources["Api5xxAlarm"] = _alarm(
        "api-5xx-rate",
        "The share of API answers that are 5xx is above Api5xxRateThreshold (incidents: Admin > Incident Hub).",
        _metric("AWS/ApiGateway", "5XXError", "Average", {"ApiName": API_NAME, "Stage": API_STAGE}),
        {"Ref": "Api5xxRateThreshold"},
    )
