"""The rehearsal's fixtures: the real package (built once per session) and the ffmpeg layer zip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest

from academy_cli.spawn import SpawnedStack, StackStartError, start_stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``academy package`` of this tree, as a user would build it (sam.json + deployment.zip);
    ``ACADEMY_REHEARSE_PACKAGE`` names one already built (``make rehearse-test`` builds it once)."""
    if given := os.environ.get("ACADEMY_REHEARSE_PACKAGE"):
        return Path(given)
    out = tmp_path_factory.mktemp("package")
    academy = str(Path(sys.executable).parent / "academy")
    subprocess.run([academy, "package", "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def layer_zip() -> Path:
    """The ffmpeg layer zip (``make layer``), built if missing."""
    from academy_cli.rehearse.stack import LAYER_ZIP

    if not LAYER_ZIP.is_file():
        subprocess.run([sys.executable, str(ROOT / "layers" / "ffmpeg" / "build.py")], cwd=ROOT, check=True, timeout=600)
    return LAYER_ZIP


PASSWORD = "Rehearse-Pass-123!"  # a throwaway password for users of a throwaway emulated pool


class Rehearsal(SpawnedStack):
    @property
    def state(self) -> dict[str, Any]:
        return json.loads((Path(self.env["ACADEMY_RUN_DIR"]) / f"stack-{self.port}.json").read_text())

    def client(self, service: str) -> Any:
        s = self.state
        return boto3.client(
            service,
            endpoint_url=s["aws_endpoint"],
            region_name=s["region"],
            aws_access_key_id="rehearse",
            aws_secret_access_key="rehearse",
            aws_session_token="rehearse",
        )

    def sign_in(self, role: str, username: str) -> tuple[str, str]:
        """An ID token from the pool for ``username`` in group ``role``; returns (token, the principal's id)."""
        idp = self.client("cognito-idp")
        pool, app_client = self.state["outputs"]["UserPoolId"], self.state["outputs"]["UserPoolClientId"]
        try:
            idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS", TemporaryPassword=PASSWORD)
            idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=PASSWORD, Permanent=True)
            idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=role)
            sub = next(
                a["Value"] for a in idp.admin_get_user(UserPoolId=pool, Username=username)["UserAttributes"] if a["Name"] == "sub"
            )
            # The id the API sees is custom:customer_id where present, else sub: make them agree.
            idp.admin_update_user_attributes(
                UserPoolId=pool, Username=username, UserAttributes=[{"Name": "custom:customer_id", "Value": sub}]
            )
        except idp.exceptions.UsernameExistsException:
            pass
        auth = idp.initiate_auth(
            ClientId=app_client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD}
        )
        token = auth["AuthenticationResult"]["IdToken"]
        claims = jwt.decode(token, options={"verify_signature": False})  # test side only: to know the principal's id
        return token, claims.get("custom:customer_id") or claims["sub"]


@pytest.fixture(scope="session")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, package_dir: Path, layer_zip: Path) -> Iterator[Rehearsal]:
    try:
        stack = start_stack(
            tmp_path_factory.mktemp("rehearsal"),
            extra_args=("--rehearse", "--package", str(package_dir), "--no-scheduler"),
            timeout_s=240,
            stack_type=Rehearsal,
        )
    except StackStartError as exc:
        pytest.fail(str(exc))
    yield stack
    stack.stop(timeout=30)
