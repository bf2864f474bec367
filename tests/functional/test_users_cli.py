"""``academy users``: invite, list, disable and re-role people in a user pool (moto server's Cognito)."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from academy_cli.main import cli

TEMP = "Temp-Passw0rd-1"
NEW = "Chosen-Passw0rd-2"


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def pool(moto_endpoint, monkeypatch, tmp_path):
    """A pool shaped like the stack's (email sign-in, custom:customer_id, groups, a console client)."""
    for key, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ACADEMY_RUN_DIR", str(tmp_path / "run"))
    idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=moto_endpoint)
    pool_id = idp.create_user_pool(
        PoolName="academy-test",
        UsernameAttributes=["email"],
        Schema=[{"Name": "customer_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    for group in ("admin", "customer"):
        idp.create_group(UserPoolId=pool_id, GroupName=group)
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="console", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    )["UserPoolClient"]["ClientId"]

    class Pool:
        id = pool_id
        client = client_id
        endpoint = moto_endpoint

        @staticmethod
        def users(*args: str) -> tuple[int, str]:
            r = CliRunner().invoke(cli, ["users", *args, "--user-pool-id", pool_id], catch_exceptions=False)
            return r.exit_code, r.output

        @staticmethod
        def sign_in(email: str, password: str) -> dict:
            return idp.initiate_auth(
                ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": password}
            )

    Pool.idp = idp
    return Pool


def _claims(id_token: str) -> dict:
    import jwt

    return jwt.decode(id_token, options={"verify_signature": False})  # the shape only; auth.py verifies for real


def test_create_invites_a_customer_with_their_id_and_group(pool):
    code, out = pool.users(
        "create", "parent@example.com", "--role", "customer", "--customer-id", "cust-7", "--temporary-password", TEMP, "--json"
    )
    assert code == 0, out
    row = json.loads(out.strip().splitlines()[0])
    assert row["role"] == "customer" and row["customer_id"] == "cust-7" and row["status"] == "FORCE_CHANGE_PASSWORD"

    first = pool.sign_in("parent@example.com", TEMP)
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED"  # the invitation's first sign-in
    done = pool.idp.respond_to_auth_challenge(
        ClientId=pool.client,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=first["Session"],
        ChallengeResponses={"USERNAME": "parent@example.com", "NEW_PASSWORD": NEW},
    )
    claims = _claims(done["AuthenticationResult"]["IdToken"])
    assert claims["custom:customer_id"] == "cust-7" and claims["cognito:groups"] == ["customer"]
    assert claims["token_use"] == "id"


def test_create_an_admin_and_list(pool):
    assert pool.users("create", "boss@example.com", "--role", "admin", "--temporary-password", TEMP)[0] == 0
    assert pool.users("create", "mum@example.com", "--role", "customer", "--customer-id", "cust-1")[0] == 0
    code, out = pool.users("list", "--json")
    assert code == 0
    rows = {r["email"]: r for r in json.loads(out)}
    assert rows["boss@example.com"]["role"] == "admin" and rows["boss@example.com"]["customer_id"] is None
    assert rows["mum@example.com"]["role"] == "customer" and rows["mum@example.com"]["enabled"] is True
    code, out = pool.users("list", "--role", "admin", "--json")
    assert [r["email"] for r in json.loads(out)] == ["boss@example.com"]
    code, out = pool.users("list")
    assert "boss@example.com  admin  (FORCE_CHANGE_PASSWORD)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "not-an-email", "--role", "admin"], "not an email address"),
        (["create", "a@example.com", "--role", "customer"], "needs --customer-id"),
        (["create", "a@example.com", "--role", "admin", "--customer-id", "c1"], "customers only"),
        (["create", "a@example.com", "--role", "customer", "--customer-id", "../x"], "letters, digits"),
        (["create", "a@example.com", "--role", "root"], "Invalid value"),
        (["set-role", "a@example.com"], "Missing option"),
    ],
)
def test_bad_input_is_a_usage_error_and_changes_nothing(pool, args, message):
    code, out = pool.users(*args)
    assert code == 2 and message in out
    assert pool.idp.list_users(UserPoolId=pool.id)["Users"] == []


