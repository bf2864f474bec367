"""Every place where the rehearsal bridges a gap of the emulator (moto 5.2.5), and nothing else.

The template that is created is the one that ships, unchanged: these shims act on the emulator
(patched in the rehearsal's own process, where moto's server runs) or after the stack exists, never
on the template. Each one names the gap it bridges:

1. ``AWS::ApiGateway::RestApi`` with a ``Body``: moto reads only ``Name`` (a ``KeyError`` without it;
   AWS takes the title from the body) and ignores the body, so the API has no methods and the
   ``AWS::ApiGateway::Deployment`` fails ("The REST API doesn't contain any methods"). Patched: the
   name falls back to ``Body.info.title`` and the body's paths, methods and integrations are
   imported with moto's own OpenAPI importer (which refuses a ``swagger: "2.0"`` document as a whole,
   though the parts it reads are the same), and ``x-amazon-apigateway-binary-media-types`` is kept.
2. ``TimeToLiveSpecification`` on a table: moto's CloudFormation leaves TTL disabled. Applied with
   ``UpdateTimeToLive`` after the stack is created (:func:`after_create`).
3. Resources moto's CloudFormation does not create (a false ``Condition``, or a type it skips with a
   warning such as ``AWS::CloudWatch::Alarm`` or ``AWS::S3::BucketPolicy``) stay in its resource map
   as ``None``, and ``DescribeStackResource(s)`` then answers 500 for the whole stack. Patched: the
   stack's resource list leaves them out (they do not exist, as on AWS for a false condition).
4. ``Fn::GetAtt [LogGroup, Arn]``: AWS's CloudFormation returns ``arn:…:log-group:NAME:*`` (the
   group's streams), moto the bare group ARN, so a role's grant on its own log group (``infra/iam.py``)
   would not match its log streams. Patched: the attribute ends in ``:*`` as on AWS.
5. ``AWS::Lambda::LayerVersion``: moto returns a meaningless value for its outputs/attributes; the
   rehearsal never reads them: a function's layers are found by ARN among the stack's resources and
   their content at the S3 location the template names.
"""

from __future__ import annotations

import copy
from typing import Any

_installed = False


def install_emulator_shims() -> None:
    """Patch moto (in this process) for the gaps above. Idempotent; call before creating the stack."""
    global _installed
    if _installed:
        return
    from moto.apigateway import models

    original = models.RestAPI.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        props = cloudformation_json.get("Properties", {})
        body = props.get("Body")
        if not isinstance(body, dict):
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = {**props, "Name": props.get("Name") or body.get("info", {}).get("title") or resource_name}
        api = original(cls, resource_name, {**cloudformation_json, "Properties": props}, account_id, region_name, **kwargs)
        backend = models.apigateway_backends[account_id][region_name]
        doc = copy.deepcopy(body)
        doc.pop("swagger", None)  # moto's importer refuses Swagger 2.0 outright; it reads only paths/methods/integrations
        doc["openapi"] = "3.0.1"
        backend.put_rest_api(api.id, doc, fail_on_warnings=False, mode="overwrite")
        binary = body.get("x-amazon-apigateway-binary-media-types")
        if binary:
            api.binaryMediaTypes = list(binary)
        return api

    models.RestAPI.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[assignment]

    from moto.cloudformation import models as cfn_models

    cfn_models.Stack.stack_resources = property(  # type: ignore[assignment]
        lambda self: [r for r in self.resource_map.values() if r is not None]
    )

    from moto.logs import models as logs_models

    original_attr = logs_models.LogGroup.get_cfn_attribute

    def log_group_attribute(self: Any, attribute_name: str) -> str:
        value = original_attr(self, attribute_name)
        return f"{value}:*" if attribute_name == "Arn" and not value.endswith(":*") else value

    logs_models.LogGroup.get_cfn_attribute = log_group_attribute  # type: ignore[method-assign]
    _installed = True


def after_create(template: dict[str, Any], physical_ids: dict[str, str], dynamodb: Any) -> list[str]:
    """What moto's CloudFormation left undone once the stack exists (TTL); returns what was applied."""
    applied = []
    for logical, res in template["Resources"].items():
        spec = res.get("Properties", {}).get("TimeToLiveSpecification")
        if res.get("Type") != "AWS::DynamoDB::Table" or not spec or not spec.get("Enabled"):
            continue
        table = physical_ids[logical]
        current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") != "ENABLED":
            dynamodb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"AttributeName": spec["AttributeName"], "Enabled": True}
            )
            applied.append(f"TTL {table}.{spec['AttributeName']}")
    return applied
