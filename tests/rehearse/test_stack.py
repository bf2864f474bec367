"""The real package, transformed by aws-sam-translator and created in moto server's CloudFormation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from academy_cli.rehearse import stack, template


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's server on a free loopback port; this test's AWS calls go there."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    try:
        yield boto3.session.Session(region_name="us-east-1")
    finally:
        server.stop()


def test_the_package_deploys_with_its_stage_honoured_and_the_template_unchanged(emulator, package_dir: Path, layer_zip: Path):
    sam = template.load_package(package_dir)
    deployed = stack.create(
        emulator,
        package_dir,
        stage="staging",
        region="us-east-1",
        parameters={
            "CognitoIssuer": "https://cognito-idp.us-east-1.amazonaws.com/pool",
            "CognitoAppClientId": "client",
            "CursorKey": "rehearsal-test-cursor-key-0123456789abcdef",
            "ConsoleOrigin": "https://console.example.test",
        },
        layer_zip=layer_zip,
    )
    cfn = emulator.client("cloudformation")
    assert cfn.describe_stacks(StackName="academy-staging")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    # What was created is exactly the transform of the shipped template (after the package step's CodeUri):
    # the emulator's gaps are bridged in shim.py, never in the template.
    body = cfn.get_template(StackName="academy-staging")["TemplateBody"]  # botocore parses a JSON body itself
    created = json.loads(json.dumps(body)) if not isinstance(body, str) else json.loads(body)
    stack.package_step(emulator.client("s3"), package_dir, sam, layer_zip)
    assert created == template.translate(sam, "us-east-1") == deployed.template
    assert len(created["Resources"]) >= 42

    # Every function reads the Stage parameter, not the packaging stage; every event source is the stack's own queue.
    assert {f.environment["ACADEMY_STAGE"] for f in deployed.functions.values()} == {"staging"}
    queues = {m.queue_arn.rsplit(":", 1)[-1] for m in deployed.mappings}
    assert queues == {"academy-staging-jobs", "academy-staging-jobs-dlq", "academy-staging-media", "academy-staging-media-dlq"}
    assert all(m.report_failures for m in deployed.mappings)
    media = next(f for f in deployed.functions.values() if f.handler.endswith("run_media_jobs"))
    assert media.ephemeral_mb == 10240 and media.memory_mb == 2048 and media.timeout_s == 900 and media.layers
    # tasks, the monitors watchdog, integrity sweep
    assert sorted(r.expression for r in deployed.rules) == ["cron(0 * * * ? *)", "rate(5 minutes)", "rate(6 hours)"]
    paths = {r.path for r in deployed.routes}
    assert {"/health", "/admin/students", "/console", "/console/static/{name}"} <= paths
    assert deployed.api_stage == "api" and "image/png" in deployed.binary_media_types
    ttl = emulator.client("dynamodb").describe_time_to_live(TableName="academy-staging-incident-limits")
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_the_package_leaves_the_runtimes_sdk_out(package_dir: Path) -> None:
    """boto3/botocore and their dependencies come from the runtime (the rehearsal runs every function with
    exactly the pinned runtime set): the zip carries none of them, so code + ffmpeg layer keep their headroom."""
    import zipfile

    from academy_cli.package_prune import RUNTIME_PROVIDED, runtime_provided

    with zipfile.ZipFile(package_dir / "deployment.zip") as z:
        names = z.namelist()
        unzipped_mib = sum(i.file_size for i in z.infolist()) / 2**20
    assert not [n for n in names if runtime_provided(n)]
    assert {n.split("/", 1)[0] for n in names}.isdisjoint(RUNTIME_PROVIDED)
    assert "pynamodb/__init__.py" in names and "jwt/__init__.py" in names
    assert unzipped_mib < 40, unzipped_mib  # 57.7 MiB with botocore and its dependencies
