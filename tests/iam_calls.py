"""Which AWS calls each Lambda function of the app really makes, as IAM (action, resource) pairs.

:class:`CallRecorder` wraps botocore's ``_make_api_call`` and its presigners (a presigned URL or
POST is a request made later with the function's credentials, so its action belongs to the function)
and attributes each call to the function that is running: the API handler for a request through
``chalice.test.Client``'s HTTP client, the named function for ``client.lambda_.invoke``, the queue's
handler for a direct call of the worker's ``process_batch``/``process_dead_letters``. Calls made
outside a function (fixtures, assertions) are not recorded.

Each API operation is turned into the IAM actions AWS authorises it with, on the resource ARN it
names (DynamoDB transactions by item, batches by table, S3 copies on both objects, ListObjects on the
bucket with its ``s3:prefix``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlparse

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@dataclass(frozen=True)
class Call:
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN
    context: tuple[tuple[str, str], ...] = ()  # condition keys, e.g. (("s3:prefix", "customers/"),)
    operation: str = ""  # the API operation that needed it (for messages)


@dataclass
class CallRecorder:
    """Records ``{function logical id: {Call}}`` while active (``with CallRecorder() as rec``)."""

    calls: dict[str, set[Call]] = field(default_factory=lambda: defaultdict(set))
    _local: threading.local = field(default_factory=threading.local)
    _current: list[str] = field(default_factory=list)  # for threads a function starts (S3 transfers)
    _stack: ExitStack = field(default_factory=ExitStack)

    # --- which function runs ------------------------------------------------------------------

    def function(self) -> str | None:
        return getattr(self._local, "function", None) or (self._current[-1] if self._current else None)

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        outer = getattr(self._local, "function", None)
        if outer is not None:  # nested (invoke → process_batch): the outer attribution stands
            yield
            return
        self._local.function = function
        self._current.append(function)
        from chalicelib.core import aws

        aws.queue_url.cache_clear()  # each function is its own process on Lambda: it looks its queue URLs up itself
        try:
            yield
        finally:
            self._local.function = None
            self._current.remove(function)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls of a job function the tests registered (not the product's) are not the function's."""
        self._local.paused = True
        try:
            yield
        finally:
            self._local.paused = False

    def active(self) -> bool:
        return self.function() is not None and not getattr(self._local, "paused", False)

    def record(self, calls: list[Call]) -> None:
        fn = self.function()
        if fn is not None and not getattr(self._local, "paused", False):
            self.calls[fn].update(calls)

    # --- patches ------------------------------------------------------------------------------

    def __enter__(self) -> CallRecorder:
        import botocore.client
        import botocore.signers
        from chalice.test import TestHTTPClient, TestLambdaClient
        from chalice.utils import to_cfn_resource_name

        import chalicelib.jobs.worker as worker
        from chalicelib.jobs.queues import QUEUES
        from chalicelib.jobs.registry import JobType

        rec = self
        make_api_call = botocore.client.BaseClient._make_api_call
        presign_url = botocore.signers.RequestSigner.generate_presigned_url
        presign_post = botocore.signers.S3PostPresigner.generate_presigned_post
        http_request, invoke = TestHTTPClient.request, TestLambdaClient.invoke
        batch, dead_letters = worker.process_batch, worker.process_dead_letters
        load = JobType.load

        def load_job(jt: JobType) -> Any:
            fn = load(jt)
            if jt.target is None or jt.target.startswith("chalicelib."):  # the product's own job bodies
                return fn

            def test_job(*a: Any, **kw: Any) -> Any:
                with rec.paused():
                    return fn(*a, **kw)

            return test_job

        def api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if rec.active():
                rec.record(iam_calls(client.meta.service_model.service_name, operation, params))
            return make_api_call(client, operation, params)

        def url(signer: Any, request_dict: dict[str, Any], operation_name: str, *a: Any, **kw: Any) -> Any:
            service = signer._service_id.hyphenize() if hasattr(signer, "_service_id") else "s3"
            if service == "s3" and rec.active():
                bucket, key = _bucket_key_from_url(request_dict["url"])
                rec.record(iam_calls("s3", operation_name, {"Bucket": bucket, "Key": key}))
            return presign_url(signer, request_dict, operation_name, *a, **kw)

        def post(presigner: Any, request_dict: dict[str, Any], fields: Any = None, conditions: Any = None, **kw: Any) -> Any:
            found = {k: v for c in conditions or [] if isinstance(c, dict) for k, v in c.items()}
            if rec.active() and {"bucket", "key"} <= set(found):
                rec.record(iam_calls("s3", "PutObject", {"Bucket": found["bucket"], "Key": found["key"]}))
            return presign_post(presigner, request_dict, fields=fields, conditions=conditions, **kw)

        def request(client: Any, *a: Any, **kw: Any) -> Any:
            with rec.running("APIHandler"):
                return http_request(client, *a, **kw)

        def lambda_invoke(client: Any, function_name: str, *a: Any, **kw: Any) -> Any:
            with rec.running(to_cfn_resource_name(function_name)):
                return invoke(client, function_name, *a, **kw)

        def process_batch(event: dict[str, Any], queue_short: str, *a: Any, **kw: Any) -> Any:
            with rec.running(to_cfn_resource_name(QUEUES[queue_short].handler)):
                return batch(event, queue_short, *a, **kw)

        def process_dead_letters(event: dict[str, Any], *a: Any, **kw: Any) -> Any:
            arn = (event.get("Records") or [{}])[0].get("eventSourceARN", "")
            handler = dead_letter_handler(arn.rsplit(":", 1)[-1])
            with rec.running(handler) if handler else _nothing():
                return dead_letters(event, *a, **kw)

        for target, attr, new in [
            (botocore.client.BaseClient, "_make_api_call", api_call),
            (botocore.signers.RequestSigner, "generate_presigned_url", url),
            (botocore.signers.S3PostPresigner, "generate_presigned_post", post),
            (TestHTTPClient, "request", request),
            (TestLambdaClient, "invoke", lambda_invoke),
            (worker, "process_batch", process_batch),
            (worker, "process_dead_letters", process_dead_letters),
            (JobType, "load", load_job),
        ]:
            self._stack.enter_context(mock.patch.object(target, attr, new))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def dead_letter_handler(queue_name: str) -> str | None:
    """The logical id of the function consuming ``queue_name`` (a dead-letter queue), from the app."""
    from chalice.app import SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    from app import app

    for src in app.event_sources:
        if isinstance(src, SQSEventConfig) and src.queue == queue_name:
            return to_cfn_resource_name(src.name)
    return None


