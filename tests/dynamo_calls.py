"""Counting the DynamoDB calls a block makes, through every botocore client (boto3's and pynamodb's)."""

from __future__ import annotations

from typing import Any


class DynamoCalls:
    """Counts DynamoDB API calls made by any botocore client (as the benches do)."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def __enter__(self) -> DynamoCalls:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        calls = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                calls.ops.append(operation)
            return calls._orig(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig  # type: ignore[method-assign]
