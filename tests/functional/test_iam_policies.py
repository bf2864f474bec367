"""Least privilege per function: the shape of the packaged roles, and the recorder behind the checks.

The behavioural check runs in every functional test (``tests/least_privilege.py``): each AWS call a
function makes must be allowed by its role, and a full functional run must use every grant.
"""

from __future__ import annotations

import json

import pytest

from tests.iam_calls import ACCOUNT, REGION, Call, allowed, object_arn, packaged_policies, table_arn

STAGE = "test"
BUCKET = f"academy-{STAGE}-media-{ACCOUNT}"
VIDEO = "customers/c1/students/s1/videos/v1"
HOMEWORK = "customers/c1/students/s1/homework/h1"


def queue(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:academy-{STAGE}-{name}"


@pytest.fixture(scope="module")
def policies():
    return packaged_policies(STAGE)


def test_every_function_has_its_own_role_with_one_policy_of_stack_resources():
    from chalice.utils import to_cfn_resource_name

    from academy_cli.package_cmd import function_names, merge_template
    from infra.iam import ACCESS, role_logical

    template = merge_template("prod")
    functions = {"APIHandler", *(to_cfn_resource_name(n) for n in function_names())}
    assert functions == set(ACCESS)
    for fn in functions:
        (policy,) = template["Resources"][role_logical(fn)]["Properties"]["Policies"]
        text = json.dumps(policy)
        assert "academy-prod" not in text and "arn:aws:" not in text and "arn:*" not in text  # ARNs from the stack
        assert "cloudwatch:" not in text  # EMF metrics go through the function's logs
        for stmt in policy["PolicyDocument"]["Statement"]:
            assert stmt["Effect"] == "Allow"
            assert all("*" not in a for a in stmt["Action"])
            for resource in stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]:
                assert set(resource) <= {"Fn::GetAtt", "Fn::Sub"}, resource
        assert template["Resources"][fn]["Properties"]["FunctionName"] == {"Fn::Sub": f"academy-${{Stage}}-{fn}"}


