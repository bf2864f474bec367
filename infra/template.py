"""Builds the CloudFormation template for every stateful resource, from the code that uses them.

Tables come from the pynamodb models (so schema and template cannot drift), queues from
``chalicelib.jobs.queues``. The same template is deployed into moto by the local stack and
merged into ``chalice package`` output for AWS. ``python -m infra.template`` prints it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.jobs.queues import QUEUES, RETENTION_SECONDS


def logical_name(name: str, suffix: str) -> str:
    """``task-instances`` + ``Table`` → ``TaskInstancesTable`` (a resource's logical id)."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name)) + suffix


_logical = logical_name


def _keys(key_schema: list[dict[str, str]]) -> list[dict[str, str]]:
    """HASH first, then RANGE (CloudFormation and DynamoDB insist on the order)."""
    ordered = sorted(key_schema, key=lambda k: k["KeyType"] != "HASH")
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def table_resource(model: type[Model]) -> dict[str, Any]:
    schema = model._get_schema()
    props: dict[str, Any] = {
        "TableName": {"Fn::Sub": f"academy-${{Stage}}-{model.Meta.short_name}"},
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
            for a in sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"])
        ],
        "KeySchema": _keys(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    gsis = []
    for gsi in sorted(schema["global_secondary_indexes"], key=lambda g: g["index_name"]):
        proj = gsi["projection"]
        projection: dict[str, Any] = {"ProjectionType": proj["ProjectionType"]}
        if proj.get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = proj["NonKeyAttributes"]
        gsis.append(
            {
                "IndexName": gsi["index_name"],
                "KeySchema": _keys(gsi["key_schema"]),
                "Projection": projection,
            }
        )
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": props}


ORIGIN_PATTERN = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"  # locally http; the deployed template asks for https


def bucket_policy() -> dict[str, Any]:
    """Refuse every request that does not come over TLS (``aws:SecureTransport``), whoever makes it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [{"Fn::GetAtt": ["MediaBucket", "Arn"]}, {"Fn::Sub": "${MediaBucket.Arn}/*"}],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def build_template() -> dict[str, Any]:
    from chalicelib.tables import ALL_MODELS

    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for model in ALL_MODELS:
        short = model.Meta.short_name
        logical = _logical(short, "Table")
        resources[logical] = table_resource(model)
        outputs[logical] = {"Value": {"Ref": logical}}
    for spec in QUEUES.values():
        q, dlq = _logical(spec.short, "Queue"), _logical(spec.short, "DeadLetterQueue")
        resources[dlq] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": f"academy-${{Stage}}-{spec.short}-dlq"},
                "VisibilityTimeout": spec.dead_letter_visibility_timeout,
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        }
        resources[q] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": f"academy-${{Stage}}-{spec.short}"},
                "VisibilityTimeout": spec.visibility_timeout,
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": spec.max_receive_count,
                },
            },
        }
        outputs[q] = {"Value": {"Ref": q}}
        outputs[dlq] = {"Value": {"Ref": dlq}}
    resources["MediaBucket"] = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": {"Fn::Sub": "academy-${Stage}-media-${AWS::AccountId}"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "VersioningConfiguration": {"Status": "Enabled"},  # an overwrite or delete can be undone
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "abort-incomplete-multipart",
                        "Status": "Enabled",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    },
                    {
                        "Id": "expire-noncurrent-versions",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": {"Ref": "NoncurrentVersionDays"}},
                    },
                    {"Id": "remove-expired-delete-markers", "Status": "Enabled", "ExpiredObjectDeleteMarker": True},
                ]
            },
            "CorsConfiguration": {
                "CorsRules": [
                    {
                        "AllowedMethods": ["POST", "PUT", "GET", "HEAD"],  # PUT: the parts of a multipart upload
                        "AllowedOrigins": [{"Ref": "ConsoleOrigin"}],
                        "AllowedHeaders": ["*"],
                        "ExposedHeaders": ["ETag"],
                        "MaxAge": 3000,
                    }
                ]
            },
        },
    }
    resources["MediaBucketPolicy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": {"Ref": "MediaBucket"}, "PolicyDocument": bucket_policy()},
    }
    outputs["MediaBucket"] = {"Value": {"Ref": "MediaBucket"}}
    # The alert engine's email channel (chalicelib/alerts): subscriptions are managed from the console.
    resources["AlertsTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": {"Fn::Sub": "academy-${Stage}-alerts"}, "DisplayName": "Academy Ops alerts"},
    }
    outputs["AlertsTopic"] = {"Value": {"Ref": "AlertsTopic"}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Academy Ops: tables, queues with dead-letter queues, the media bucket and the alerts topic.",
        "Parameters": {
            "Stage": {"Type": "String", "Default": "dev", "AllowedPattern": "^[a-z0-9-]+$"},
            "ConsoleOrigin": {
                "Type": "String",
                "AllowedPattern": ORIGIN_PATTERN,
                "Description": "The console's origin (scheme://host[:port], no path), the only one the bucket's CORS allows.",
            },
            "NoncurrentVersionDays": {
                "Type": "Number",
                "Default": 30,
                "MinValue": 1,
                "Description": "Days an overwritten or deleted media object's previous version is kept.",
            },
        },
        "Resources": resources,
        "Outputs": outputs,
    }


def main() -> None:
    print(json.dumps(build_template(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
