"""``academy package``: the deployable CloudFormation (SAM) template for AWS.

Runs ``chalice package`` with a merge template built from ``infra/`` plus what Chalice cannot
express: SQS partial batch responses, /tmp size, memory and timeout of each worker, the bucket
name and Cognito settings as function environment, and the stage parameter. Then adds compiled
bytecode to ``deployment.zip``: Lambda's code directory is read-only, so without it every cold
start compiles every module it imports (ours, pynamodb, botocore, pydantic …) from source.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from importlib.util import MAGIC_NUMBER, source_hash
from pathlib import Path
from typing import Any

import click

from academy_cli import package_prune, package_wiring
from chalicelib.core.settings import PROJECT_ROOT


def merge_template(stage: str) -> dict[str, Any]:
    from chalice.utils import to_cfn_resource_name

    from chalicelib.jobs.queues import QUEUES
    from infra.alarms import add_alarms
    from infra.cognito import add_user_pool
    from infra.iam import add_roles
    from infra.limits import add_limits
    from infra.template import build_template

    template = build_template()
    template["Parameters"]["Stage"]["Default"] = stage
    template["Parameters"]["CursorKey"] = {  # one HMAC key for every function's list cursors (chalicelib/core/cursors.py)
        "Type": "String",
        "NoEcho": True,
        "MinLength": 32,
        "Description": "Signs list cursors (openssl rand -base64 48); keep it across deploys (a new one restarts lists).",
    }
    env = {"ACADEMY_CURSOR_KEY": {"Ref": "CursorKey"}, "ACADEMY_BUCKET": {"Ref": "MediaBucket"}}
    env["ACADEMY_ALERTS_TOPIC"] = {"Ref": "AlertsTopic"}  # the alert engine's email channel (chalicelib/alerts)
    functions = ["APIHandler", *(to_cfn_resource_name(n) for n in function_names())]
    for fn in functions:
        template["Resources"][fn] = {"Properties": {"Environment": {"Variables": dict(env)}}}
    add_user_pool(template, functions)  # infra/cognito.py: the pool (or an existing one) and the auth environment
    for spec in QUEUES.values():
        fn = to_cfn_resource_name(spec.handler)
        if fn in functions:
            template["Resources"][fn]["Properties"]["EphemeralStorage"] = {"Size": spec.ephemeral_mb}
            template["Resources"][fn]["Properties"].update(MemorySize=spec.memory_mb, Timeout=spec.function_timeout)
    add_roles(template, functions)
    if (media_fn := to_cfn_resource_name(QUEUES["media"].handler)) in functions:
        add_ffmpeg_layer(template, media_fn)
    # Chalice never enables partial batch responses: without this, AWS deletes a whole batch whose records failed.
    for name in sqs_function_names():
        props = template["Resources"][to_cfn_resource_name(name)]["Properties"]
        event = to_cfn_resource_name(f"{name}-sqs-event-source")
        props["Events"] = {event: {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    add_limits(template)  # timeouts matching the queues, concurrency caps, API throttling and access logs
    add_alarms(template)  # to an SNS topic, email subscription a parameter
    return template


def add_ffmpeg_layer(template: dict[str, Any], function: str) -> None:
    """The ffmpeg layer (zip built by ``make layer``, uploaded to S3: > 50 MB) attached to the media worker."""
    template["Parameters"]["FfmpegLayerBucket"] = {"Type": "String", "Description": "S3 bucket holding ffmpeg-layer.zip."}
    template["Parameters"]["FfmpegLayerKey"] = {"Type": "String", "Description": "S3 key of ffmpeg-layer.zip (make layer)."}
    template["Resources"]["FfmpegLayer"] = {
        "Type": "AWS::Lambda::LayerVersion",
        "Properties": {
            "LayerName": {"Fn::Sub": "academy-${Stage}-ffmpeg"},
            "Description": "ffmpeg (libx264, aac) from the pinned imageio-ffmpeg wheel: /opt/bin/ffmpeg",
            "Content": {"S3Bucket": {"Ref": "FfmpegLayerBucket"}, "S3Key": {"Ref": "FfmpegLayerKey"}},
            "CompatibleRuntimes": ["python3.12"],
            "CompatibleArchitectures": ["x86_64"],
        },
    }
    template["Resources"][function]["Properties"]["Layers"] = [{"Ref": "FfmpegLayer"}]


def function_names() -> list[str]:
    """Names of the app's non-HTTP Lambda functions (SQS consumers, schedules)."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from app import app

    return [src.name for src in app.event_sources]


