"""Deploy the package into moto's CloudFormation as AWS would, then read back what was created.

The steps are a deploy's: ``aws cloudformation package`` (``deployment.zip`` and the layer zip
uploaded to an artifact bucket, each ``CodeUri`` rewritten to its ``s3://`` address), the
``AWS::Serverless-2016-10-31`` transform (:mod:`.template`), ``CreateStack`` with the template's
parameters. Then everything the rehearsal runs is read from the emulator's own APIs, not from the
app: functions (handler, environment, timeout, memory, role), the RestApi's resources and methods,
event source mappings, EventBridge rules. Where moto drops a property (below), it is read from the
deployed template instead, and :mod:`.shim` says so.
"""

from __future__ import annotations

import copy
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy_cli.rehearse import shim, template

ARTIFACT_BUCKET = "academy-rehearse-artifacts"
LAYER_ZIP = Path(__file__).resolve().parents[2] / "layers" / "ffmpeg" / "build" / "ffmpeg-layer.zip"


class StackError(RuntimeError):
    """The stack could not be created (the message carries CloudFormation's reason)."""


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    timeout_s: int
    memory_mb: int
    ephemeral_mb: int
    role_arn: str
    environment: dict[str, str]
    layers: list[str] = field(default_factory=list)  # layer version ARNs


@dataclass
class Route:
    path: str  # resource path, e.g. /admin/students/{student_id}
    methods: dict[str, str]  # HTTP method (or ANY) → function name of its aws_proxy integration


@dataclass
class Mapping:
    uuid: str
    function: str
    queue_arn: str
    batch_size: int
    window_s: int
    report_failures: bool
    enabled: bool


@dataclass
class Rule:
    name: str
    arn: str
    expression: str
    functions: list[str]
    enabled: bool


@dataclass
class Deployed:
    stack_name: str
    stage: str  # the Stage parameter
    api_id: str
    api_stage: str  # API Gateway stage name (the execute-api path prefix)
    binary_media_types: list[str]
    routes: list[Route]
    functions: dict[str, FunctionSpec]  # by function name
    mappings: list[Mapping]
    rules: list[Rule]
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    layer_sources: dict[str, tuple[str, str]]  # layer version ARN → (bucket, key)
    template: dict[str, Any]  # the transformed template as created (unchanged)

    @property
    def bucket(self) -> str:
        return self.physical_ids.get("MediaBucket", "")


def package_step(s3: Any, package_dir: Path, sam: dict[str, Any], layer_zip: Path | None) -> dict[str, str]:
    """What ``aws cloudformation package`` does: upload the code, point each ``CodeUri`` at it.
    Returns the parameters that name the uploaded layer (empty without a layer zip)."""
    try:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    code_key = "code/deployment.zip"
    s3.upload_file(str(package_dir / "deployment.zip"), ARTIFACT_BUCKET, code_key)
    for res in sam["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{code_key}"
    params: dict[str, str] = {}
    if "FfmpegLayerBucket" in sam.get("Parameters", {}):
        if layer_zip is None or not layer_zip.is_file():
            raise StackError(f"the template needs the ffmpeg layer zip: build it with make layer ({LAYER_ZIP})")
        s3.upload_file(str(layer_zip), ARTIFACT_BUCKET, "layers/ffmpeg-layer.zip")
        params = {"FfmpegLayerBucket": ARTIFACT_BUCKET, "FfmpegLayerKey": "layers/ffmpeg-layer.zip"}
    return params


def create(
    session: Any,
    package_dir: Path,
    *,
    stage: str,
    region: str,
    parameters: dict[str, str],
    layer_zip: Path | None = LAYER_ZIP,
    timeout_s: float = 120.0,
) -> Deployed:
    """Package, transform and create the stack ``academy-<stage>``; return what it deployed."""
    shim.install_emulator_shims()
    s3 = session.client("s3", region_name=region)
    sam = template.load_package(package_dir)
    params = {**package_step(s3, package_dir, sam, layer_zip), "Stage": stage, **parameters}
    cfn_template = template.translate(sam, region)
    declared = cfn_template.get("Parameters", {})
    missing = [k for k, v in declared.items() if "Default" not in v and k not in params]
    if missing:
        raise StackError(f"the template needs parameters the rehearsal was not given: {missing}")
    cfn = session.client("cloudformation", region_name=region)
    name = f"academy-{stage}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(cfn_template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + timeout_s
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cfn.describe_stack_events(StackName=name)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]
            ]
            raise StackError(f"stack {name} ended {status}: {'; '.join(reasons) or stack.get('StackStatusReason')}")
        time.sleep(0.2)
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    shim.after_create(cfn_template, physical, session.client("dynamodb", region_name=region))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return read(session, region, name, stage, cfn_template, physical, outputs, params)


