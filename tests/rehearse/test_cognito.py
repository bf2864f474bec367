"""The stack's user pool (template, created by moto's CloudFormation through the rehearsal's shim),
the key-set mapping, the custom:customer_id principal and ``academy token`` against a rehearsal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import cognito as infra_cognito

ROOT = Path(__file__).resolve().parents[2]


def cognito_template() -> dict:
    """The Cognito part of the packaged template, with each function env value as an output to inspect."""
    t: dict = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": {"Stage": {"Type": "String", "Default": "prod"}}}
    infra_cognito.add_user_pool(t, [])
    for name, value in infra_cognito.environment().items():
        t["Outputs"][name.replace("_", "")] = {"Value": value}
    return t


def test_merge_template_gives_every_function_the_pool_settings():
    from academy_cli.package_cmd import merge_template

    t = merge_template("prod")
    assert {t["Resources"][r]["Type"] for r in ("UserPool", "UserPoolClient", "UserPoolAdminGroup", "UserPoolCustomerGroup")} == {
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
    }
    from chalice.utils import to_cfn_resource_name

    from academy_cli.package_cmd import function_names

    functions = ["APIHandler", *(to_cfn_resource_name(n) for n in function_names())]
    assert len(functions) >= 6
    for fn in functions:
        env = t["Resources"][fn]["Properties"]["Environment"]["Variables"]
        assert env["ACADEMY_BUCKET"] == {"Ref": "MediaBucket"}
        assert set(infra_cognito.environment()) <= set(env)
    pool = t["Resources"]["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}  # nobody signs up with a chosen customer id
    assert pool["Schema"][0]["Name"] == "customer_id"
    client = t["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert client["ExplicitAuthFlows"] == ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert "custom:customer_id" not in client["WriteAttributes"]  # a user can never change its own id
    assert {"UserPoolId", "UserPoolClientId"} <= set(t["Outputs"])


def test_the_cognito_template_passes_cfn_lint(tmp_path):
    path = tmp_path / "cognito.json"
    path.write_text(json.dumps(cognito_template()))
    lint = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(path)], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.fixture
def cfn():
    from moto import mock_aws

    from academy_cli.rehearse.cognito import register_cloudformation_models

    register_cloudformation_models()
    with mock_aws():
        import boto3

        yield boto3.client("cloudformation", region_name="us-east-1"), boto3.client("cognito-idp", region_name="us-east-1")


def _outputs(cf, name: str, parameters: list | None = None) -> dict[str, str]:
    cf.create_stack(StackName=name, TemplateBody=json.dumps(cognito_template()), Parameters=parameters or [])
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_moto_cloudformation_creates_the_pool_its_groups_and_client(cfn):
    cf, idp = cfn
    out = _outputs(cf, "academy-prod")
    pool_id, client_id = out["UserPoolId"], out["UserPoolClientId"]
    pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["Name"] == "academy-prod"
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert any(a["Name"] == "custom:customer_id" for a in pool["SchemaAttributes"])
    assert {g["GroupName"] for g in idp.list_groups(UserPoolId=pool_id)["Groups"]} == {"admin", "customer"}
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert "ClientSecret" not in client
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    assert out["UserPoolIssuer"] == out["ACADEMYJWTISSUER"] == issuer
    assert out["ACADEMYJWTAUDIENCE"] == out["ACADEMYCOGNITOCLIENTID"] == client_id
    assert out["ACADEMYCOGNITOJWKSURL"] == f"{issuer}/.well-known/jwks.json"
    assert out["ACADEMYCOGNITOUSERPOOLID"] == pool_id


def test_an_existing_pool_instead_of_the_stacks_own(cfn):
    cf, idp = cfn
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Existing1"
    params = [
        {"ParameterKey": "CognitoIssuer", "ParameterValue": issuer},
        {"ParameterKey": "CognitoAppClientId", "ParameterValue": "clientabc"},
    ]
    out = _outputs(cf, "academy-prod-existing", params)
    assert idp.list_user_pools(MaxResults=10)["UserPools"] == []  # none created
    assert (out["UserPoolId"], out["UserPoolClientId"], out["ACADEMYJWTISSUER"]) == ("eu-west-1_Existing1", "clientabc", issuer)
    assert out["ACADEMYCOGNITOJWKSURL"] == f"{issuer}/.well-known/jwks.json"


def test_jwks_mapping_rewrites_only_cognitos_well_known_addresses():
    from academy_cli.rehearse.cognito import mapped_url

    e = "http://127.0.0.1:5555"
    assert mapped_url("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_a/.well-known/jwks.json", e) == (
        f"{e}/us-east-1_a/.well-known/jwks.json"
    )
    for untouched in (
        "https://cognito-idp.us-east-1.amazonaws.com/",  # the API itself is reached through AWS_ENDPOINT_URL
        "https://example.com/us-east-1_a/.well-known/jwks.json",
        "https://cognito-idp.us-east-1.amazonaws.com.evil.example/us-east-1_a/.well-known/jwks.json",
        "http://cognito-idp.us-east-1.amazonaws.com/us-east-1_a/.well-known/jwks.json",
    ):
        assert mapped_url(untouched, e) == untouched


# ---- real tokens from moto server's pool, verified by the app's own auth code


@pytest.fixture(scope="module")
def pool_server():
    """moto server with the stack's Cognito resources created by its CloudFormation."""
    import boto3
    from moto.server import ThreadedMotoServer

    from academy_cli.rehearse.cognito import register_cloudformation_models

    register_cloudformation_models()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    cf = boto3.client("cloudformation", region_name="us-east-1", endpoint_url=endpoint)
    cf.create_stack(StackName="academy-prod", TemplateBody=json.dumps(cognito_template()))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="academy-prod")["Stacks"][0]["Outputs"]}
    try:
        yield endpoint, outputs
    finally:
        server.stop()