def test_policies_resolve_to_this_stacks_own_resources_only(policies):
    prefixes = (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/academy-{STAGE}-",
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:academy-{STAGE}-",
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/academy-{STAGE}-",
        f"arn:aws:sns:{REGION}:{ACCOUNT}:academy-{STAGE}-alerts",  # the alerts topic (and its subscriptions)
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/academy/{STAGE}/alerts/webhooks/",
    )
    for fn, policy in policies.items():
        for stmt in policy["Statement"]:
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            assert all(r.startswith(prefixes) for r in resources), (fn, resources)
        logs = next(s for s in policy["Statement"] if s["Sid"] == "OwnLogs")
        assert logs["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/academy-{STAGE}-{fn}:*"


@pytest.mark.parametrize(
    ("function", "call", "expected"),
    [
        # the scheduler: its tasks, nothing else
        ("DailyTaskInstances", Call("dynamodb:BatchWriteItem", table_arn(f"academy-{STAGE}-task-instances")), False),
        ("DailyTaskInstances", Call("sqs:SendMessage", queue("jobs")), True),
        ("DailyTaskInstances", Call("sqs:SendMessage", queue("media")), False),
        ("RunJobs", Call("dynamodb:BatchWriteItem", table_arn(f"academy-{STAGE}-task-instances")), True),
        ("DailyTaskInstances", Call("s3:DeleteObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), False),
        ("DailyTaskInstances", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-students")), False),
        # the API dispatches jobs but never consumes the work queues
        ("APIHandler", Call("sqs:SendMessage", queue("media")), True),
        ("APIHandler", Call("sqs:ReceiveMessage", queue("media")), False),
        ("APIHandler", Call("sqs:DeleteMessage", queue("jobs")), False),
        ("APIHandler", Call("sqs:ReceiveMessage", queue("media-dlq")), True),  # a retry removes the dead letter
        # uploads: the API signs the original's POST, never the worker's variants
        ("APIHandler", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/original.mov")), True),
        ("APIHandler", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/720p.mp4")), False),
        ("APIHandler", Call("s3:PutObject", object_arn(BUCKET, "anything-else.txt")), False),
        ("APIHandler", Call("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", f"{HOMEWORK}/"),)), True),
        ("APIHandler", Call("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"), True),  # a missing key is a 404, not a 403
        ("APIHandler", Call("s3:ListBucket", f"arn:aws:s3:::academy-{STAGE}-media-999999999999"), False),
        # the media worker: reads originals, writes variants
        ("RunMediaJobs", Call("s3:GetObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), True),
        ("RunMediaJobs", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/720p.mp4")), True),
        ("RunMediaJobs", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), False),
        ("RunMediaJobs", Call("s3:GetObject", object_arn(BUCKET, f"{HOMEWORK}/upload.pdf")), False),
        ("RunMediaJobs", Call("s3:DeleteObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), False),
        ("RunMediaJobs", Call("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"), True),
        ("RunJobs", Call("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"), False),
        ("RunMediaJobs", Call("sqs:ReceiveMessage", queue("media")), True),  # its event source polls with its role
        ("RunMediaJobs", Call("sqs:ReceiveMessage", queue("jobs")), False),
        # resumable uploads: the API drives its own original-parts upload, never a worker's multipart upload
        ("APIHandler", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/original-parts.mp4")), True),
        ("APIHandler", Call("s3:ListMultipartUploadParts", object_arn(BUCKET, f"{VIDEO}/original-parts.mp4")), True),
        ("APIHandler", Call("s3:AbortMultipartUpload", object_arn(BUCKET, f"{VIDEO}/original-parts.mp4")), True),
        ("APIHandler", Call("s3:AbortMultipartUpload", object_arn(BUCKET, f"{VIDEO}/720p.mp4")), False),
        ("APIHandler", Call("s3:DeleteObject", object_arn(BUCKET, f"{VIDEO}/720p.mp4")), False),  # the button refuses it
        ("APIHandler", Call("s3:DeleteObject", object_arn(BUCKET, f"{VIDEO}/poster.jpg")), False),
        ("APIHandler", Call("dynamodb:Scan", table_arn(f"academy-{STAGE}-videos")), False),  # no sweep in a request
        ("APIHandler", Call("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{BUCKET}"), False),
        ("RunMediaJobs", Call("s3:GetObject", object_arn(BUCKET, f"{VIDEO}/original-parts.mp4")), True),
        # the integrity sweep: bounded scans and reads, its cursors, incidents; it never repairs
        ("IntegritySweep", Call("dynamodb:Scan", table_arn(f"academy-{STAGE}-attendance")), True),
        ("IntegritySweep", Call("dynamodb:Scan", table_arn(f"academy-{STAGE}-students")), False),
        ("IntegritySweep", Call("dynamodb:DeleteItem", table_arn(f"academy-{STAGE}-attendance")), False),
        ("IntegritySweep", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-videos")), False),
        ("IntegritySweep", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-incidents")), True),
        ("IntegritySweep", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-audit")), False),
        ("IntegritySweep", Call("s3:GetObject", object_arn(BUCKET, f"{VIDEO}/720p.mp4")), True),  # HeadObject
        ("IntegritySweep", Call("s3:PutObject", object_arn(BUCKET, "system/integrity-cursors.json")), True),
        ("IntegritySweep", Call("s3:PutObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), False),
        ("IntegritySweep", Call("s3:GetObject", object_arn(BUCKET, "system/other.json")), False),
        ("IntegritySweep", Call("s3:DeleteObject", object_arn(BUCKET, f"{HOMEWORK}/upload.pdf")), False),
        ("IntegritySweep", Call("s3:AbortMultipartUpload", object_arn(BUCKET, f"{VIDEO}/original-parts.mp4")), False),
        ("IntegritySweep", Call("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{BUCKET}"), True),
        ("IntegritySweep", Call("sqs:SendMessage", queue("media")), False),
        # monitors: each scheduled function writes its runs; the watchdog reads them and files incidents, and reads
        # the job counters, the oldest ledger entries and the dead-letter depths (job health), nothing else
        ("DailyTaskInstances", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-monitor-runs")), True),
        ("DailyTaskInstances", Call("dynamodb:DeleteItem", table_arn(f"academy-{STAGE}-monitor-runs")), False),
        ("IntegritySweep", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-monitor-runs")), True),
        ("IntegritySweep", Call("dynamodb:Query", table_arn(f"academy-{STAGE}-monitor-runs")), False),
        ("MonitorWatchdog", Call("dynamodb:BatchGetItem", table_arn(f"academy-{STAGE}-monitor-runs")), True),
        ("MonitorWatchdog", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-incidents")), True),
        ("MonitorWatchdog", Call("dynamodb:GetItem", table_arn(f"academy-{STAGE}-tasks")), False),  # never what it watches
        ("MonitorWatchdog", Call("dynamodb:Scan", table_arn(f"academy-{STAGE}-monitor-runs")), False),
        ("MonitorWatchdog", Call("s3:GetObject", object_arn(BUCKET, "system/integrity-cursors.json")), False),
        ("APIHandler", Call("dynamodb:Query", table_arn(f"academy-{STAGE}-monitor-runs")), True),
        ("APIHandler", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-monitor-runs")), False),  # the API only reads runs
        # general jobs and dead letters: no media at all
        ("RunJobs", Call("s3:GetObject", object_arn(BUCKET, f"{VIDEO}/original.mp4")), False),
        ("JobsDeadLetters", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-jobs")), True),
        ("JobsDeadLetters", Call("sqs:SendMessage", queue("media")), False),  # jobs: only to dispatch an alert
        ("JobsDeadLetters", Call("sqs:ReceiveMessage", queue("media-dlq")), False),
        # job counters (chalicelib/jobs/counts.py): rows of the jobs table, moved by UpdateItem items of each
        # transition's TransactWriteItems; read by the summary's BatchGetItem; the recount's repair is an operator's
        ("APIHandler", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-jobs"), operation="TransactWriteItems"), True),
        ("APIHandler", Call("dynamodb:BatchGetItem", table_arn(f"academy-{STAGE}-jobs")), True),
        ("APIHandler", Call("dynamodb:ConditionCheckItem", table_arn(f"academy-{STAGE}-jobs")), False),
        ("RunJobs", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-jobs"), operation="TransactWriteItems"), True),
        ("RunMediaJobs", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-jobs"), operation="TransactWriteItems"), True),
        ("MediaDeadLetters", Call("dynamodb:UpdateItem", table_arn(f"academy-{STAGE}-jobs")), True),
        # a final failure reads the counter rows (the job.first_failure signal), never the whole table
        ("JobsDeadLetters", Call("dynamodb:BatchGetItem", table_arn(f"academy-{STAGE}-jobs")), True),
        ("JobsDeadLetters", Call("dynamodb:Scan", table_arn(f"academy-{STAGE}-jobs")), False),
        ("MonitorWatchdog", Call("dynamodb:BatchGetItem", table_arn(f"academy-{STAGE}-jobs")), True),
        ("MonitorWatchdog", Call("dynamodb:DeleteItem", table_arn(f"academy-{STAGE}-jobs")), False),
        # every function that files incidents or fails jobs emits alert signals: it dispatches alerts.evaluate
        ("MonitorWatchdog", Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-jobs")), True),
        ("MonitorWatchdog", Call("sqs:SendMessage", queue("jobs")), True),
        ("MonitorWatchdog", Call("sqs:SendMessage", queue("media")), False),
        ("DailyTaskInstances", Call("sqs:SendMessage", queue("jobs")), True),  # the fan-out: one shard job per shard
        ("DailyTaskInstances", Call("sqs:SendMessage", queue("media")), False),
        ("RunJobs", Call("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:academy-{STAGE}-alerts"), True),
        ("RunJobs", Call("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:academy-{STAGE}-alarms"), False),
        (
            "RunJobs",
            Call("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/academy/{STAGE}/alerts/webhooks/x"),
            False,
        ),
        (
            "APIHandler",
            Call("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/academy/{STAGE}/alerts/webhooks/x"),
            False,
        ),
        (
            "APIHandler",
            Call("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/academy/prod/alerts/webhooks/x"),
            False,
        ),
        ("APIHandler", Call("sns:Unsubscribe", f"arn:aws:sns:{REGION}:{ACCOUNT}:academy-{STAGE}-alerts:abc-123"), True),
        ("APIHandler", Call("sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:academy-{STAGE}-alerts"), False),
        ("MonitorWatchdog", Call("sqs:GetQueueAttributes", queue("media-dlq")), True),
        ("MonitorWatchdog", Call("sqs:ReceiveMessage", queue("media-dlq")), False),
        ("IntegritySweep", Call("dynamodb:DeleteItem", table_arn(f"academy-{STAGE}-jobs")), False),  # Update: an alert's dispatch
        # another stage's or account's resources
        ("APIHandler", Call("dynamodb:GetItem", table_arn("academy-prod-students")), False),
        ("APIHandler", Call("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:999999999999:table/academy-{STAGE}-students"), False),
        ("APIHandler", Call("s3:GetObject", f"arn:aws:s3:::academy-{STAGE}-media-999999999999/{VIDEO}/original.mp4"), False),
    ],
)
def test_each_role_allows_its_work_and_nothing_beyond(policies, function, call, expected):
    assert allowed(policies[function], call) is expected


def test_the_recorder_attributes_calls_to_the_function_that_made_them(client, tokens, policies):
    """The per-test check is not vacuous: a route's and a scheduled function's calls are seen, as IAM sees them."""
    from tests.iam_calls import CallRecorder

    with CallRecorder() as rec:
        body = json.dumps({"customer_id": "c1", "name": "Ada"})
        assert client.http.post("/admin/students", headers=tokens.h(tokens.admin), body=body).status_code == 201
        event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
        client.lambda_.invoke("daily_task_instances", event)
    assert Call("dynamodb:PutItem", table_arn(f"academy-{STAGE}-students"), operation="PutItem") in rec.calls["APIHandler"]
    assert any(c.resource.endswith("/index/by_active_daily") for c in rec.calls["DailyTaskInstances"])
    assert not any(c.resource.endswith("-students") for c in rec.calls["DailyTaskInstances"])
    assert set(rec.calls) == {"APIHandler", "DailyTaskInstances"}
    assert all(allowed(policies[fn], c) for fn, calls in rec.calls.items() for c in calls)


def test_consumers_poll_the_queue_their_event_source_names():
    from chalice.app import SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    from app import app
    from chalicelib.jobs.queues import QUEUES
    from infra.iam import ACCESS

    names = {spec.name: key for key, spec in QUEUES.items()} | {spec.dlq_name: f"{key}-dlq" for key, spec in QUEUES.items()}
    consumers = {to_cfn_resource_name(s.name): names[s.queue] for s in app.event_sources if isinstance(s, SQSEventConfig)}
    assert consumers == {fn: a.consumes for fn, a in ACCESS.items() if a.consumes}


def test_a_read_needs_list_bucket_so_a_missing_key_is_a_404():
    """S3 answers 403 for a missing key unless the caller may ListBucket; the code relies on the 404."""
    from tests.iam_calls import iam_calls

    for op in ("HeadObject", "GetObject"):
        actions = {c.action for c in iam_calls("s3", op, {"Bucket": BUCKET, "Key": f"{VIDEO}/original.mp4"})}
        assert actions == {"s3:GetObject", "s3:ListBucket"}
    copy = iam_calls("s3", "CopyObject", {"Bucket": BUCKET, "Key": "b", "CopySource": {"Bucket": BUCKET, "Key": "a"}})
    assert {(c.action, c.resource) for c in copy} == {
        ("s3:PutObject", object_arn(BUCKET, "b")),
        ("s3:GetObject", object_arn(BUCKET, "a")),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
    }
