"""Test environment: every AWS call goes to moto (``mock_aws``), resources come from the infra template.

The environment is fixed here, before anything imports the app (table names and clients derive
from it).
"""

from __future__ import annotations

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="academy-test-")
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ACADEMY_STAGE": "test",
        "ACADEMY_AUTH_MODE": "dev",
        "ACADEMY_DEV_SIGNING_KEY": "test-signing-key-not-secret-0123456789abcdef",
        "ACADEMY_CURSOR_KEY": "test-cursor-key-not-secret-0123456789abcdef",
        "ACADEMY_BUCKET": "academy-test-media-123456789012",
        "ACADEMY_TMP_DIR": _tmp,
        "POWERTOOLS_METRICS_NAMESPACE": "AcademyOpsTest",
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_LOG_LEVEL": "INFO",  # what production logs at: every log call on a tested path runs
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from emulation import serialise_dynamodb  # noqa: E402
from tests.least_privilege import (  # noqa: E402, F401  (least privilege, checked by every functional test)
    least_privilege,
    pytest_collection_finish,
    pytest_deselected,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

serialise_dynamodb()  # moto's DynamoDB, made linearizable like the real one (see the module)


@pytest.fixture(autouse=True)
def _environment_restored():
    """Every test starts from the environment set above, and from settings built from it. A test that
    changes ``os.environ`` for good (the local stack's helpers set the dev stage's variables) no longer
    hands that to the tests after it, nor settings cached from it (the next test then ran under another
    stage's auth mode). The settings are rebuilt here, outside any invocation: chalice.test.Client swaps
    in the dev stage's variables while it invokes, so settings first built in there would be the dev
    stage's (and so would the table names of a model first imported there)."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)
    from chalicelib.core import settings

    cached = settings.get_settings()
    if (cached.stage, cached.auth_mode) != (os.environ["ACADEMY_STAGE"], os.environ["ACADEMY_AUTH_MODE"]):
        settings.get_settings.cache_clear()
        settings.get_settings()


@pytest.fixture(autouse=True)
def alert_signals(request):
    """Alert signals are recorded, not fired, unless a test is marked ``alert_engine``: the engine queues an
    ``alerts.evaluate`` job per signal, which would add messages to the jobs queue of every test whose code
    files an incident or fails a job. tests/functional/test_alerts.py runs the engine, in every function."""
    if request.node.get_closest_marker("alert_engine"):
        yield None
        return
    from chalicelib.alerts import signals

    with signals.recording() as seen:
        yield seen


@pytest.fixture
def aws():
    """Fresh emulated AWS with the stack deployed from infra/ (the same template AWS gets)."""
    from infra.deploy import deploy

    with mock_aws():
        outputs = deploy("test")
        yield outputs


@pytest.fixture
def app(aws):
    from app import app as chalice_app

    return chalice_app


@pytest.fixture
def client(app):
    from chalice.test import Client

    with Client(app) as c:
        yield c


@pytest.fixture
def api_url(client):
    """The app over real HTTP (a local server in a thread forwarding to ``client``; moto stays in-process)."""
    from tests.httpbridge import serve_client

    with serve_client(client) as url:
        yield url


@pytest.fixture
def tokens():
    from chalicelib.core.auth import mint_dev_token

    class Tokens:
        admin = mint_dev_token("admin", "admin-1")
        customer_a = mint_dev_token("customer", "cust-a")
        customer_b = mint_dev_token("customer", "cust-b")

        @staticmethod
        def h(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    return Tokens
