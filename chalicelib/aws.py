"""Lazily created boto3 clients (the endpoint comes from AWS_ENDPOINT_URL; none is set in code)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=20)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, region_name=get_settings().region, config=_CONFIG)


@functools.cache
def queue_url(name: str) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def reset() -> None:
    """Forget cached clients and queue URLs (tests switch emulators between cases)."""
    client.cache_clear()
    queue_url.cache_clear()
