"""Lazily created boto3 clients (the endpoint comes from AWS_ENDPOINT_URL; none is set in code)."""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.core.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=20)


_LOCK = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One session for every client: each new session reloads botocore's endpoint and retry data."""
    return boto3.session.Session()


@functools.cache
def client(service: str) -> Any:
    with _LOCK:  # creating clients from one session is not thread-safe; using them is
        return _session().client(service, region_name=get_settings().region, config=_CONFIG)


@functools.cache
def queue_url(name: str) -> str:
    url: str = client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return url


def reset() -> None:
    """Forget cached clients and queue URLs (tests switch emulators between cases)."""
    client.cache_clear()
    queue_url.cache_clear()
    _session.cache_clear()