def _bucket_key_from_url(url: str) -> tuple[str, str]:
    """Bucket and key of a presigned S3 URL (virtual-hosted or path style)."""
    from chalicelib.core.settings import get_settings

    bucket = get_settings().bucket_name
    parsed = urlparse(url)
    path = unquote(parsed.path.lstrip("/"))
    if parsed.hostname and parsed.hostname.startswith(f"{bucket}."):
        return bucket, path
    head, _, key = path.partition("/")
    return head, key


# --- API operation → IAM actions -----------------------------------------------------------------


def table_arn(name: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def queue_arn_from_url(url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


_TRANSACT = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_S3_OBJECT = {
    "HeadObject": "GetObject",
    "GetObject": "GetObject",
    "PutObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "DeleteObject": "DeleteObject",
    "ListParts": "ListMultipartUploadParts",
}
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}
_SQS_BATCH["ChangeMessageVisibilityBatch"] = "ChangeMessageVisibility"


def iam_calls(service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """The (action, resource) pairs IAM checks for one API call."""
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [
                Call(f"dynamodb:{_TRANSACT[kind]}", table_arn(item[kind]["TableName"]), operation=operation)
                for item in params["TransactItems"]
                for kind in item
            ]
        if operation == "TransactGetItems":
            items = params["TransactItems"]
            return [Call("dynamodb:GetItem", table_arn(i["Get"]["TableName"]), operation=operation) for i in items]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [Call(f"dynamodb:{operation}", table_arn(t), operation=operation) for t in params["RequestItems"]]
        if "TableName" not in params:  # ListTables
            return [Call(f"dynamodb:{operation}", "*", operation=operation)]
        return [Call(f"dynamodb:{operation}", table_arn(params["TableName"], params.get("IndexName")), operation=operation)]
    if service == "sqs":
        if operation == "GetQueueUrl":
            return [Call("sqs:GetQueueUrl", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{params['QueueName']}", operation=operation)]
        action = _SQS_BATCH.get(operation, operation)
        resource = queue_arn_from_url(params["QueueUrl"]) if "QueueUrl" in params else "*"  # ListQueues, CreateQueue
        return [Call(f"sqs:{action}", resource, operation=operation)]
    if service == "s3":
        bucket = params.get("Bucket", "")
        # S3 answers a read of a missing key with 404 only if the caller may ListBucket (else 403), and our code
        # acts on that 404: a read the code makes needs ListBucket on the bucket too.
        missing_is_404 = Call("s3:ListBucket", f"arn:aws:s3:::{bucket}", operation=f"{operation} (404 for a missing key)")
        if operation == "CopyObject":
            src = params["CopySource"]
            return [
                Call("s3:PutObject", object_arn(bucket, params["Key"]), operation=operation),
                Call("s3:GetObject", object_arn(src["Bucket"], src["Key"]), operation=operation),
                missing_is_404,
            ]
        if operation in ("HeadObject", "GetObject"):
            return [Call("s3:GetObject", object_arn(bucket, params["Key"]), operation=operation), missing_is_404]
        if operation in ("ListObjectsV2", "ListObjects"):
            ctx = (("s3:prefix", params.get("Prefix", "")),)
            return [Call("s3:ListBucket", f"arn:aws:s3:::{bucket}", ctx, operation=operation)]
        if operation == "HeadBucket":
            return [Call("s3:ListBucket", f"arn:aws:s3:::{bucket}", operation=operation)]
        if operation == "ListMultipartUploads":
            return [Call("s3:ListBucketMultipartUploads", f"arn:aws:s3:::{bucket}", operation=operation)]
        action = f"s3:{_S3_OBJECT.get(operation, operation)}"
        return [Call(action, object_arn(bucket, params.get("Key", "")), operation=operation)]
    if service == "sns":
        arn = params.get("TopicArn") or params.get("SubscriptionArn") or "*"
        return [Call(f"sns:{operation}", arn, operation=operation)]
    if service == "ssm" and "Name" in params:
        return [Call(f"ssm:{operation}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{params['Name']}", operation=operation)]
    return [Call(f"{service}:{operation}", "*", operation=operation)]


# --- the packaged policies, resolved for the test stack --------------------------------------------


def resolve(value: Any, template: dict[str, Any], params: dict[str, str]) -> Any:
    """Concrete value of a template expression (Ref, Fn::GetAtt Arn, Fn::Sub) in moto's account/region."""
    if isinstance(value, list):
        return [resolve(v, template, params) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        return _ref(value["Ref"], template, params)
    if "Fn::GetAtt" in value:
        logical, attr = value["Fn::GetAtt"]
        return _get_att(logical, attr, template, params)
    if "Fn::Sub" in value:
        import re

        def sub(m: Any) -> str:
            name = m.group(1)
            if "." in name:
                logical, attr = name.split(".", 1)
                return _get_att(logical, attr, template, params)
            return _ref(name, template, params)

        return re.sub(r"\$\{([^}]+)\}", sub, value["Fn::Sub"])
    return {k: resolve(v, template, params) for k, v in value.items()}


def _ref(name: str, template: dict[str, Any], params: dict[str, str]) -> str:
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
    if name in pseudo:
        return pseudo[name]
    if name in params:
        return params[name]
    if name in template.get("Parameters", {}):
        return str(template["Parameters"][name].get("Default", ""))
    props = template["Resources"][name].get("Properties", {})
    if template["Resources"][name].get("Type") == "AWS::SNS::Topic":  # a topic's Ref is its ARN
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{resolve(props['TopicName'], template, params)}"
    for key in ("TableName", "BucketName", "QueueName", "LogGroupName", "FunctionName"):
        if key in props:
            return resolve(props[key], template, params)
    raise KeyError(f"cannot resolve Ref {name}")


def _get_att(logical: str, attr: str, template: dict[str, Any], params: dict[str, str]) -> str:
    if attr != "Arn":
        raise KeyError(f"{logical}.{attr}")
    kind = template["Resources"][logical]["Type"]
    name = _ref(logical, template, params)
    return {
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
    }[kind]


def _wild(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcards: ``*`` any run of characters (``/`` included), ``?`` one character."""
    import fnmatch

    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement_matches(stmt: dict[str, Any], call: Call) -> bool:
    """Action, resource and (StringLike/StringEquals) conditions; the only policy grammar we write."""
    if not any(_wild(a, call.action, case=False) for a in _listed(stmt["Action"])):
        return False
    if not any(_wild(r, call.resource) for r in _listed(stmt["Resource"])):
        return False
    context = dict(call.context)
    for op, conditions in stmt.get("Condition", {}).items():
        for key, wanted in conditions.items():
            if key not in context:
                return False
            match = _wild if op == "StringLike" else (lambda p, v: p == v) if op == "StringEquals" else None
            if match is None:
                raise ValueError(f"condition operator {op} is not understood here")
            if not any(match(w, context[key]) for w in _listed(wanted)):
                return False
    return True


def allowed(policy: dict[str, Any], call: Call) -> bool:
    """Explicit deny wins, then any allow; nothing else is allowed (IAM's evaluation, one identity policy)."""
    statements = _listed(policy["Statement"])
    if any(s["Effect"] == "Deny" and statement_matches(s, call) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_matches(s, call) for s in statements)


def packaged_policies(stage: str = "test") -> dict[str, dict[str, Any]]:
    """Function logical id → its role's policy document, from the merge template, resolved for ``stage``."""
    from academy_cli.package_cmd import merge_template
    from infra.iam import ACCESS, role_logical

    template = merge_template(stage)
    params = {"Stage": stage}
    out = {}
    for fn in ACCESS:
        (policy,) = template["Resources"][role_logical(fn)]["Properties"]["Policies"]
        out[fn] = resolve(policy["PolicyDocument"], template, params)
    return out


def platform_grants(function: str) -> set[tuple[str, str]]:
    """(Sid, action) pairs used by AWS on the function's behalf, never by its code: logs, SQS polling."""
    from infra.iam import ACCESS, EVENT_SOURCE_ACTIONS, queue_logical

    access = ACCESS[function]
    grants = {("OwnLogs", "logs:CreateLogStream"), ("OwnLogs", "logs:PutLogEvents")}
    if access.consumes:
        own = set(access.queues.get(access.consumes, ()))
        grants |= {(queue_logical(access.consumes), f"sqs:{a}") for a in EVENT_SOURCE_ACTIONS if a not in own}
    return grants


def unused_grants(policies: dict[str, dict[str, Any]], calls: dict[str, set[Call]]) -> list[str]:
    """Every (action, resource) a policy allows that no recorded call of its function needed."""
    unused = []
    for fn, policy in policies.items():
        platform = platform_grants(fn)
        for stmt in _listed(policy["Statement"]):
            for action in _listed(stmt["Action"]):
                if (stmt.get("Sid"), action) in platform:
                    continue
                for resource in _listed(stmt["Resource"]):
                    one = {**stmt, "Action": action, "Resource": resource}
                    if not any(statement_matches(one, c) for c in calls.get(fn, ())):
                        unused.append(f"{fn}: {action} on {resource}")
    return unused


class LeastPrivilege:
    """The session's recorder and the packaged policies; what the conftest fixtures and hooks use."""

    def __init__(self) -> None:
        self.recorder = CallRecorder().__enter__()
        self._policies: dict[str, dict[str, Any]] | None = None
        self._verdicts: dict[tuple[str, Call], bool] = {}

    @property
    def policies(self) -> dict[str, dict[str, Any]]:
        if self._policies is None:
            self._policies = packaged_policies()
        return self._policies

    def snapshot(self) -> dict[str, set[Call]]:
        return {fn: set(calls) for fn, calls in self.recorder.calls.items()}

    def denied_since(self, before: dict[str, set[Call]]) -> list[str]:
        denied = []
        for fn, calls in list(self.recorder.calls.items()):
            for call in sorted(set(calls) - before.get(fn, set()), key=lambda c: (c.action, c.resource)):
                key = (fn, call)
                if key not in self._verdicts:
                    policy = self.policies.get(fn)
                    self._verdicts[key] = policy is not None and allowed(policy, call)
                if not self._verdicts[key]:
                    extra = f" {dict(call.context)}" if call.context else ""
                    denied.append(f"{fn}: {call.action} on {call.resource}{extra} ({call.operation})")
        return denied

    def close(self) -> None:
        self.recorder.__exit__(None, None, None)
