"""Caps and logs of the deployed stack: timeouts that match their queues, concurrency, API throttling, access logs.

Applied to the merge template (``academy package``); every cap is a parameter with a safe default.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.jobs.queues import QUEUES
from infra.iam import ACCESS

API_STAGE = "api"  # chalice's api_gateway_stage (.chalice/config.json)
API_NAME = {"Fn::Sub": "academy-${Stage}-api"}
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTimeEpoch",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integration.error",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)  # no headers, no query strings: tokens and presigned signatures stay out of the logs


def _number(default: int, description: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {"Type": "Number", "Default": default, "MinValue": minimum, "MaxValue": maximum, "Description": description}


def event_name(function: str) -> str:
    """Chalice's logical id of a function's SQS event source (``RunMediaJobs`` → ``RunMediaJobsSqsEventSource``)."""
    return f"{function}SqsEventSource"


def add_limits(template: dict[str, Any]) -> None:
    params, resources = template["Parameters"], template["Resources"]
    # The deployed console is served over https: the bucket's CORS origin must be one.
    params["ConsoleOrigin"]["AllowedPattern"] = "^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"

    # Dead-letter consumers: their queue's visibility timeout is 6 x this.
    for fn, access in ACCESS.items():
        if access.consumes and access.consumes.endswith("-dlq"):
            spec = QUEUES[access.consumes.removesuffix("-dlq")]
            resources.setdefault(fn, {}).setdefault("Properties", {})["Timeout"] = spec.dead_letter_timeout

    # Workers: at most this many concurrent invocations per queue (SQS event source ScalingConfig, ≥ 2).
    caps = {"media": ("MediaWorkerMaxConcurrency", 5), "jobs": ("JobsWorkerMaxConcurrency", 10)}
    for key, (param, default) in caps.items():
        params[param] = _number(default, f"Most concurrent {key} worker invocations (SQS MaximumConcurrency).", 2, 1000)
        fn = next(fn for fn, a in ACCESS.items() if a.consumes == key)
        events = resources[fn]["Properties"].setdefault("Events", {})
        props = events.setdefault(event_name(fn), {}).setdefault("Properties", {})
        props["ScalingConfig"] = {"MaximumConcurrency": {"Ref": param}}

    # API Gateway: stage throttling and JSON access logs.
    params["ApiThrottlingBurstLimit"] = _number(100, "API stage throttling: burst (requests).", 1, 5000)
    params["ApiThrottlingRateLimit"] = _number(50, "API stage throttling: steady rate (requests per second).", 1, 10000)
    params["ApiGatewayCloudWatchRole"] = {
        "Type": "String",
        "Default": "create",
        "AllowedValues": ["create", "existing"],
        "Description": "API Gateway's account-wide CloudWatch Logs role: create and set one, or keep the region's own.",
    }
    template.setdefault("Conditions", {})["CreateApiGatewayCloudWatchRole"] = {
        "Fn::Equals": [{"Ref": "ApiGatewayCloudWatchRole"}, "create"]
    }
    resources["ApiAccessLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "Properties": {
            "LogGroupName": {"Fn::Sub": "/aws/apigateway/academy-${Stage}-api/access"},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        },
    }
    resources["ApiGatewayCloudWatchLogsRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "CreateApiGatewayCloudWatchRole",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "ManagedPolicyArns": [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
            ],
        },
    }
    resources["ApiGatewayAccount"] = {
        "Type": "AWS::ApiGateway::Account",
        "Condition": "CreateApiGatewayCloudWatchRole",
        "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchLogsRole", "Arn"]}},
    }
    api = resources.setdefault("RestAPI", {}).setdefault("Properties", {})
    api["Name"] = API_NAME
    api.setdefault("DefinitionBody", {}).setdefault("info", {})["title"] = API_NAME  # the same, whichever names the API
    api["TracingEnabled"] = True  # X-Ray on the stage (sampled): where a slow request spent its time
    api["MethodSettings"] = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
            "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
            "MetricsEnabled": False,
            "LoggingLevel": "OFF",  # execution logs would carry request bodies; access logs are enough
        }
    ]
    # The log group's ARN without GetAtt's trailing ":*", which API Gateway refuses.
    arn = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${ApiAccessLogGroup}"}
    api["AccessLogSetting"] = {"DestinationArn": arn, "Format": ACCESS_LOG_FORMAT}