def test_an_existing_user_and_an_unknown_pool_are_clear_errors(pool):
    assert pool.users("create", "twice@example.com", "--role", "admin")[0] == 0
    code, out = pool.users("create", "twice@example.com", "--role", "admin")
    assert code == 1 and "UsernameExistsException" in out
    r = CliRunner().invoke(cli, ["users", "list", "--user-pool-id", "us-east-1_nope"])
    assert r.exit_code == 1 and "ResourceNotFoundException" in r.output
    code, out = pool.users("disable", "nobody@example.com")
    assert code == 1 and "UserNotFoundException" in out


def test_disable_refuses_sign_in_and_refresh(pool):
    pool.users("create", "gone@example.com", "--role", "customer", "--customer-id", "cust-2", "--temporary-password", TEMP)
    pool.idp.admin_set_user_password(UserPoolId=pool.id, Username="gone@example.com", Password=NEW, Permanent=True)
    tokens = pool.sign_in("gone@example.com", NEW)["AuthenticationResult"]
    code, out = pool.users("disable", "gone@example.com", "--json")
    assert code == 0 and json.loads(out)["enabled"] is False
    with pytest.raises(ClientError) as err:
        pool.sign_in("gone@example.com", NEW)
    assert err.value.response["Error"]["Code"] == "NotAuthorizedException"
    with pytest.raises(ClientError):
        pool.idp.initiate_auth(
            ClientId=pool.client, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]}
        )


def test_set_role_moves_groups_and_the_customer_id(pool):
    pool.users("create", "x@example.com", "--role", "customer", "--customer-id", "cust-3", "--temporary-password", TEMP)
    code, out = pool.users("set-role", "x@example.com", "--role", "admin", "--json")
    assert code == 0 and json.loads(out)["role"] == "admin" and json.loads(out)["customer_id"] is None
    groups = pool.idp.admin_list_groups_for_user(UserPoolId=pool.id, Username="x@example.com")["Groups"]
    assert [g["GroupName"] for g in groups] == ["admin"]
    code, out = pool.users("set-role", "x@example.com", "--role", "customer")
    assert code == 2 and "needs --customer-id" in out
    code, out = pool.users("set-role", "x@example.com", "--role", "customer", "--customer-id", "cust-4", "--json")
    assert code == 0 and json.loads(out)["customer_id"] == "cust-4" and json.loads(out)["role"] == "customer"
    groups = pool.idp.admin_list_groups_for_user(UserPoolId=pool.id, Username="x@example.com")["Groups"]
    assert [g["GroupName"] for g in groups] == ["customer"]


def test_the_pool_of_a_running_rehearsal_is_found_by_port(pool, tmp_path):
    from academy_cli.localenv import write_state

    write_state(
        8123,
        {
            "pid": os.getpid(),
            "mode": "rehearse",
            "aws_endpoint": pool.endpoint,
            "region": "us-east-1",
            "outputs": {"UserPoolId": pool.id},
        },
    )
    r = CliRunner().invoke(cli, ["users", "create", "first-admin@example.com", "--role", "admin", "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert (
        pool.idp.admin_get_user(UserPoolId=pool.id, Username="first-admin@example.com")["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    )
    write_state(8124, {"pid": os.getpid(), "stage": "local", "aws_endpoint": pool.endpoint, "region": "us-east-1"})
    r = CliRunner().invoke(cli, ["users", "list", "--port", "8124"])
    assert r.exit_code == 1 and "development sign-in" in r.output
    r = CliRunner().invoke(cli, ["users", "list", "--port", "8125"])
    assert r.exit_code == 1 and "--user-pool-id" in r.output