@pytest.fixture
def cognito_auth(pool_server, monkeypatch):
    """chalicelib.core.auth configured as the deployed functions are, with the key-set address mapped."""
    from academy_cli.rehearse.cognito import install_jwks_mapping, remove_jwks_mapping
    from chalicelib.core import auth, settings

    endpoint, out = pool_server
    for key in ("ACADEMY_JWT_ISSUER", "ACADEMY_JWT_AUDIENCE", "ACADEMY_COGNITO_JWKS_URL"):
        monkeypatch.setenv(key, out[key.replace("_", "")])
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "cognito")
    monkeypatch.setenv("ACADEMY_STAGE", "prod")
    settings.get_settings.cache_clear()
    monkeypatch.setattr(auth, "_jwks_client", None)
    install_jwks_mapping(endpoint)
    try:
        yield auth
    finally:
        remove_jwks_mapping()
        monkeypatch.undo()
        settings.get_settings.cache_clear()
        auth._jwks_client = None


def _state_file(tmp_path: Path, endpoint: str, out: dict, port: int = 54321) -> dict:
    state = {
        "mode": "rehearse",
        "pid": os.getpid(),
        "aws_endpoint": endpoint,
        "region": "us-east-1",
        "stage": "prod",
        "outputs": {"UserPoolId": out["UserPoolId"], "UserPoolClientId": out["UserPoolClientId"]},
    }
    (tmp_path / f"stack-{port}.json").write_text(json.dumps(state))
    return state


def test_signed_in_customer_token_verifies_and_the_principal_is_the_customer_id(pool_server, cognito_auth, tmp_path):
    import jwt

    from academy_cli.rehearse.cognito import id_token

    endpoint, out = pool_server
    state = _state_file(tmp_path, endpoint, out)
    token = id_token(state, "customer", "01JCUSTOMERA", tmp_path)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["custom:customer_id"] == "01JCUSTOMERA" and claims["sub"] != "01JCUSTOMERA"  # Cognito's own sub
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    p = cognito_auth.principal_from_header(f"Bearer {token}")
    assert (p.role, p.id) == ("customer", "01JCUSTOMERA")
    # a second call reuses the user and its stored password
    again = id_token(state, "customer", "01JCUSTOMERA", tmp_path)
    assert cognito_auth.principal_from_header(f"Bearer {again}").id == "01JCUSTOMERA"
    path = tmp_path / ".academy" / "rehearse-passwords.json"  # <project>/.academy without ACADEMY_RUN_DIR
    assert len(json.loads(path.read_text())) == 1
    assert path.stat().st_mode & 0o077 == 0


