"""What the in-process benchmarks share: their environment and a freshly deployed emulated AWS.

Not a benchmark itself (``python -m bench`` runs only ``bench_*`` modules).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
APP_ENV = {
    "ACADEMY_STAGE": "bench",
    "ACADEMY_AUTH_MODE": "dev",
    "ACADEMY_DEV_SIGNING_KEY": "bench-signing-key-not-secret-0123456789",
    "POWERTOOLS_METRICS_NAMESPACE": "AcademyOpsBench",
}


def set_env(*, log_level: str, app: bool = True) -> None:
    """Fake AWS credentials (and with ``app`` the bench stage and dev auth), unless already set; never a real endpoint."""
    values = {**AWS_ENV, **(APP_ENV if app else {}), "POWERTOOLS_LOG_LEVEL": log_level}
    for k, v in values.items():
        os.environ.setdefault(k, v)
    os.environ.pop("AWS_ENDPOINT_URL", None)


@contextmanager
def deployed_aws() -> Iterator[None]:
    """Inside ``mock_aws``: fresh clients and the stack deployed from infra/ for the current stage."""
    from moto import mock_aws

    with mock_aws():
        from chalicelib.core import aws
        from chalicelib.core.settings import get_settings
        from infra.deploy import deploy

        aws.reset()
        deploy(get_settings().stage)
        yield
