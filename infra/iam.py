"""Least privilege: one IAM role per Lambda function, granting only what its code calls.

What each function may do is data (:data:`ACCESS`): the DynamoDB actions per table, the indexes it
queries, the SQS actions per queue, the S3 actions per key pattern. :func:`role_policy` renders it
as a policy document whose ARNs are the stack's own resources (``Fn::GetAtt``/``Fn::Sub`` with
``${AWS::Partition}``), so no pattern can match another stack's or account's resources.

``tests/least_privilege.py`` keeps the data honest: every AWS call a function makes while a functional
test runs it must be allowed by its policy, and a full functional run must use every grant
(``tests/functional/test_iam_policies.py`` checks the policies' shape and boundaries).
The SQS event source mapping polls with the function's role, so a consumer also gets
``ReceiveMessage``/``DeleteMessage``/``GetQueueAttributes`` on the queue it consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.template import logical_name

# Key patterns in the media bucket (``chalicelib.media.domain`` builds the keys).
VIDEO_DIR = "customers/*/students/*/videos/*"
HOMEWORK_DIR = "customers/*/students/*/homework/*"
SWEEP_CURSORS = "system/integrity-cursors.json"  # chalicelib.integrity.jobs.CURSORS_KEY
EVENT_SOURCE_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
INCIDENT_WRITES = {"incidents": ("PutItem",), "incident-groups": ("UpdateItem",)}  # the observability seam
INCIDENT_WRITES["incident-timeline"] = ("PutItem",)  # the intake's created/reopened timeline entries
INCIDENT_WRITES["incident-links"] = ("PutItem",)  # a job or entity a group names for the first time (conditional put)
# Rollups (chalicelib/core/rollups.py): the intake's counts, flushed once per invocation (UpdateItem, or
# TransactWriteItems of UpdateItems), and every ledger transition's rollup items (in its transaction).
ROLLUP_WRITES = {"rollups": ("UpdateItem",)}
INCIDENT_WRITES["rollups"] = ROLLUP_WRITES["rollups"]
# Every monitored scheduled function records its runs (chalicelib/monitors/store.py: claim the event, upsert the run).
HEARTBEAT = {"monitor-runs": ("PutItem", "UpdateItem")}
# The alert engine's webhook URLs: SecureString parameters (the AWS-managed aws/ssm key: no kms grant needed).
WEBHOOK_PARAMETERS = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/academy/${Stage}/alerts/webhooks/*"
# What a function that emits alert signals needs: chalicelib.alerts.service.fire dispatches one deduplicated
# alerts.evaluate job (the ledger entry, its dedupe claim and counter in one transaction; a duplicate reads the
# claim and the job) and sends its message. Every function that files incidents or fails jobs emits.
ALERT_FIRE = {"jobs": ("GetItem", "PutItem", "UpdateItem"), "job-dedupe": ("GetItem", "PutItem")}
ALERT_FIRE_QUEUE = {"jobs": ("GetQueueUrl", "SendMessage")}


@dataclass(frozen=True)
class Access:
    """What one function may do. Tables and queues by short name (``jobs``, ``jobs-dlq``)."""

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> DynamoDB actions
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> indexes it Queries
    queues: dict[str, tuple[str, ...]] = field(default_factory=dict)  # queue -> SQS actions
    objects: dict[str, tuple[str, ...]] = field(default_factory=dict)  # S3 action -> key patterns
    # s3:ListBucket on the bucket: without it S3 answers 403, not 404, for a key that does not exist, and the code
    # tells "not uploaded yet" (409) and "original gone" (a permanent job failure) from a denial by that 404.
    list_bucket: bool = False
    list_uploads: bool = False  # s3:ListBucketMultipartUploads on the bucket (the abandoned-upload sweep)
    consumes: str | None = None  # the queue its SQS event source polls
    alerts_topic: tuple[str, ...] = ()  # SNS actions on the stack's AlertsTopic (Unsubscribe: on its subscriptions)
    webhook_secrets: tuple[str, ...] = ()  # SSM actions on /academy/<stage>/alerts/webhooks/* (SecureString URLs)


def _merge(*parts: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for part in parts:
        for key, values in part.items():
            out.setdefault(key, set()).update(values)
    return {k: tuple(sorted(v)) for k, v in sorted(out.items())}


# BatchGetItem: a final failure reads the counter rows (jobs/health.failed: the job.first_failure signal).
_WORKER_LEDGER = {"jobs": ("BatchGetItem", "GetItem", "UpdateItem"), **ROLLUP_WRITES}
# An unreadable message becomes one orphan job, its claim keyed by the body's hash (jobs/ledger.put_orphan).
_ORPHANS = {"jobs": ("PutItem",), "job-dedupe": ("GetItem", "PutItem")}

ACCESS: dict[str, Access] = {
    # HTTP API: every route. Dispatches jobs (sends to the work queues), reads queue depths, and on a
    # retry removes the job's dead letter (receive → delete, others made visible again).
    "APIHandler": Access(
        tables=_merge(
            INCIDENT_WRITES,
            {
                "attendance": ("DeleteItem", "GetItem", "Query", "UpdateItem"),
                "alerts": ("DeleteItem", "GetItem", "PutItem", "Query"),  # alert rules, webhook channels, the defaults
                "audit": ("PutItem",),
                "closures": ("BatchGetItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PutItem"),
                "customers": ("GetItem", "PutItem", "UpdateItem"),
                "homework": ("BatchGetItem", "GetItem", "PutItem", "UpdateItem"),
                "incident-groups": ("BatchGetItem", "GetItem"),  # search by entity, a job's incidents: their groups
                "incident-links": ("Query",),  # a group's jobs and entities, verified fixed, retry these jobs
                "incidents": ("GetItem",),  # the repair button reads the finding's incident
                "incident-limits": ("GetItem", "UpdateItem"),  # incident rate counters; upload quotas (media/quota.py)
                "incident-timeline": ("Query",),  # a group's timeline (triage)
                "job-dedupe": ("GetItem", "PutItem"),
                "jobs": ("BatchGetItem", "GetItem", "PutItem", "UpdateItem"),
                "monitor-runs": ("BatchGetItem", "Query"),  # Admin > Insights > Monitors
                "rollups": ("Query", "UpdateItem"),  # Admin > Insights > metrics; job transitions' and the intake's rollups
                "schedule-members": ("BatchWriteItem", "DeleteItem", "PutItem", "Query"),
                "schedules": ("BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"),
                "students": ("BatchGetItem", "GetItem", "PutItem", "UpdateItem"),
                "task-instances": ("BatchGetItem", "BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"),
                "tasks": ("DeleteItem", "GetItem", "PutItem", "UpdateItem"),
                "videos": ("BatchGetItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"),
            },
        ),
        indexes={
            "alert-log": ("by_kind",),  # Admin > Insights > Alerts: the alert log
            "attendance": ("by_student",),
            "audit": ("by_action", "by_kind"),
            "closures": ("by_kind",),
            "customers": ("by_kind",),
            "homework": ("by_customer", "by_status", "by_student"),
            "incident-groups": ("by_area", "by_kind", "by_source", "by_status", "by_title"),
            "incident-links": ("by_link",),  # search groups by entity
            "incidents": ("by_group", "by_job"),  # a job's incidents
            "jobs": ("by_entity", "by_state", "by_type"),
            "schedules": ("by_kind",),
            "students": ("by_archived", "by_customer", "by_kind", "by_name"),
            "task-instances": ("by_series",),
            "tasks": ("by_kind", "by_recurrence", "by_student"),
            "videos": ("by_customer", "by_eligibility", "by_kind", "by_student"),
        },
        queues={
            "jobs": ("GetQueueAttributes", "GetQueueUrl", "SendMessage"),
            "media": ("GetQueueAttributes", "GetQueueUrl", "SendMessage"),
            "jobs-dlq": ("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl", "ReceiveMessage"),
            "media-dlq": ("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl", "ReceiveMessage"),
        },
        objects={
            # presigned POSTs (the browser's upload), the verified homework copy; a resumable upload's
            # CreateMultipartUpload, presigned UploadPart URLs and CompleteMultipartUpload (all s3:PutObject)
            "s3:PutObject": (
                f"{HOMEWORK_DIR}/upload.*",
                f"{HOMEWORK_DIR}/submitted-*",
                f"{VIDEO_DIR}/original.*",
                f"{VIDEO_DIR}/original-parts.*",
            ),
            # presigned downloads, upload verification (HeadObject, first bytes), the copy's source
            "s3:GetObject": ("customers/*",),
            # an upload that lied about its size or type, a cancelled one, and the repair button's orphan
            # upload objects (homework/<id>.<ext> (older) and homework/<id>/…); never a worker's variant
            "s3:DeleteObject": (HOMEWORK_DIR, f"{VIDEO_DIR}/original.*", f"{VIDEO_DIR}/original-parts.*"),
            # resumable uploads: resume (ListParts), cancel, a size lie, the repair button's abandoned upload
            "s3:ListMultipartUploadParts": (f"{VIDEO_DIR}/original-parts.*",),
            "s3:AbortMultipartUpload": (f"{VIDEO_DIR}/original-parts.*",),
        },
        list_bucket=True,  # upload checks (HeadObject, the copy's source) and the kept-copy lookup (ListObjectsV2)
        alerts_topic=("ListSubscriptionsByTopic", "Subscribe", "Unsubscribe"),  # the console's email subscriptions
        webhook_secrets=("DeleteParameter", "PutParameter"),  # a webhook channel's URL, written, never read back
    ),
    # General jobs (delete_schedule, tasks.shard_instances, noop): the ledger, the schedule's rows, incidents for
    # failures. A shard job reads its shard's tasks (index), takes the shard's lease (a tasks row: conditional
    # update, read when held, delete on release), retires ended tasks, checks and writes instances (batch; the
    # legacy shard: conditional puts), adds to the hour's tally and enqueues its continuation.
    "RunJobs": Access(
        tables=_merge(
            INCIDENT_WRITES,
            _WORKER_LEDGER,
            _ORPHANS,
            ALERT_FIRE,
            {
                "attendance": ("BatchWriteItem", "Query"),
                "schedule-members": ("BatchWriteItem",),
                "schedules": ("DeleteItem", "GetItem", "UpdateItem"),
                "task-instances": ("BatchGetItem", "BatchWriteItem", "PutItem"),
                "tasks": ("DeleteItem", "GetItem", "UpdateItem"),
                "jobs": ("PutItem",),  # a continuation's ledger entry (dispatch)
                # alerts.evaluate: the rules (Query), the defaults, the occurrence claims and throttles (a transaction)
                "alerts": ("GetItem", "PutItem", "Query", "UpdateItem"),
                "alert-log": ("GetItem", "PutItem", "UpdateItem"),  # one row per notification and channel, its lease
            },
        ),
        # alerts.sweep_digests: throttles and digests waiting to be sent
        indexes={"tasks": ("by_active_daily", "by_sched_shard"), "alerts": ("by_waiting",)},
        queues=_merge({"jobs": ("ChangeMessageVisibility", "GetQueueUrl", "SendMessage")}, ALERT_FIRE_QUEUE),
        consumes="jobs",
        alerts_topic=("Publish",),  # the email channel
        webhook_secrets=("GetParameter",),  # a webhook channel's URL, read at delivery
    ),
    # The video pipeline: reads the original, writes the 720p variant and the poster, records them.
    "RunMediaJobs": Access(
        tables=_merge(INCIDENT_WRITES, _WORKER_LEDGER, _ORPHANS, ALERT_FIRE, {"videos": ("GetItem", "UpdateItem")}),
        queues=_merge({"media": ("ChangeMessageVisibility", "GetQueueUrl")}, ALERT_FIRE_QUEUE),
        objects={
            "s3:GetObject": (f"{VIDEO_DIR}/original.*", f"{VIDEO_DIR}/original-parts.*"),  # single or resumable upload
            "s3:PutObject": (f"{VIDEO_DIR}/720p.mp4", f"{VIDEO_DIR}/poster.jpg"),
            "s3:AbortMultipartUpload": (f"{VIDEO_DIR}/720p.mp4",),
        },
        list_bucket=True,  # HeadObject of a missing original must be a 404 (a permanent failure), not a 403
        consumes="media",
    ),
    # Dead-letter consumers: mark the job failed (or record an orphan letter); a final failure may emit job.first_failure.
    "JobsDeadLetters": Access(tables=_merge(_WORKER_LEDGER, _ORPHANS, ALERT_FIRE), queues=ALERT_FIRE_QUEUE, consumes="jobs-dlq"),
    "MediaDeadLetters": Access(
        tables=_merge(_WORKER_LEDGER, _ORPHANS, ALERT_FIRE), queues=ALERT_FIRE_QUEUE, consumes="media-dlq"
    ),
    # Hourly: the fan-out. A Limit=1 query per shard (the sparse per-shard index, and the legacy one until the
    # migration empties it), one deduplicated tasks.shard_instances job per shard with work (ledger + claim in one
    # transaction, then the message), the tally rows of the previous hours (read one, delete an old one).
    "DailyTaskInstances": Access(
        tables=_merge(
            HEARTBEAT,
            ROLLUP_WRITES,  # instances created per run
            {
                "job-dedupe": ("GetItem", "PutItem"),  # the claim; GetItem: a second firing finds the hour's job
                "jobs": ("GetItem", "PutItem", "UpdateItem"),  # the ledger entry and its count
                "tasks": ("DeleteItem", "GetItem", "UpdateItem"),  # the hour's tally rows
            },
        ),
        indexes={"tasks": ("by_active_daily", "by_sched_shard")},
        queues={"jobs": ("GetQueueUrl", "SendMessage")},
    ),
    # Every 6 h: the integrity sweeps, report-only (findings become incidents; repairs run from the API
    # or `academy doctor --apply`); bounded scans, the cross-reference reads, its cursors under system/.
    "IntegritySweep": Access(
        tables=_merge(
            INCIDENT_WRITES,
            HEARTBEAT,
            ALERT_FIRE,
            {
                "attendance": ("Scan",),  # attendance_orphans
                "homework": ("BatchGetItem", "Scan"),  # homework_objects; orphan_objects' references
                "jobs": ("Scan",),  # orphan_jobs
                "schedules": ("BatchGetItem",),  # attendance_orphans: which schedules live
                "videos": ("BatchGetItem", "Scan"),  # video_variants; orphan_objects' and abandoned_uploads' rows
            },
        ),
        indexes={"jobs": ("by_state",), "task-instances": ("by_series",)},  # stuck_jobs, future_instances
        queues=ALERT_FIRE_QUEUE,
        objects={
            # HeadObject of recorded variants and homework; the cursors of the previous run
            "s3:GetObject": ("customers/*", SWEEP_CURSORS),
            "s3:PutObject": (SWEEP_CURSORS,),
        },
        list_bucket=True,  # orphan_objects (ListObjectsV2 under customers/), and 404 (not 403) for a missing object
        list_uploads=True,  # abandoned_uploads
    ),
    # Every 5 min: the monitors' watchdog reads the state rows the scheduled functions wrote (never their
    # tables), sets watching_since, claims one alert per occurrence (released if filing fails), files incidents.
    # Job health (jobs/health.evaluate): the counter and health rows (one BatchGetItem), their conditional
    # updates, the oldest running/queued ledger entries (by_state), each dead-letter queue's depth.
    "MonitorWatchdog": Access(
        tables=_merge(
            INCIDENT_WRITES,
            ALERT_FIRE,
            {"monitor-runs": ("BatchGetItem", "DeleteItem", "PutItem", "UpdateItem"), "jobs": ("BatchGetItem", "UpdateItem")},
        ),
        # by_state: stuck and waiting jobs; by_waiting: whether the alerts' digest sweep has work (Limit=1)
        indexes={"jobs": ("by_state",), "alerts": ("by_waiting",)},
        queues=_merge(
            {"jobs-dlq": ("GetQueueAttributes", "GetQueueUrl"), "media-dlq": ("GetQueueAttributes", "GetQueueUrl")},
            ALERT_FIRE_QUEUE,
        ),
    ),
}


def table_logical(short: str) -> str:
    return logical_name(short, "Table")


def queue_logical(key: str) -> str:
    """``jobs`` → ``JobsQueue``, ``jobs-dlq`` → ``JobsDeadLetterQueue`` (the template's names)."""
    if key.endswith("-dlq"):
        return logical_name(key.removesuffix("-dlq"), "DeadLetterQueue")
    return logical_name(key, "Queue")


def _arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def role_policy(function: str, log_group: str) -> dict[str, Any]:
    """The policy document of ``function``'s role (``log_group``: the logical id of its log group)."""
    access = ACCESS[function]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _arn(log_group),  # arn:…:log-group:NAME:* (its streams)
        }
    ]
    for table, actions in sorted(access.tables.items()):
        statements.append(
            {
                "Sid": f"{table_logical(table)}Items",
                "Effect": "Allow",
                "Action": [f"dynamodb:{a}" for a in actions],
                "Resource": _arn(table_logical(table)),
            }
        )
    for table, indexes in sorted(access.indexes.items()):
        logical = table_logical(table)
        statements.append(
            {
                "Sid": f"{logical}Indexes",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": [{"Fn::Sub": f"${{{logical}.Arn}}/index/{index}"} for index in indexes],
            }
        )
    queues = {k: set(v) for k, v in access.queues.items()}
    if access.consumes:
        queues.setdefault(access.consumes, set()).update(EVENT_SOURCE_ACTIONS)
    for queue, actions in sorted(queues.items()):
        statements.append(
            {
                "Sid": queue_logical(queue),
                "Effect": "Allow",
                "Action": [f"sqs:{a}" for a in sorted(actions)],
                "Resource": _arn(queue_logical(queue)),
            }
        )
    for action, patterns in sorted(access.objects.items()):
        statements.append(
            {
                "Sid": "MediaObjects" + action.split(":")[1],
                "Effect": "Allow",
                "Action": [action],
                "Resource": [{"Fn::Sub": f"${{MediaBucket.Arn}}/{p}"} for p in patterns],
            }
        )
    topic_actions = [a for a in access.alerts_topic if a != "Unsubscribe"]
    if topic_actions:
        statements.append(
            {
                "Sid": "AlertsTopic",
                "Effect": "Allow",
                "Action": [f"sns:{a}" for a in sorted(topic_actions)],
                "Resource": {"Fn::Sub": "${AlertsTopic}"},
            }
        )
    if "Unsubscribe" in access.alerts_topic:  # authorised on the subscription's ARN (<topic arn>:<id>)
        statements.append(
            {
                "Sid": "AlertsTopicSubscriptions",
                "Effect": "Allow",
                "Action": ["sns:Unsubscribe"],
                "Resource": {"Fn::Sub": "${AlertsTopic}:*"},
            }
        )
    if access.webhook_secrets:
        statements.append(
            {
                "Sid": "AlertWebhookSecrets",
                "Effect": "Allow",
                "Action": [f"ssm:{a}" for a in sorted(access.webhook_secrets)],
                "Resource": {"Fn::Sub": WEBHOOK_PARAMETERS},
            }
        )
    if access.list_bucket:
        statements.append({"Sid": "MediaList", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": _arn("MediaBucket")})
    if access.list_uploads:
        statements.append(
            {
                "Sid": "MediaListUploads",
                "Effect": "Allow",
                "Action": ["s3:ListBucketMultipartUploads"],
                "Resource": _arn("MediaBucket"),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def function_name(function: str) -> dict[str, Any]:
    """A fixed name per stage, so the log group (and the role's grant on it) exists before the function."""
    return {"Fn::Sub": f"academy-${{Stage}}-{function}"}


def add_roles(template: dict[str, Any], functions: list[str], log_retention_days: int = 90) -> None:
    """Give each function its name, its log group and its own role's only policy (merge template).

    Chalice creates ``<Function>Role`` per function (``ApiHandlerRole`` for the API) with the stage's
    policy file, which is a deny-all placeholder: the merge replaces its ``Policies`` list whole.
    """
    resources = template["Resources"]
    template["Parameters"]["LogRetentionDays"] = {
        "Type": "Number",
        "Default": log_retention_days,
        "AllowedValues": RETENTION_DAYS,
        "Description": "Days the functions' and API Gateway's logs are kept.",
    }
    missing = set(functions) ^ set(ACCESS)
    if missing:
        raise ValueError(f"functions and infra.iam.ACCESS disagree: {sorted(missing)}")
    for fn in functions:
        log_group = f"{fn}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/academy-${{Stage}}-{fn}"},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        }
        props = resources.setdefault(fn, {}).setdefault("Properties", {})
        props["FunctionName"] = function_name(fn)
        resources[role_logical(fn)] = {
            "Properties": {"Policies": [{"PolicyName": f"{fn}Access", "PolicyDocument": role_policy(fn, log_group)}]}
        }


def role_logical(function: str) -> str:
    """The role chalice creates for ``function`` (``ApiHandlerRole`` for the API handler)."""
    return "ApiHandlerRole" if function == "APIHandler" else f"{function}Role"


def check_roles(sam: dict[str, Any]) -> list[str]:
    """Problems with the packaged roles: a function sharing a role, or a role keeping chalice's policy."""
    problems = []
    roles: dict[str, str] = {}
    for name, res in sam["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        role = res["Properties"].get("Role")
        if role != {"Fn::GetAtt": [role_logical(name), "Arn"]}:
            problems.append(f"{name} does not use its own role {role_logical(name)} (has {role!r})")
            continue
        roles[role_logical(name)] = name
        policies = sam["Resources"][role_logical(name)]["Properties"].get("Policies", [])
        if [p.get("PolicyName") for p in policies] != [f"{name}Access"]:
            problems.append(f"{role_logical(name)} has policies {[p.get('PolicyName') for p in policies]}, not only {name}Access")
    return problems
