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


def deploy(stage: str, region: str | None = None) -> dict[str, str]:
    """Create (or reuse) the stack and return its outputs. Applies TTL that moto's CFN leaves off."""
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
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
        )
        _wait(cfn, name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Outputs", [])}
    _apply_ttl(template, stage, region)
    _apply_bucket_settings(template, outputs["MediaBucket"], region)
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


def _apply_bucket_settings(template: dict[str, Any], bucket: str, region: str) -> None:
    """moto's CloudFormation creates the bucket but drops these properties; put them back."""
    props = template["Resources"]["MediaBucket"]["Properties"]
    s3 = boto3.client("s3", region_name=region)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": r["Id"],
                    "Status": r["Status"],
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": r["AbortIncompleteMultipartUpload"],
                }
                for r in props["LifecycleConfiguration"]["Rules"]
            ]
        },
    )
    rules = [
        {{"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}.get(k, k): v for k, v in r.items()}  # CFN → S3 API names
        for r in props["CorsConfiguration"]["CorsRules"]
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


def export_env(outputs: dict[str, str]) -> dict[str, str]:
    """Environment variables the app reads, from stack outputs."""
    return {"ACADEMY_BUCKET": outputs["MediaBucket"]}
