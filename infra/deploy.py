"""Deploy the infra template into an endpoint (moto locally) and read back what the app needs."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

from infra.template import build_template

STACK_PREFIX = "academy"


def stack_name(stage: str) -> str:
    return f"{STACK_PREFIX}-{stage}"


LOCAL_ORIGIN = "http://127.0.0.1:8000"  # academy up's default API (and console) origin


def deploy(stage: str, region: str | None = None, console_origin: str = LOCAL_ORIGIN) -> dict[str, str]:
    """Create (or reuse) the stack and return its outputs. Applies TTL and bucket settings moto's CFN leaves off.

    ``console_origin``: the only origin the bucket's CORS allows (locally, the local API's origin).
    """
    region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    cfn = boto3.client("cloudformation", region_name=region)
    template = build_template()
    name = stack_name(stage)
    existing = {
        s["StackName"] for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])["StackSummaries"]
    }
    if name not in existing:
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[
                {"ParameterKey": "Stage", "ParameterValue": stage},
                {"ParameterKey": "ConsoleOrigin", "ParameterValue": console_origin},
            ],
        )
        _wait(cfn, name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])}
    _apply_ttl(template, stage, region)
    _apply_bucket_settings(template, outputs["MediaBucket"], region, {"ConsoleOrigin": console_origin})
    return outputs


def _wait(cfn: Any, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return
        if "FAILED" in status or "ROLLBACK" in status:
            raise RuntimeError(f"stack {name} ended {status}")
        time.sleep(0.2)
    raise TimeoutError(f"stack {name} not ready after {timeout}s")


def _apply_ttl(template: dict[str, Any], stage: str, region: str) -> None:
    ddb = boto3.client("dynamodb", region_name=region)
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        spec = props.get("TimeToLiveSpecification")
        if res["Type"] != "AWS::DynamoDB::Table" or not spec:
            continue
        table = props["TableName"]["Fn::Sub"].replace("${Stage}", stage)
        current = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]
        if current not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec)


def _parameter(value: Any, template: dict[str, Any], params: dict[str, str]) -> Any:
    """A ``{"Ref": parameter}`` replaced by its value (given, else the template's default)."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Parameters"]:
        name = value["Ref"]
        return params.get(name, template["Parameters"][name].get("Default"))
    return value


def _apply_bucket_settings(template: dict[str, Any], bucket: str, region: str, params: dict[str, str]) -> None:
    """moto's CloudFormation creates the bucket but drops these properties; put them back."""
    props = template["Resources"]["MediaBucket"]["Properties"]
    s3 = boto3.client("s3", region_name=region)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    rules = []
    for r in props["LifecycleConfiguration"]["Rules"]:
        rule: dict[str, Any] = {"ID": r["Id"], "Status": r["Status"], "Filter": {"Prefix": ""}}
        if "AbortIncompleteMultipartUpload" in r:
            rule["AbortIncompleteMultipartUpload"] = r["AbortIncompleteMultipartUpload"]
        if "NoncurrentVersionExpiration" in r:
            days = _parameter(r["NoncurrentVersionExpiration"]["NoncurrentDays"], template, params)
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
        if r.get("ExpiredObjectDeleteMarker"):
            rule["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        rules.append(rule)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    cors = [
        {
            **{
                {"ExposedHeaders": "ExposeHeaders"}.get(k, k): v  # CloudFormation → S3 API names
                for k, v in r.items()
                if k not in ("MaxAge", "AllowedOrigins")
            },
            "AllowedOrigins": [_parameter(o, template, params) for o in r["AllowedOrigins"]],
            "MaxAgeSeconds": r.get("MaxAge", 0),
        }
        for r in props["CorsConfiguration"]["CorsRules"]
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": cors})
    # MediaBucketPolicy (deny non-TLS) is not applied here: moto ignores its aws:SecureTransport condition and
    # would deny every request, and the local emulator is plain HTTP on loopback by design. AWS gets it.


def export_env(outputs: dict[str, str]) -> dict[str, str]:
    """Environment variables the app reads, from stack outputs."""
    return {"ACADEMY_BUCKET": outputs["MediaBucket"], "ACADEMY_ALERTS_TOPIC": outputs["AlertsTopic"]}
