"""Schemas come from one place: what the template deploys is what the models query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _by_type(key: dict) -> str:
    """HASH before RANGE (dict key order differs between DescribeTable and pynamodb, so not str())."""
    return key["KeyType"]


def test_deployed_tables_match_the_models(aws):
    from chalicelib.tables import ALL_MODELS

    ddb = boto3.client("dynamodb")
    for model in ALL_MODELS:
        desc = ddb.describe_table(TableName=model.Meta.table_name)["Table"]
        schema = model._get_schema()
        assert sorted(desc["KeySchema"], key=_by_type) == sorted(schema["key_schema"], key=_by_type)
        deployed = {g["IndexName"]: sorted(g["KeySchema"], key=_by_type) for g in desc.get("GlobalSecondaryIndexes", [])}
        declared = {g["index_name"]: sorted(g["key_schema"], key=_by_type) for g in schema["global_secondary_indexes"]}
        assert deployed == declared, model.__name__
        attrs = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
        for a in schema["attribute_definitions"]:
            assert attrs[a["AttributeName"]] == a["AttributeType"]


def test_queues_have_dead_letter_queues(aws):
    from chalicelib.jobs.queues import QUEUES

    sqs = boto3.client("sqs")
    for spec in QUEUES.values():
        url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(spec.dlq_name)
        assert int(redrive["maxReceiveCount"]) == spec.max_receive_count
        assert int(attrs["VisibilityTimeout"]) >= 6 * spec.function_timeout or int(attrs["VisibilityTimeout"]) == 43200
        dlq_url = sqs.get_queue_url(QueueName=spec.dlq_name)["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        assert int(dlq["VisibilityTimeout"]) >= 6 * spec.dead_letter_timeout  # its consumer's timeout, not SQS's 30 s


def test_dead_letter_consumers_time_out_as_their_queue_expects():
    from academy_cli.package_cmd import merge_template
    from chalicelib.jobs.queues import QUEUES
    from infra.iam import ACCESS

    template = merge_template("prod")
    for fn, access in ACCESS.items():
        if access.consumes and access.consumes.endswith("-dlq"):
            spec = QUEUES[access.consumes.removesuffix("-dlq")]
            assert template["Resources"][fn]["Properties"]["Timeout"] == spec.dead_letter_timeout
            dlq = template["Resources"][f"{spec.short.capitalize()}DeadLetterQueue"]["Properties"]
            assert dlq["VisibilityTimeout"] >= 6 * spec.dead_letter_timeout


def test_bucket_blocks_public_access_and_aborts_multipart(aws):
    s3 = boto3.client("s3")
    bucket = aws["MediaBucket"]
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert set(pab) == {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} and all(pab.values())
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert any("AbortIncompleteMultipartUpload" in r for r in rules)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 30 for r in rules)
    (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert cors["AllowedOrigins"] == ["http://127.0.0.1:8000"]  # the local API's origin, never "*"


def test_the_bucket_refuses_plain_http_and_cors_origin_is_a_parameter():
    from academy_cli.package_cmd import merge_template

    template = merge_template("prod")
    (deny,) = template["Resources"]["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]}, {"Fn::Sub": "${MediaBucket.Arn}/*"}]
    (rule,) = template["Resources"]["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [{"Ref": "ConsoleOrigin"}]
    origin = template["Parameters"]["ConsoleOrigin"]
    assert "Default" not in origin and origin["AllowedPattern"].startswith("^https://")  # deployed: https, asked for


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    """One ``academy package`` build shared by the package tests (it takes a while)."""
    out = tmp_path_factory.mktemp("pkg")
    subprocess.run(
        [sys.executable, "-m", "academy_cli", "package", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.mark.slow
def test_academy_package_passes_cfn_lint(packaged, tmp_path):
    out = packaged
    sam = json.loads((out / "sam.json").read_text())
    from infra.iam import check_roles

    assert check_roles(sam) == []
    functions = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert "APIHandler" in functions
    for fn in functions.values():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["ACADEMY_BUCKET"] == {"Ref": "MediaBucket"}
        assert env["ACADEMY_AUTH_MODE"] == "cognito"
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert functions["RunMediaJobs"]["Properties"]["Events"]["RunMediaJobsSqsEventSource"]["Properties"]["ScalingConfig"]
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(out / "sam.json")], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    _check_bytecode(out / "deployment.zip", tmp_path / "unzipped")


def _checkov() -> str | None:
    """checkov from ``make tools`` (.venv-tools): ``ACADEMY_CHECKOV`` (set by ``make test``) or the default place."""
    told = os.environ.get("ACADEMY_CHECKOV")
    if told:
        path = Path(told) if Path(told).is_absolute() else ROOT / told
        assert path.exists(), f"ACADEMY_CHECKOV={told} does not exist: run make tools"
        return str(path)
    default = ROOT / ".venv-tools" / "bin" / "checkov"
    return str(default) if default.exists() else None


@pytest.mark.slow
def test_checkov_finds_nothing_outside_the_skip_list(packaged):
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov is not installed: make tools (make test installs it)")
    config = ROOT / "infra" / "checkov.yaml"
    run = subprocess.run(
        [checkov, "-f", str(packaged / "sam.json"), "--config-file", str(config), "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(run.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert run.returncode == 0 and failed == [], failed
    assert summary["passed"] > 50  # it really looked at the template


def _tools_python() -> str | None:
    checkov = _checkov()
    return str(Path(checkov).with_name("python")) if checkov else None


@pytest.mark.slow
def test_the_template_aws_would_deploy_passes_cfn_lint(packaged, tmp_path):
    """The SAM transform (aws-sam-translator, offline) then cfn-lint on what it makes: the roles, event source
    mappings and API stage as CloudFormation gets them, not only the SAM shorthand cfn-lint sees in sam.json."""
    python = _tools_python()
    if python is None:
        pytest.skip("the tools venv is not installed: make tools (make test installs it)")
    out = tmp_path / "cfn.json"
    run = subprocess.run(
        [python, str(ROOT / "infra" / "sam_transform.py"), str(packaged / "sam.json"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    cfn = json.loads(out.read_text())
    kinds = [r["Type"] for r in cfn["Resources"].values()]
    assert not any(k.startswith("AWS::Serverless::") for k in kinds)
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 4 and "AWS::ApiGateway::Stage" in kinds
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    (stage,) = (r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert stage["AccessLogSetting"]["Format"] and stage["TracingEnabled"] is True


def test_every_checkov_skip_has_a_reason():
    lines = (ROOT / "infra" / "checkov.yaml").read_text().splitlines()
    skips = [line for line in lines if line.strip().startswith("- CKV")]
    assert 0 < len(skips) <= 12
    for line in skips:
        check, _, reason = line.partition("#")
        assert len(reason.strip()) > 20, f"{check.strip()} needs a one-line reason"


def _check_bytecode(zip_path: Path, dest: Path) -> None:
    """The package ships bytecode Lambda's read-only code directory can use, and nothing of chalice's CLI."""
    import zipfile

    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        z.extractall(dest)
    sources = [n for n in names if n.endswith(".py")]
    tag = sys.implementation.cache_tag

    def pyc(source: str) -> str:
        folder, _, name = source.rpartition("/")
        return f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc".lstrip("/")

    missing = [n for n in sources if pyc(n) not in names]
    assert len(missing) <= len(sources) // 100, missing[:20]  # only files that do not compile stay source-only
    assert {"app.py", "chalice/app.py", f"chalicelib/core/__pycache__/api.{tag}.pyc"} <= names
    assert not any(n.startswith(("pip/", "setuptools/", "inquirer/")) for n in names)  # chalice's CLI deps stay out
    assert not any(n.startswith(("emulation/", "academy_cli/", "loadtest/")) for n in names)  # local tooling stays out
    with zipfile.ZipFile(zip_path) as z:  # every pyc is ours: unchecked-hash (flags 0b01), none copied from a dev tree
        assert {int.from_bytes(z.read(n)[4:8], "little") for n in names if n.endswith(".pyc")} == {1}
    # Unchecked-hash bytecode is used without looking at the source: break a source, the import still works.
    (dest / "chalicelib" / "errors.py").write_text("this is not python (\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1", "ACADEMY_STAGE": "prod"}
    code = "import chalicelib.core.errors as e; print(e.__spec__.cached)"
    run = subprocess.run([sys.executable, "-S", "-c", code], cwd=dest, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith(f"errors.{tag}.pyc")