def test_admin_token_and_wrong_tokens_are_refused(pool_server, cognito_auth, tmp_path):
    import jwt

    from academy_cli.rehearse.cognito import id_token
    from chalicelib.core.errors import Unauthorized

    endpoint, out = pool_server
    token = id_token(_state_file(tmp_path, endpoint, out), "admin", "staff-1", tmp_path)
    p = cognito_auth.principal_from_header(f"Bearer {token}")
    assert (p.role, p.id) == ("admin", "staff-1")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "custom:customer_id": "someone-else"}, "not-the-key-" * 4, algorithm="HS256")
    with pytest.raises(Unauthorized):
        cognito_auth.principal_from_header(f"Bearer {forged}")
    tampered = token.split(".")
    tampered[1] = jwt.utils.base64url_encode(json.dumps({**claims, "custom:customer_id": "x"}).encode()).decode()
    with pytest.raises(Unauthorized):
        cognito_auth.principal_from_header("Bearer " + ".".join(tampered))


def test_academy_token_cli_against_a_rehearsal_prints_the_id_token_alone(pool_server, cognito_auth, tmp_path):
    endpoint, out = pool_server
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _state_file(run_dir, endpoint, out, port=54321)
    # the CLI runs as a user runs it, in its own process; its pid check needs a live pid: ours
    env = {**os.environ, "ACADEMY_RUN_DIR": str(run_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "academy_cli", "token", "--port", "54321", "--role", "customer", "--sub", "cust-42"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert proc.stdout == token + "\n" and token.count(".") == 2
    assert cognito_auth.principal_from_header(f"Bearer {token}").id == "cust-42"
    assert list(json.loads((tmp_path / "rehearse-passwords.json").read_text())) == [  # beside the run directory
        f"{out['UserPoolId']}/customer.cust-42@rehearse.academy.invalid"
    ]
    missing = subprocess.run(
        [sys.executable, "-m", "academy_cli", "token", "--port", "54322", "--role", "admin", "--sub", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and missing.stdout == "" and "no local stack on port 54322" in missing.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "the-sub"),
        ({"custom:customer_id": "cust-7"}, "cust-7"),
        ({"custom:customer_id": ""}, None),
        ({"custom:customer_id": 7}, None),
    ],
)
def test_principal_id_is_custom_customer_id_else_sub(extra, expected, monkeypatch):
    """Any verified token: the claim where present (a non-empty string, else 401), else ``sub``.

    Pinned to the test stage's dev tokens whatever an earlier test left in the environment (a
    chalice.test.Client of another stage sets its variables process-wide).
    """
    from chalicelib.core import settings

    monkeypatch.setenv("ACADEMY_STAGE", "test")
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "dev")
    settings.get_settings.cache_clear()
    try:
        _check_principal(settings.get_settings(), extra, expected)
    finally:
        settings.get_settings.cache_clear()  # the next test reads its own environment


def _check_principal(s, extra, expected):
    import time

    import jwt

    from chalicelib.core import auth
    from chalicelib.core.errors import Unauthorized

    now = int(time.time())
    claims = {
        "sub": "the-sub",
        "role": "customer",
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "iat": now,
        "exp": now + 60,
        **extra,
    }
    token = jwt.encode(claims, auth.dev_signing_key(s), algorithm="HS256")
    if expected is None:
        with pytest.raises(Unauthorized, match="custom:customer_id"):
            auth.principal_from_header(f"Bearer {token}")
    else:
        assert auth.principal_from_header(f"Bearer {token}").id == expected