def sqs_function_names() -> list[str]:
    from chalice.app import SQSEventConfig

    from app import app

    return [src.name for src in app.event_sources if isinstance(src, SQSEventConfig)]


def _unchecked_hash_pyc(code: Any, source: bytes) -> bytes:
    """PEP 552 layout: magic, flags (hash-based, unchecked), the source's SipHash, the marshalled code."""
    return MAGIC_NUMBER + (0b01).to_bytes(4, "little") + source_hash(source) + marshal.dumps(code)


def add_bytecode(zip_path: Path, drop: Callable[[str], bool] = lambda name: False) -> tuple[int, int]:
    """Add ``__pycache__/<module>.cpython-312.pyc`` beside every ``.py`` in the deployment zip.

    Unchecked-hash pycs (PEP 552): Python uses them without comparing the source's mtime, which a zip
    round trip does not keep reliably; the code directory is read-only, so source and bytecode cannot
    drift. Only Python 3.12 bytecode is what the python3.12 runtime loads. Returns (compiled, skipped):
    a file that does not compile (e.g. a vendored test fixture) is left as source only. Any bytecode
    already in the zip is dropped first: ``chalice package`` copies the project's own ``__pycache__``
    (this machine's timestamp-checked files, stale or not); so is every entry ``drop`` names.
    """
    if sys.version_info[:2] != (3, 12):
        raise click.ClickException(f"bytecode must be compiled by Python 3.12 (the Lambda runtime), not {sys.version.split()[0]}")
    tag = sys.implementation.cache_tag  # cpython-312
    compiled = skipped = 0
    tmp = zip_path.with_suffix(".tmp.zip")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if "__pycache__/" in info.filename or info.filename.endswith(".pyc") or drop(info.filename):
                continue
            data = src.read(info)
            dst.writestr(info, data)
            if not info.filename.endswith(".py"):
                continue
            folder, _, name = info.filename.rpartition("/")
            pyc = f"{folder + '/' if folder else ''}__pycache__/{name[:-3]}.{tag}.pyc"
            try:
                code = compile(data, info.filename, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                skipped += 1
                continue
            entry = zipfile.ZipInfo(pyc, date_time=info.date_time)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, _unchecked_hash_pyc(code, data))
            compiled += 1
    tmp.replace(zip_path)
    return compiled, skipped


def package(out: Path, stage: str) -> Path:
    from infra.iam import check_roles

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    merge_path = out.parent / f"merge-{stage}.json"
    merge_path.write_text(json.dumps(merge_template(stage), indent=2))
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge_path), str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
    )
    add_bytecode(out / "deployment.zip", drop=package_prune.runtime_provided)  # the runtime's SDK stays out
    sam = json.loads((out / "sam.json").read_text())
    package_wiring.wire(sam, stage)  # event sources → the stack's own queues; ACADEMY_STAGE → Ref Stage
    (out / "sam.json").write_text(json.dumps(sam, indent=2))
    missing = [k for k, v in merge_template(stage)["Resources"].items() if "Type" not in v and k not in sam["Resources"]]
    if missing:
        raise click.ClickException(f"merge template names functions chalice did not produce: {missing}")
    if problems := check_roles(sam):
        raise click.ClickException("least privilege: " + "; ".join(problems))
    return out / "sam.json"


def register(cli: click.Group) -> None:
    @cli.command("package")
    @click.option("--out", type=click.Path(path_type=Path), default=Path("build/package"), show_default=True)
    @click.option("--stage", default="prod", show_default=True)
    def package_cmd(out: Path, stage: str) -> None:
        """Build the deployable template (chalice package + infra merge) into OUT."""
        path = package(out, stage)
        click.echo(f"wrote {path} (deploy: aws cloudformation package/deploy, see README)")
