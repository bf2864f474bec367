"""Child of bench_cold_start (not a benchmark itself): one function's cold start on the client side.

In a fresh interpreter: import the app (CPU), then for the function named in argv[1] the first call
on each client it uses (its tables through their pynamodb models, SQS, S3): client creation plus one
request, answered by a ``before-send`` hook with an empty 200, so nothing goes over the network and
the time is the SDK's own (service model loading, endpoint resolution, signing, parsing). Prints one
JSON object of CPU milliseconds.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

_pt = time.process_time


def _canned(request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield b"{}" if "amazonaws.com" in request.url and "s3." not in request.url else b""

    return AWSResponse(request.url, 200, {}, Raw())


def main(function: str) -> None:
    t = _pt()
    import app  # noqa: F401 - what every function does first

    out: dict[str, float] = {"import": (_pt() - t) * 1000}
    from chalicelib.core import aws
    from chalicelib.tables import ALL_MODELS
    from infra.iam import ACCESS

    access = ACCESS[function]
    models = {m.Meta.short_name: m for m in ALL_MODELS}  # type: ignore[attr-defined]
    first, rest, n = 0.0, 0.0, 0
    for short in access.tables:
        model = models.get(short)
        if model is None:
            continue
        t = _pt()
        client = model._get_connection().connection.client
        client.meta.events.register("before-send", _canned)
        key = {model._hash_keyname: {"S": "x"}}
        if model._range_keyname:
            key[model._range_keyname] = {"S": "x"}
        client.get_item(TableName=model.Meta.table_name, Key=key)
        took = (_pt() - t) * 1000
        first, rest, n = (took, rest, 1) if n == 0 else (first, rest + took, n + 1)
    out["dynamodb_first_table"], out["dynamodb_other_tables"], out["tables"] = first, rest, n
    if access.queues or access.consumes:
        t = _pt()
        sqs = aws.client("sqs")
        sqs.meta.events.register("before-send", _canned)
        sqs.get_queue_url(QueueName="academy-bench-jobs")
        out["sqs"] = (_pt() - t) * 1000
    if access.objects or access.list_bucket:
        t = _pt()
        s3 = aws.client("s3")
        s3.meta.events.register("before-send", _canned)
        s3.head_object(Bucket="academy-bench-media", Key="customers/x")
        out["s3"] = (_pt() - t) * 1000
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
