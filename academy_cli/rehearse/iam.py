"""IAM as on AWS for the rehearsal's function processes (never shipped to Lambda).

Why: moto server can enforce IAM, but it matches actions only (the resource is ``*``, for S3 the
bucket), so a correctly scoped ``Allow`` on ``table/academy-prod-x`` is *denied* there and a policy
granting the wrong table passes. The rehearsal therefore authorises every call itself, in the
function's own process, with the real IAM action and the real resource ARNs, before the request is
sent.

How:
1. The launcher (``functions.py``) gives each function process credentials from STS AssumeRole on
   its deployed role (:func:`assume_role_env`; the session is named after the function, as
   Lambda's is) and the role's policies as the stack created them in moto's IAM
   (:func:`role_policies`: inline policies plus attached managed ones, default versions), written
   to a spec file (:func:`write_spec`).
2. The function's bootstrap calls :func:`install` (no arguments: the spec comes from
   ``_REHEARSE_IAM_SPEC``, set by :func:`function_env`) before importing the handler. It adds a
   ``before-call`` check (fed by a ``before-parameter-build`` handler that keeps the API parameters)
   to botocore's built-in handlers, so every botocore session created afterwards (boto3's, pynamodb's
   per-thread ones, powertools') runs it on every request it sends (presigning is not a request).
   A function process has no ``academy_cli`` on its path, so this module needs only the standard
   library and botocore: load it by file path (``importlib.util.spec_from_file_location``, put it in
   ``sys.modules`` before ``exec_module``; ``tests/rehearse/test_iam.py`` does exactly that).
3. The handler maps the call to what AWS would authorise (:func:`required`): the IAM action (which
   is not always the operation: ``HeadObject`` → ``s3:GetObject``, ``SendMessageBatch`` →
   ``sqs:SendMessage``, each ``TransactWriteItems`` entry → ``PutItem``/``UpdateItem``/``DeleteItem``/
   ``ConditionCheckItem`` on its own table, ``CopyObject`` → ``GetObject`` on the source and
   ``PutObject`` on the target …) and the resource ARNs (DynamoDB table and index ARNs per table
   for batch and transaction calls, S3 bucket vs object ARNs, the SQS queue ARN from the QueueUrl,
   SNS topics, Cognito user pools, SSM parameters, CloudWatch alarms; ``*`` for actions without
   resource-level permissions). Operations AWS serves without SigV4 (Cognito ``InitiateAuth`` …)
   and ``sts:GetCallerIdentity`` need no permission, as on AWS.
4. :func:`authorise` evaluates the role's identity policies as AWS does: an applicable explicit
   ``Deny`` wins, else an applicable ``Allow`` allows, else the implicit deny; each resource must be
   allowed. ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource``
   case-sensitively, ``*`` and ``?`` wildcards, policy variables ``${aws:...}`` from the context.
   A denied call raises botocore's ``ClientError`` with AWS's code (``AccessDeniedException`` for
   JSON services, ``AccessDenied`` for query/XML ones and SQS) and AWS's message naming the
   principal, the action and the resource; nothing is sent.

The Lambda service also uses the role itself: an SQS event source mapping polls with it (AWS's
CreateEventSourceMapping refuses a role without ``sqs:ReceiveMessage``/``DeleteMessage``/
``GetQueueAttributes`` on the queue: :func:`check_event_source`, for the launcher to call per
mapping), and logs are written with it (without ``logs:CreateLogStream``/``PutLogEvents`` AWS runs
the function and drops its logs: :func:`missing_log_permissions`, a warning).

moto's own ``iam.access_control`` policy classes are not used: they treat an ``Allow`` whose
condition does not hold as a ``Deny``, ignore ``NotResource``, match actions case-sensitively and
read ``.`` and ``?`` in a pattern as regular-expression syntax.

What it does not model (known limits): resource-based policies (bucket policies, queue policies,
key policies) and cross-account access; SCPs, permission boundaries (:func:`role_policies` refuses
a role with one) and session policies; KMS; condition keys other than the global ones supplied
here (``aws:SecureTransport`` = true as on
Lambda, ``aws:RequestedRegion``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:PrincipalType``, ``aws:CurrentTime``/``aws:EpochTime``) and ``s3:prefix``/``s3:delimiter``/
``s3:max-keys`` — any other key is absent, with AWS's absent-key semantics (a positive operator is
false, a negated one true, ``...IfExists`` true); set operators (``ForAnyValue:``/``ForAllValues:``)
and numeric/date/IP/binary operators are refused when the policy is installed, not guessed.
Presigned URLs and presigned POSTs are signed locally and used by the browser against the
emulator: AWS authorises them against the signer's role when used; here they are not checked.
An operation this module does not map is authorised against resource ``*`` (only a policy
granting ``Resource: "*"`` allows it), which fails closed.
"""