def test_usernames_are_stable_emails_per_role_and_id():
    from academy_cli.rehearse.cognito import username_for

    assert username_for("customer", "01JABC") == "customer.01jabc@rehearse.academy.invalid"
    assert username_for("admin", "01JABC") != username_for("customer", "01JABC")
    odd = username_for("customer", "a b/c@d")
    assert odd.startswith("customer.a-b-c-d-") and odd.endswith("@rehearse.academy.invalid") and " " not in odd
    assert username_for("customer", "a b/c@d") == odd and username_for("customer", "a-b-c-d") != odd


def test_a_disabled_user_gets_no_token(pool_server, tmp_path):
    import boto3

    from academy_cli.rehearse.cognito import id_token, username_for

    endpoint, out = pool_server
    state = _state_file(tmp_path, endpoint, out)
    id_token(state, "customer", "to-disable", tmp_path)
    idp = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=endpoint)
    idp.admin_disable_user(UserPoolId=out["UserPoolId"], Username=username_for("customer", "to-disable"))
    with pytest.raises(RuntimeError, match="disabled"):
        id_token(state, "customer", "to-disable", tmp_path)


def test_stack_tokens_signs_in_through_a_rehearsals_pool_once_per_user(pool_server, cognito_auth, tmp_path):
    from academy_cli.stack_tokens import StackTokens

    endpoint, out = pool_server
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _state_file(run_dir, endpoint, out, port=54323)
    tokens = StackTokens.for_port(54323, run_dir=run_dir)  # a spawned stack's own run directory
    assert tokens.rehearsal
    first = tokens.mint("customer", "cust-9")
    assert cognito_auth.principal_from_header(f"Bearer {first}").id == "cust-9"
    assert tokens("customer", "cust-9") == first  # reused while it is valid: no second sign-in
    admin = tokens.mint("admin", "staff-2")
    assert (cognito_auth.principal_from_header(f"Bearer {admin}").role, admin != first) == ("admin", True)
    assert sorted(json.loads((tmp_path / "rehearse-passwords.json").read_text())) == [  # beside the stack's run dir
        f"{out['UserPoolId']}/admin.staff-2@rehearse.academy.invalid",
        f"{out['UserPoolId']}/customer.cust-9@rehearse.academy.invalid",
    ]


def test_stack_tokens_for_academy_up_are_dev_tokens_the_stage_verifies_with_its_key(tmp_path, monkeypatch):
    import dataclasses

    from academy_cli.localenv import StackNotRunning
    from academy_cli.stack_tokens import StackTokens, TokenError
    from chalicelib.core import auth, settings
    from chalicelib.core.errors import Unauthorized

    (tmp_path / "stack-54324.json").write_text(json.dumps({"pid": os.getpid(), "stage": "dev", "api_url": "x"}))
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "dev")
    settings.get_settings.cache_clear()
    key = "stack-tokens-test-key-0123456789abcdef"
    tokens = StackTokens.for_port(54324, run_dir=tmp_path, signing_key=key)
    assert not tokens.rehearsal
    token = tokens.mint("customer", "cust-3", ttl_seconds=60)
    claims = auth.verify_token(token, dataclasses.replace(settings.get_settings(), dev_signing_key=key))
    assert (claims["sub"], claims["role"], claims["exp"] - claims["iat"]) == ("cust-3", "customer", 60)
    with pytest.raises(Unauthorized, match="Signature"):
        auth.verify_token(token, dataclasses.replace(settings.get_settings(), dev_signing_key="another-key-" * 3))
    with pytest.raises(StackNotRunning):
        StackTokens.for_port(54325, run_dir=tmp_path)
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "cognito")
    settings.get_settings.cache_clear()
    with pytest.raises(TokenError, match="local stack only"):
        StackTokens(None).mint("admin", "a")  # a Cognito stage mints no dev tokens, as before
    settings.get_settings.cache_clear()