def _resolve(value: Any, params: dict[str, str], physical: dict[str, str]) -> Any:
    """``Ref`` to a parameter or a resource's physical id (enough for the properties moto drops)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return params.get(value["Ref"], physical.get(value["Ref"]))
    return value


def read(
    session: Any,
    region: str,
    name: str,
    stage: str,
    cfn_template: dict[str, Any],
    physical: dict[str, str],
    outputs: dict[str, str],
    params: dict[str, str],
) -> Deployed:
    lam = session.client("lambda", region_name=region)
    resources = cfn_template["Resources"]
    functions: dict[str, FunctionSpec] = {}
    layer_sources: dict[str, tuple[str, str]] = {}
    for logical, res in resources.items():
        if res["Type"] == "AWS::Lambda::LayerVersion":
            content = res["Properties"]["Content"]
            arn = physical.get(logical, "")
            layer_sources[arn or logical] = (
                _resolve(content["S3Bucket"], params, physical),
                _resolve(content["S3Key"], params, physical),
            )
    for logical, res in resources.items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        cfg = lam.get_function_configuration(FunctionName=physical[logical])
        props = res["Properties"]
        # moto drops EphemeralStorage and Layers of a function created by CloudFormation (shim 4): the template's.
        ephemeral = int(props.get("EphemeralStorage", {}).get("Size") or cfg.get("EphemeralStorage", {}).get("Size", 512))
        layers = [la["Arn"] for la in cfg.get("Layers", [])]
        if not layers:
            for ref in props.get("Layers", []):
                logical_layer = ref.get("Ref") if isinstance(ref, dict) else None
                layers.append(physical.get(logical_layer or "", "") or logical_layer or str(ref))
        functions[cfg["FunctionName"]] = FunctionSpec(
            logical_id=logical,
            name=cfg["FunctionName"],
            arn=cfg["FunctionArn"],
            handler=cfg["Handler"],
            timeout_s=int(cfg.get("Timeout", 3)),
            memory_mb=int(cfg.get("MemorySize", 128)),
            ephemeral_mb=ephemeral,
            role_arn=cfg["Role"],
            environment=dict(cfg.get("Environment", {}).get("Variables", {})),
            layers=layers,
        )
    by_arn = {f.arn: f.name for f in functions.values()}
    mappings = [
        Mapping(
            uuid=m["UUID"],
            function=by_arn.get(m["FunctionArn"], m["FunctionArn"].rsplit(":", 1)[-1]),
            queue_arn=m["EventSourceArn"],
            batch_size=int(m.get("BatchSize", 10)),
            window_s=int(m.get("MaximumBatchingWindowInSeconds", 0)),
            report_failures="ReportBatchItemFailures" in m.get("FunctionResponseTypes", []),
            enabled=m.get("State", "Enabled") == "Enabled",
        )
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"] in by_arn
    ]
    events = session.client("events", region_name=region)
    rules = []
    for logical, res in resources.items():
        if res["Type"] != "AWS::Events::Rule" or not res["Properties"].get("ScheduleExpression"):
            continue
        rule = events.describe_rule(Name=physical[logical])
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        rules.append(
            Rule(
                name=rule["Name"],
                arn=rule["Arn"],
                expression=rule["ScheduleExpression"],
                functions=[by_arn[t["Arn"]] for t in targets if t["Arn"] in by_arn],
                enabled=rule.get("State", "ENABLED") == "ENABLED",
            )
        )
    api_logical = next(k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::RestApi")
    api_id = physical[api_logical]
    apigw = session.client("apigateway", region_name=region)
    api = apigw.get_rest_api(restApiId=api_id)
    routes = []
    for item in apigw.get_resources(restApiId=api_id, limit=500, embed=["methods"])["items"]:
        methods = {}
        for method, spec in (item.get("resourceMethods") or {}).items():
            integration = spec.get("methodIntegration") or {}
            uri = integration.get("uri", "")
            if integration.get("type") != "aws_proxy" or "/functions/" not in uri:
                continue
            fn_arn = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
            if fn_arn in by_arn:
                methods[method] = by_arn[fn_arn]
        if methods:
            routes.append(Route(item["path"], methods))
    # moto has no AWS::ApiGateway::Stage (shim 4): the stage name is the template's.
    api_stage = next((v["Properties"]["StageName"] for v in resources.values() if v["Type"] == "AWS::ApiGateway::Stage"), "Stage")
    return Deployed(
        stack_name=name,
        stage=stage,
        api_id=api_id,
        api_stage=api_stage,
        binary_media_types=list(api.get("binaryMediaTypes", [])),
        routes=routes,
        functions=functions,
        mappings=mappings,
        rules=rules,
        outputs=outputs,
        physical_ids=physical,
        layer_sources=layer_sources,
        template=copy.deepcopy(cfn_template),
    )


def unzip(s3: Any, bucket: str, key: str, dest: Path) -> Path:
    """Download and unzip one artifact (code or layer) to ``dest`` (kept between functions: same key, same dir)."""
    marker = dest / ".unzipped"
    if marker.is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.with_suffix(".zip")
    s3.download_file(bucket, key, str(archive))
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                (dest / info.filename).chmod(mode)
    archive.unlink()
    marker.write_text(key)
    return dest


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