# No ``from __future__ import annotations``: the bootstrap loads this file by path without putting it in
# ``sys.modules``, and dataclasses resolve string annotations through ``sys.modules[cls.__module__]``.
import functools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

__all__ = [
    "Decision",
    "PolicyError",
    "assume_role_env",
    "authorise",
    "check_event_source",
    "function_env",
    "install",
    "install_from_spec",
    "missing_log_permissions",
    "record",
    "required",
    "role_policies",
    "validate_policies",
    "write_spec",
]

_log = logging.getLogger("academy.rehearse.iam")

Effect = Literal["allow", "explicit_deny", "implicit_deny"]
Policy = Mapping[str, Any]


class PolicyError(ValueError):
    """A policy uses something this evaluator does not model; refused rather than guessed."""


@dataclass(frozen=True)
class Decision:
    """The outcome for one action over its resources; ``resource`` is the one that decided."""

    effect: Effect
    action: str
    resource: str
    statement: str | None = None  # Sid (or "#<index>") of the deciding statement

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


# ---------------------------------------------------------------------------------------------
# Policy evaluation (pure)

_STRING_OPS = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: _glob(p, v), False),
    "StringNotLike": (lambda v, p: _glob(p, v), True),
    "ArnEquals": (lambda v, p: v == p, False),
    "ArnNotEquals": (lambda v, p: v == p, True),
    "ArnLike": (lambda v, p: _glob(p, v), False),
    "ArnNotLike": (lambda v, p: _glob(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
}


def _glob_rx(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _glob(pattern: str, value: str) -> bool:
    """IAM wildcard match: ``*`` any run, ``?`` one character, everything else literal."""
    return _literal_rx(pattern, False).fullmatch(value) is not None


_VAR = re.compile(r"\$\{([^}]*)\}")


@functools.lru_cache(maxsize=8192)
def _literal_rx(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """A pattern without policy variables, compiled once (the hook matches the same few on every call)."""
    return re.compile(_glob_rx(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _pattern_match(pattern: str, value: str, context: Mapping[str, Any], *, ignore_case: bool) -> bool:
    """Match an Action/Resource pattern, resolving policy variables (``${aws:PrincipalAccount}``,
    ``${*}`` a literal ``*``); a variable absent from the context makes the pattern match nothing."""
    if "${" not in pattern:
        return _literal_rx(pattern, ignore_case).fullmatch(value) is not None
    rx: list[str] = []
    pos = 0
    for m in _VAR.finditer(pattern):
        rx.append(_glob_rx(pattern[pos : m.start()]))
        key = m.group(1)
        val = key if key in ("*", "?", "$") else _lookup(context, key)
        if not isinstance(val, str):
            return False
        rx.append(re.escape(val))
        pos = m.end()
    rx.append(_glob_rx(pattern[pos:]))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch("".join(rx), value, flags) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    stmts = policy.get("Statement")
    if isinstance(stmts, Mapping):
        return [stmts]
    if not isinstance(stmts, list):
        raise PolicyError("a policy needs a Statement (an object or a list)")
    return stmts


def validate_policies(policies: Iterable[Policy]) -> None:
    """Refuse, clearly, what :func:`authorise` would otherwise get wrong."""
    for p_index, policy in enumerate(policies):
        for s_index, st in enumerate(_statements(policy)):
            where = f"policy #{p_index} statement {st.get('Sid') or '#' + str(s_index)}"
            if st.get("Effect") not in ("Allow", "Deny"):
                raise PolicyError(f"{where}: Effect must be Allow or Deny")
            if ("Action" in st) == ("NotAction" in st):
                raise PolicyError(f"{where}: exactly one of Action and NotAction")
            if ("Resource" in st) == ("NotResource" in st):
                raise PolicyError(f"{where}: exactly one of Resource and NotResource (identity policy)")
            if "Principal" in st or "NotPrincipal" in st:
                raise PolicyError(f"{where}: Principal belongs in resource policies, not a role's policy")
            for op, block in (st.get("Condition") or {}).items():
                base = op.removesuffix("IfExists")
                if op.startswith(("ForAnyValue:", "ForAllValues:")):
                    raise PolicyError(f"{where}: set operator {op} is not modelled by the rehearsal")
                if base not in _STRING_OPS and base != "Null":
                    raise PolicyError(f"{where}: condition operator {op} is not modelled by the rehearsal")
                if not isinstance(block, Mapping):
                    raise PolicyError(f"{where}: condition {op} must map keys to values")


def _conditions_hold(st: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for op, block in (st.get("Condition") or {}).items():
        if_exists = op.endswith("IfExists")
        base = op.removesuffix("IfExists")
        for key, expected in block.items():
            present = _lookup(context, key)
            wanted = [str(x).lower() if isinstance(x, bool) else str(x) for x in _as_list(expected)]
            if base == "Null":
                if (present is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            test, negated = _STRING_OPS[base]
            if present is None:
                if not (if_exists or negated):
                    return False
                continue
            values = [str(v) for v in _as_list(present)]
            hit = any(test(v, p) for v in values for p in wanted)
            if hit == negated:
                return False
    return True


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """Condition keys are case-insensitive."""
    if key in context:
        return context[key]
    low = key.lower()
    for k, v in context.items():
        if k.lower() == low:
            return v
    return None


def _applies(st: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if "Action" in st:
        if not any(_pattern_match(p, action, context, ignore_case=True) for p in _as_list(st["Action"])):
            return False
    elif any(_pattern_match(p, action, context, ignore_case=True) for p in _as_list(st["NotAction"])):
        return False
    if "Resource" in st:
        if not any(_pattern_match(p, resource, context, ignore_case=False) for p in _as_list(st["Resource"])):
            return False
    elif any(_pattern_match(p, resource, context, ignore_case=False) for p in _as_list(st["NotResource"])):
        return False
    return _conditions_hold(st, context)


def authorise(
    action: str,
    resources: str | Iterable[str],
    policies: Iterable[Policy],
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Evaluate identity policies as AWS does: explicit Deny > Allow > implicit deny, per resource.

    Every resource must be allowed; the first one that is not decides. ``context`` holds condition
    keys (``aws:SecureTransport`` …) and policy variables.
    """
    policies = list(policies)
    validate_policies(policies)
    return _evaluate(action, resources, policies, context or {})


def _evaluate(action: str, resources: str | Iterable[str], policies: list[Policy], ctx: Mapping[str, Any]) -> Decision:
    """:func:`authorise` on policies already validated (the hook validates once, at install)."""
    names = [resources] if isinstance(resources, str) else list(resources)
    if not names:
        raise ValueError("authorise needs at least one resource ('*' for actions without resource-level permissions)")
    allowed: Decision | None = None
    for resource in names:
        allow_by: str | None = None
        for policy in policies:
            for i, st in enumerate(_statements(policy)):
                if not _applies(st, action, resource, ctx):
                    continue
                sid = str(st.get("Sid") or f"#{i}")
                if st["Effect"] == "Deny":
                    return Decision("explicit_deny", action, resource, sid)
                allow_by = allow_by or sid
        if allow_by is None:
            return Decision("implicit_deny", action, resource)
        allowed = allowed or Decision("allow", action, resource, allow_by)
    assert allowed is not None
    return allowed


# ---------------------------------------------------------------------------------------------
# A call → the actions and resources AWS authorises


@dataclass(frozen=True)
class Target:
    """Where a request is made: the ARN parts every resource shares."""

    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        r = self.region if region is None else region
        a = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{resource}"


Required = list[tuple[str, list[str]]]  # [(iam action, [resource arns])]

_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "HeadBucket": "ListBucket",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "GetBucketCors": "GetBucketCORS",
    "PutBucketCors": "PutBucketCORS",
    "DeleteBucketCors": "PutBucketCORS",
    "GetObjectAttributes": "GetObject",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "DeleteObjects": "DeleteObject",
    "ListBuckets": "ListAllMyBuckets",
}
_S3_BUCKET_LEVEL_OBJECT_OPS = {"ListMultipartUploads", "ListObjects", "ListObjectsV2", "ListObjectVersions", "HeadBucket"}
_S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion", "HeadObject": "GetObjectVersion"}


def _s3(op: str, p: Mapping[str, Any], t: Target) -> Required:
    if op == "ListBuckets":
        return [("s3:ListAllMyBuckets", ["*"])]
    bucket = p.get("Bucket")
    if not bucket:
        return [(f"s3:{op}", ["*"])]
    bucket_arn = f"arn:{t.partition}:s3:::{bucket}"

    def obj(key: str) -> str:
        return f"{bucket_arn}/{key}"

    if op == "DeleteObjects":
        objects = (p.get("Delete") or {}).get("Objects") or []
        plain = [obj(o["Key"]) for o in objects if not o.get("VersionId")]
        versioned = [obj(o["Key"]) for o in objects if o.get("VersionId")]
        out: Required = []
        if plain:
            out.append(("s3:DeleteObject", plain))
        if versioned:
            out.append(("s3:DeleteObjectVersion", versioned))
        return out or [("s3:DeleteObject", [bucket_arn + "/"])]
    if op in ("CopyObject", "UploadPartCopy"):
        source = p.get("CopySource")
        if isinstance(source, Mapping):
            src_arn = f"arn:{t.partition}:s3:::{source['Bucket']}/{source['Key']}"
            src_version = source.get("VersionId")
        else:
            path, _, query = str(source).lstrip("/").partition("?")
            src_arn = f"arn:{t.partition}:s3:::{unquote(path)}"  # botocore quotes it before we see it
            src_version = "versionId=" in query
        get = "s3:GetObjectVersion" if src_version else "s3:GetObject"
        return [(get, [src_arn]), ("s3:PutObject", [obj(p["Key"])])]
    action = _S3_ACTIONS.get(op, op)
    if p.get("VersionId") and op in _S3_VERSIONED:
        action = _S3_VERSIONED[op]
    if "Key" in p and op not in _S3_BUCKET_LEVEL_OBJECT_OPS:
        out = [(f"s3:{action}", [obj(p["Key"])])]
        if op in ("PutObject", "CreateMultipartUpload"):  # what the request also sets needs its own grant
            out += [
                (f"s3:{extra}", [obj(p["Key"])])
                for key, extra in (("Tagging", "PutObjectTagging"), ("ACL", "PutObjectAcl"))
                if key in p
            ]
        return out
    return [(f"s3:{action}", [bucket_arn])]


def _table_arn(t: Target, table: str) -> str:
    if table.startswith("arn:"):
        return table
    return t.arn("dynamodb", f"table/{table}")


_TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _dynamodb(op: str, p: Mapping[str, Any], t: Target) -> Required:
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{op}", [_table_arn(t, name) for name in (p.get("RequestItems") or {})])]
    if op == "TransactWriteItems":
        by_action: dict[str, list[str]] = {}
        for item in p.get("TransactItems") or []:
            for kind, body in item.items():
                arn = _table_arn(t, body["TableName"])
                by_action.setdefault(f"dynamodb:{_TRANSACT_WRITE[kind]}", [])
                if arn not in by_action[f"dynamodb:{_TRANSACT_WRITE[kind]}"]:
                    by_action[f"dynamodb:{_TRANSACT_WRITE[kind]}"].append(arn)
        return list(by_action.items())
    if op == "TransactGetItems":
        tables = list(dict.fromkeys(_table_arn(t, i["Get"]["TableName"]) for i in p.get("TransactItems") or []))
        return [("dynamodb:GetItem", tables)]
    if op in ("ListTables", "DescribeLimits", "DescribeEndpoints"):
        return [(f"dynamodb:{op}", ["*"])]
    table = p.get("TableName") or p.get("ResourceArn")
    if not table:
        return [(f"dynamodb:{op}", ["*"])]
    arn = _table_arn(t, table)
    if p.get("IndexName") and op in ("Query", "Scan"):
        arn = f"{arn}/index/{p['IndexName']}"
    return [(f"dynamodb:{op}", [arn])]


_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _queue_arn(url: str, t: Target) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` (or an emulator's URL) → the queue ARN."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        return t.arn("sqs", segments[-1] if segments else url)
    account, name = segments[-2], segments[-1]
    host = parts.hostname or ""
    m = re.match(r"^sqs\.([a-z0-9-]+)\.amazonaws\.com", host) or re.match(r"^([a-z0-9-]+)\.queue\.amazonaws\.com", host)
    return t.arn("sqs", name, region=m.group(1) if m else None, account=account)


def _sqs(op: str, p: Mapping[str, Any], t: Target) -> Required:
    action = f"sqs:{_SQS_BATCH.get(op, op)}"
    if op == "ListQueues":
        return [(action, ["*"])]
    if "QueueUrl" in p:
        return [(action, [_queue_arn(p["QueueUrl"], t)])]
    if op in ("GetQueueUrl", "CreateQueue"):
        return [(action, [t.arn("sqs", p["QueueName"], account=p.get("QueueOwnerAWSAccountId") or t.account)])]
    if op in ("StartMessageMoveTask", "ListMessageMoveTasks"):
        return [(action, [p["SourceArn"]])]
    if op == "CancelMessageMoveTask":
        return [(action, ["*"])]
    return [(action, ["*"])]


def _sns(op: str, p: Mapping[str, Any], t: Target) -> Required:
    arn = p.get("TopicArn") or p.get("TargetArn") or p.get("ResourceArn") or p.get("SubscriptionArn")
    if op == "CreateTopic":
        arn = t.arn("sns", p["Name"])
    return [(f"sns:{op}", [arn or "*"])]


def _cognito(op: str, p: Mapping[str, Any], t: Target) -> Required:
    pool = p.get("UserPoolId")
    return [(f"cognito-idp:{op}", [t.arn("cognito-idp", f"userpool/{pool}")] if pool else ["*"])]


def _ssm_name_arn(t: Target, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return t.arn("ssm", f"parameter{name}" if name.startswith("/") else f"parameter/{name}")


def _ssm(op: str, p: Mapping[str, Any], t: Target) -> Required:
    if "Names" in p:
        return [(f"ssm:{op}", [_ssm_name_arn(t, n) for n in p["Names"]])]
    if "Name" in p:
        return [(f"ssm:{op}", [_ssm_name_arn(t, p["Name"])])]
    if "Path" in p:
        return [(f"ssm:{op}", [_ssm_name_arn(t, p["Path"])])]
    return [(f"ssm:{op}", ["*"])]


def _cloudwatch(op: str, p: Mapping[str, Any], t: Target) -> Required:
    names = p.get("AlarmNames") or ([p["AlarmName"]] if "AlarmName" in p else [])
    if names and op != "DescribeAlarms":
        return [(f"cloudwatch:{op}", [t.arn("cloudwatch", f"alarm:{n}") for n in names])]
    return [(f"cloudwatch:{op}", ["*"])]  # PutMetricData, GetMetricData …: no resource-level permissions


def _sts(op: str, p: Mapping[str, Any], t: Target) -> Required:
    if op == "GetCallerIdentity":
        return []  # needs no permission, and an explicit Deny cannot block it (AWS)
    if "RoleArn" in p:
        return [(f"sts:{op}", [p["RoleArn"]])]
    return [(f"sts:{op}", ["*"])]


def _logs(op: str, p: Mapping[str, Any], t: Target) -> Required:
    group = p.get("logGroupName")
    if not group:
        return [(f"logs:{op}", ["*"])]
    arn = t.arn("logs", f"log-group:{group}")
    stream = p.get("logStreamName")
    return [(f"logs:{op}", [f"{arn}:log-stream:{stream}" if stream else f"{arn}:*"])]


def _lambda(op: str, p: Mapping[str, Any], t: Target) -> Required:
    fn = p.get("FunctionName")
    if not fn:
        return [(f"lambda:{op}", ["*"])]
    return [(f"lambda:{op}", [fn if fn.startswith("arn:") else t.arn("lambda", f"function:{fn}")])]


def _events(op: str, p: Mapping[str, Any], t: Target) -> Required:
    if op == "PutEvents":
        buses = {e.get("EventBusName") or "default" for e in p.get("Entries") or []} or {"default"}
        return [("events:PutEvents", [b if b.startswith("arn:") else t.arn("events", f"event-bus/{b}") for b in sorted(buses)])]
    if "Name" in p and op.endswith("Rule"):
        return [(f"events:{op}", [t.arn("events", f"rule/{p['Name']}")])]
    return [(f"events:{op}", ["*"])]


_SERVICES: dict[str, Callable[[str, Mapping[str, Any], Target], Required]] = {
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "sns": _sns,
    "cognito-idp": _cognito,
    "ssm": _ssm,
    "monitoring": _cloudwatch,
    "cloudwatch": _cloudwatch,
    "sts": _sts,
    "logs": _logs,
    "lambda": _lambda,
    "events": _events,
}


def required(service: str, operation: str, params: Mapping[str, Any], target: Target) -> Required:
    """The (IAM action, resource ARNs) pairs AWS authorises for one API call.

    ``service`` is the endpoint prefix / IAM service prefix (``monitoring`` is CloudWatch's
    endpoint; its IAM prefix is ``cloudwatch``). An unmapped service is authorised as
    ``<service>:<Operation>`` on ``*``.
    """
    mapper = _SERVICES.get(service)
    if mapper is None:
        return [(f"{service}:{operation}", ["*"])]
    return mapper(operation, params, target)


# ---------------------------------------------------------------------------------------------
# The botocore hook


def _iam_prefix(service_model: Any) -> str:
    prefix = service_model.metadata.get("signingName") or service_model.endpoint_prefix
    return {"monitoring": "cloudwatch"}.get(prefix, prefix)


def _error_code(service_model: Any) -> str:
    meta = service_model.metadata
    if meta.get("awsQueryCompatible") is not None or meta.get("protocol") in ("query", "ec2", "rest-xml"):
        return "AccessDenied"
    return "AccessDeniedException"


def _principal(role_arn: str, session_name: str) -> str:
    # arn:aws:iam::123:role/path/Name -> arn:aws:sts::123:assumed-role/Name/session
    partition, account, resource = role_arn.split(":")[1], role_arn.split(":")[4], role_arn.split(":", 5)[5]
    return f"arn:{partition}:sts::{account}:assumed-role/{resource.rsplit('/', 1)[-1]}/{session_name}"


def denial_message(principal: str, decision: Decision) -> str:
    """AWS's wording for an identity-policy denial."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision.effect == "explicit_deny"
        else f"because no identity-based policy allows the {decision.action} action"
    )
    return f"User: {principal} is not authorized to perform: {decision.action} on resource: {decision.resource} {why}"


def _request_context(service: str, operation: str, params: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    ctx = {**base, "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:EpochTime": str(int(time.time()))}
    if service == "s3" and operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        for key, name in (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter"), ("MaxKeys", "s3:max-keys")):
            if key in params:
                ctx[name] = str(params[key])
    return ctx


def make_handler(
    policies: list[dict[str, Any]], *, account: str, region: str, role_arn: str, session_name: str | None = None
) -> Callable[..., None]:
    """The ``before-call`` handler: authorise the request or raise AWS's AccessDenied (nothing is sent)."""
    from botocore.exceptions import ClientError

    validate_policies(policies)
    partition = role_arn.split(":")[1]
    session = session_name or role_arn.rsplit("/", 1)[-1]
    principal = _principal(role_arn, session)
    base = {
        "aws:SecureTransport": "true",  # Lambda reaches AWS over TLS
        "aws:PrincipalArn": role_arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
    }

    def handler(model: Any, context: Mapping[str, Any] | None = None, **_: Any) -> None:
        if getattr(model, "auth_type", None) == "none" or getattr(model, "resolved_auth_type", None) == "none":
            return  # unsigned operations (Cognito InitiateAuth …) carry no principal to authorise
        params = _stashed(context, model)
        service_model = model.service_model
        service = _iam_prefix(service_model)
        call_region = (context or {}).get("client_region") or region
        target = Target(partition, call_region, account)
        ctx = _request_context(service, model.name, params, {**base, "aws:RequestedRegion": call_region})
        for action, resources in required(service, model.name, params, target):
            decision = _evaluate(action, resources, policies, ctx)
            if decision.allowed:
                continue
            message = denial_message(principal, decision)
            _log.warning("AccessDenied (rehearsal IAM): %s", message)  # the rehearsal's own log line
            code, status = _error_code(service_model), 400 if service == "dynamodb" else 403
            if service == "s3" and model.name in ("HeadObject", "HeadBucket"):
                code, message = "403", "Forbidden"  # a HEAD response has no body: this is all AWS says
            raise ClientError(
                {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, model.name
            )

    return handler


_STASH = "academy_rehearse_iam_params"


def _stash(params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
    """``before-parameter-build``: keep the call's API parameters where ``before-call`` finds them.

    The check itself runs at ``before-call``, which only a request about to be sent reaches:
    presigning (``generate_presigned_url``/``_post``) also emits ``before-parameter-build`` — the
    presigned POST with a stand-in ``CreateBucket`` model — but signs locally, and AWS authorises a
    presigned request when it is used, not when it is signed. ``params`` is kept by reference, so
    the check sees it after every built-in handler has run (S3's ``CopySource`` quoting …).
    """
    if context is not None:
        context[_STASH] = params


def _stashed(context: Mapping[str, Any] | None, model: Any) -> Mapping[str, Any]:
    params = (context or {}).get(_STASH)
    if params is None:  # cannot happen when both handlers are installed together: fail closed
        raise RuntimeError(f"rehearsal IAM: no parameters recorded for {model.name}; refusing to send it unchecked")
    return params


def _hook(session_or_client: Any, handler: Callable[..., None]) -> None:
    """Register :func:`_stash` and ``handler`` on one session/client, or (``"process"``) on every
    botocore session created afterwards (through botocore's built-in handler list)."""
    pairs = [("before-parameter-build", _stash), ("before-call", handler)]
    if session_or_client == "process":
        from botocore import handlers

        handlers.BUILTIN_HANDLERS.extend(pairs)
        return
    events = _events_of(session_or_client)
    for event, fn in pairs:
        events.register(event, fn)


def _events_of(session_or_client: Any) -> Any:
    events = getattr(getattr(session_or_client, "meta", None), "events", None)  # a client
    if events is None:
        events = getattr(session_or_client, "events", None)  # a boto3 Session
    if events is None and hasattr(session_or_client, "get_component"):
        events = session_or_client.get_component("event_emitter")  # a botocore Session
    if events is None:
        raise TypeError(f"cannot hook botocore events on {type(session_or_client).__name__}")
    return events


def record(session_or_client: Any, *, account: str, region: str, partition: str = "aws") -> list[tuple[str, str]]:
    """Record, without enforcing, the (IAM action, resource ARN) pairs of every call made through
    ``session_or_client`` (``"process"``: every session created afterwards). Returns the live list.

    For least-privilege checks: run a function's code paths, then assert each recorded pair is
    allowed by that function's policy (:func:`authorise`) and that its policy grants nothing unused.
    """
    calls: list[tuple[str, str]] = []

    def handler(model: Any, context: Mapping[str, Any] | None = None, **_: Any) -> None:
        if getattr(model, "resolved_auth_type", None) == "none" or getattr(model, "auth_type", None) == "none":
            return
        params = _stashed(context, model)
        target = Target(partition, (context or {}).get("client_region") or region, account)
        for action, resources in required(_iam_prefix(model.service_model), model.name, params, target):
            calls.extend((action, r) for r in resources)

    _hook(session_or_client, handler)
    return calls


SPEC_ENV = "_REHEARSE_IAM_SPEC"


def install(
    session_or_client: Any = "process",
    policies: list[dict[str, Any]] | None = None,
    *,
    account: str | None = None,
    region: str | None = None,
    role_arn: str | None = None,
    session_name: str | None = None,
) -> None:
    """Authorise every call of a botocore/boto3 session or client against ``policies``.

    ``session_or_client`` may also be the string ``"process"``: the handler then joins botocore's
    built-in handlers, so every session created afterwards in this process gets it (what a function
    process wants: boto3, pynamodb's per-thread sessions and powertools each make their own).

    Called with no arguments — the rehearsal bootstrap's hook protocol (``_REHEARSE_HOOKS``: each
    module loaded by path, ``install()`` called before the handler is imported) — it enforces, for
    the whole process, the spec file named by ``_REHEARSE_IAM_SPEC`` (:func:`function_env` sets it;
    the variable is then removed, so the function sees its deployed environment). No spec → the
    process refuses to start (fail closed).
    """
    if policies is None:
        path = os.environ.pop(SPEC_ENV, "")
        if not path:
            raise RuntimeError(f"IAM enforcement was asked for but {SPEC_ENV} names no spec file: refusing to run unchecked")
        install_from_spec(path)
        return
    if account is None or region is None or role_arn is None:
        raise TypeError("install() needs account, region and role_arn with policies")
    handler = make_handler(policies, account=account, region=region, role_arn=role_arn, session_name=session_name)
    _hook(session_or_client, handler)


# ---------------------------------------------------------------------------------------------
# Roles and credentials from the emulator (the launcher's side)


def _document(doc: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict (botocore decodes it), URL-encoded JSON, or — for
    inline policies moto's CloudFormation created from a template's ``Policies`` — a Python repr of
    the dict (a moto quirk, read with ``ast.literal_eval``: literals only, nothing is executed)."""
    if not isinstance(doc, str):
        return dict(doc)
    text = unquote(doc) if doc.lstrip().startswith("%") else doc
    try:
        return dict(json.loads(text))
    except ValueError:
        import ast

        value = ast.literal_eval(text)
        if not isinstance(value, dict):
            raise ValueError(f"not a policy document: {text[:80]!r}") from None
        return value


def role_policies(iam_client: Any, role_name: str) -> list[dict[str, Any]]:
    """The role's identity policies as created in IAM: inline ones, then attached managed ones.

    A role with a permissions boundary is refused (:class:`PolicyError`): the boundary would cap what
    these policies allow, and evaluating them without it would allow more than AWS does."""
    boundary = iam_client.get_role(RoleName=role_name)["Role"].get("PermissionsBoundary")
    if boundary:
        raise PolicyError(f"role {role_name} has a permissions boundary ({boundary.get('PermissionsBoundaryArn')}): not modelled")
    out: list[dict[str, Any]] = []
    for page in iam_client.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            out.append(_document(iam_client.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]))
    for page in iam_client.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            policy = iam_client.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam_client.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            out.append(_document(version["PolicyVersion"]["Document"]))
    return out


def assume_role_env(sts_client: Any, role_arn: str, session_name: str, duration_s: int = 3600) -> dict[str, str]:
    """Credentials of ``role_arn`` (STS AssumeRole) as the environment a Lambda function gets."""
    creds = sts_client.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=duration_s)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def write_spec(
    path: Path, *, policies: list[dict[str, Any]], account: str, region: str, role_arn: str, session_name: str
) -> Path:
    """What a function process needs to enforce its role (read by :func:`install_from_spec`)."""
    validate_policies(policies)
    spec = {"policies": policies, "account": account, "region": region, "role_arn": role_arn, "session_name": session_name}
    path.write_text(json.dumps(spec))
    return path


def install_from_spec(path: str | Path) -> None:
    """In the function process, before the handler is imported: enforce the role for every session."""
    spec = json.loads(Path(path).read_text())
    install(
        "process",
        spec["policies"],
        account=spec["account"],
        region=spec["region"],
        role_arn=spec["role_arn"],
        session_name=spec.get("session_name"),
    )


def function_env(iam_client: Any, sts_client: Any, *, role_arn: str, function_name: str, spec_dir: Path) -> dict[str, str]:
    """The launcher's side, per function: AssumeRole credentials of its role (session named after the
    function, as Lambda's) and its role's policies written to ``spec_dir/<function>.iam.json``, as
    the environment to add to the function process (``_REHEARSE_IAM_SPEC`` for :func:`install`)."""
    account, role_name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = write_spec(
        spec_dir / f"{function_name}.iam.json",
        policies=role_policies(iam_client, role_name),
        account=account,
        region=sts_client.meta.region_name,
        role_arn=role_arn,
        session_name=function_name[:64],
    )
    return {**assume_role_env(sts_client, role_arn, function_name), SPEC_ENV: str(spec)}


# ---------------------------------------------------------------------------------------------
# What the Lambda service itself does with a function's role (not the function's own calls)

SQS_EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def check_event_source(policies: list[dict[str, Any]], queue_arn: str, *, role_arn: str) -> None:
    """An SQS event source mapping polls with the *function's* role: AWS's CreateEventSourceMapping
    refuses a role that cannot receive, delete and read the queue's attributes (the function's code
    never makes those calls, so a least-privilege policy derived from the code alone misses them).
    Raises the ``InvalidParameterValueException`` AWS answers with."""
    from botocore.exceptions import ClientError

    validate_policies(policies)
    ctx = {"aws:PrincipalArn": role_arn, "aws:SecureTransport": "true"}
    for action in SQS_EVENT_SOURCE_ACTIONS:
        if not _evaluate(action, queue_arn, policies, ctx).allowed:
            message = f"The provided execution role does not have permissions to call {action.split(':')[1]} on SQS"
            raise ClientError(
                {
                    "Error": {"Code": "InvalidParameterValueException", "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "CreateEventSourceMapping",
            )


def missing_log_permissions(
    policies: list[dict[str, Any]], function_name: str, *, account: str, region: str, partition: str = "aws"
) -> list[str]:
    """The log actions the Lambda service needs from the role to write the function's logs to
    ``/aws/lambda/<function>`` that the policies do not allow. AWS does not refuse such a function:
    its logs silently go nowhere, so the rehearsal can only warn."""
    validate_policies(policies)
    group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function_name}"
    stream = f"{group}:log-stream:2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
    return [a for a in LOG_ACTIONS if not _evaluate(a, stream, policies, {}).allowed]
