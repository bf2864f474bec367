"""Auth fails closed: Cognito stages verify RS256 ID tokens through JWKS and refuse every other kind;
dev auth exists only when asked for explicitly, and never on Lambda."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.core import auth
from chalicelib.core.errors import Forbidden, Unauthorized
from chalicelib.core.settings import PROJECT_ROOT, ConfigurationError, Settings, _auth_mode

ISS = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
AUD = "app-client-1"


@pytest.fixture
def cognito(tmp_path, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    body = json.dumps({"keys": [jwk]}).encode()
    hits = []

    class JWKS(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), JWKS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    settings = Settings(stage="prod", auth_mode="cognito", jwt_issuer=ISS, jwt_audience=AUD, cognito_jwks_url=url)
    monkeypatch.setattr(auth, "get_settings", lambda: settings)
    monkeypatch.setattr(auth, "_jwks_client", None)

    def mint(claims, **kw):
        now = int(time.time())
        base = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600, "sub": "u1", "token_use": "id"}
        return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"}, **kw)

    mint.key = key
    yield settings, mint
    server.shutdown()


def test_cognito_group_token_is_accepted(cognito):
    _settings, mint = cognito
    p = auth.principal_from_header("Bearer " + mint({"cognito:groups": ["customer"], "sub": "cust-9"}))
    assert (p.role, p.id) == ("customer", "cust-9")
    p = auth.principal_from_header("Bearer " + mint({"cognito:groups": ["customer", "admin"]}))
    assert p.role == "admin"


def test_prod_rejects_dev_signed_tokens(cognito):
    _settings, _ = cognito
    dev_settings = Settings(stage="dev", auth_mode="dev", dev_signing_key="k" * 40, jwt_issuer=ISS, jwt_audience=AUD)
    dev_token = auth.mint_dev_token("admin", "a1", settings=dev_settings)
    with pytest.raises(Unauthorized):
        auth.principal_from_header("Bearer " + dev_token)


def test_prod_refuses_to_mint_dev_tokens(cognito):
    settings, _ = cognito
    with pytest.raises(RuntimeError):
        auth.mint_dev_token("admin", "a1", settings=settings)


@pytest.mark.parametrize("claims", [{"iss": "https://evil"}, {"aud": "other-app"}, {"exp": int(time.time()) - 5}])
def test_wrong_issuer_audience_or_expiry_is_401(cognito, claims):
    _, mint = cognito
    with pytest.raises(Unauthorized):
        auth.principal_from_header("Bearer " + mint({"role": "admin", **claims}))


def test_token_without_role_is_403(cognito):
    _, mint = cognito
    with pytest.raises(Forbidden):
        auth.principal_from_header("Bearer " + mint({"cognito:groups": ["teachers"]}))


def test_dev_key_is_generated_once_into_an_ignored_file(tmp_path):
    s = Settings(auth_mode="dev", dev_key_file=str(tmp_path / "k" / "dev-signing-key"))
    k1 = auth.dev_signing_key(s)
    k2 = auth.dev_signing_key(s)
    assert k1 == k2 and len(k1) >= 40
    assert (tmp_path / "k" / "dev-signing-key").stat().st_mode & 0o077 == 0


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**extra):
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600, "sub": "u1", "token_use": "id", "role": "admin", **extra}


def test_cognito_refuses_hs256_even_signed_with_the_public_key(cognito):
    """The classic confusion: HS256 with the RSA public key (PEM) as the shared secret."""
    from cryptography.hazmat.primitives import serialization

    _, mint = cognito
    pem = mint.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = "Bearer " + _b64({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + _b64(_claims())
    import hashlib
    import hmac

    signing_input = forged.removeprefix("Bearer ").encode()
    sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized) as err:
        auth.principal_from_header(forged + "." + sig)
    assert err.value.code == "invalid_token"
    with pytest.raises(Unauthorized):  # a plain HS256 token with the kid of a pool key
        auth.principal_from_header("Bearer " + jwt.encode(_claims(), "s" * 32, algorithm="HS256", headers={"kid": "k1"}))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_cognito_refuses_unsigned_tokens(cognito, alg):
    token = _b64({"alg": alg, "typ": "JWT", "kid": "k1"}) + "." + _b64(_claims()) + "."
    with pytest.raises(Unauthorized):
        auth.principal_from_header("Bearer " + token)


@pytest.mark.parametrize("token_use", ["access", None, "ID", ""])
def test_cognito_wants_an_id_token(cognito, token_use):
    """An access token (or one with no token_use) is refused, even signed by the pool with the right audience."""
    _, mint = cognito
    claims = {"role": "admin", "token_use": token_use}
    with pytest.raises(Unauthorized) as err:
        auth.principal_from_header("Bearer " + mint(claims))
    assert err.value.code == "invalid_token"
    assert "ID token" in err.value.message


def test_cognito_refuses_a_key_the_pool_does_not_publish(cognito):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in ("k1", "k-unknown"):
        token = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(Unauthorized):
            auth.principal_from_header("Bearer " + token)


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
def test_cognito_requires_the_standard_claims(cognito, missing):
    _, mint = cognito
    token = jwt.encode({k: v for k, v in _claims().items() if k != missing}, mint.key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        auth.principal_from_header("Bearer " + token)


@pytest.mark.parametrize("mode", ["", "prod", "none", "cognito-ish"])
def test_a_missing_or_unknown_auth_mode_verifies_nothing(mode):
    s = Settings(stage="dev", auth_mode=mode, dev_signing_key="k" * 40)
    dev = auth.mint_dev_token("admin", "a1", settings=Settings(auth_mode="dev", dev_signing_key="k" * 40))
    with pytest.raises(Unauthorized) as err:
        auth.verify_token(dev, settings=s)
    assert err.value.code == "auth_not_configured"
    with pytest.raises(RuntimeError):
        auth.mint_dev_token("admin", "a1", settings=s)
    with pytest.raises(RuntimeError):
        auth.dev_signing_key(s)


def test_settings_never_default_to_dev_auth():
    assert _auth_mode({}) == ""
    assert _auth_mode({"ACADEMY_STAGE": "dev"}) == ""
    assert _auth_mode({"ACADEMY_AUTH_MODE": "dev"}) == "dev"
    assert _auth_mode({"ACADEMY_AUTH_MODE": "cognito", "AWS_LAMBDA_FUNCTION_NAME": "fn"}) == "cognito"
    with pytest.raises(ConfigurationError, match="refused on AWS Lambda"):
        _auth_mode({"ACADEMY_AUTH_MODE": "dev", "AWS_LAMBDA_FUNCTION_NAME": "academy-ops-prod"})
    with pytest.raises(ConfigurationError):
        _auth_mode({"ACADEMY_AUTH_MODE": " DEV ", "AWS_LAMBDA_FUNCTION_NAME": "academy-ops-prod"})


def test_dev_tokens_are_refused_on_lambda_even_with_dev_settings(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "academy-ops-dev")
    with pytest.raises(RuntimeError, match="Lambda"):
        auth.mint_dev_token("admin", "a1", settings=Settings(auth_mode="dev", dev_signing_key="k" * 40))


def test_no_deployable_stage_has_dev_auth():
    config = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())
    assert "ACADEMY_AUTH_MODE" not in config.get("environment_variables", {})
    for name, stage in config["stages"].items():
        assert stage["environment_variables"].get("ACADEMY_AUTH_MODE") == "cognito", name


def _run_app(env_extra: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACADEMY_", "AWS_"))}
    env.update(
        {
            "ACADEMY_STAGE": "dev",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "ACADEMY_BUCKET": "academy-dev-media-123456789012",
            "ACADEMY_DEV_SIGNING_KEY": "k" * 40,
            **env_extra,
        }
    )
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_dev_auth_on_lambda_refuses_to_start():
    """The app (and every function: settings are read at import) will not even import."""
    r = _run_app({"ACADEMY_AUTH_MODE": "dev", "AWS_LAMBDA_FUNCTION_NAME": "academy-ops-dev"}, "import app")
    assert r.returncode != 0
    assert "ConfigurationError" in r.stderr and "refused on AWS Lambda" in r.stderr


def test_an_app_without_an_auth_mode_signs_nobody_in():
    code = """
import json
from chalice.test import Client
from app import app
from chalicelib.core.auth import mint_dev_token
from chalicelib.core.settings import Settings
token = mint_dev_token("admin", "a1", settings=Settings(auth_mode="dev", dev_signing_key="k" * 40))
with Client(app) as c:
    r = c.http.get("/admin/students", headers={"Authorization": "Bearer " + token})
    s = c.http.post("/console/dev-sign-in", headers={"Content-Type": "application/json"}, body='{"role": "admin"}')
print(json.dumps({"status": r.status_code, "code": json.loads(r.body)["error"]["code"], "sign_in": s.status_code,
                  "routed": "/console/dev-sign-in" in app.routes}))
"""
    r = _run_app({}, code)
    assert r.returncode == 0, r.stderr[-3000:]
    facts = json.loads(r.stdout.strip().splitlines()[-1])
    assert facts["status"] == 401 and facts["code"] == "auth_not_configured"
    assert facts["routed"] is False and facts["sign_in"] in (403, 404)


_CONFIG_CODE = """
import json
from chalice.test import Client
from app import app
with Client(app) as c:
    r = c.http.get("/console/config")
    page = c.http.get("/console")
print(json.dumps({"status": r.status_code, "body": json.loads(r.body), "cache": r.headers.get("Cache-Control"),
                  "csp": page.headers.get("Content-Security-Policy")}))
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ACADEMY_AUTH_MODE": "cognito", "ACADEMY_COGNITO_CLIENT_ID": "client-1", "AWS_DEFAULT_REGION": "eu-west-2"},
            {"auth": "cognito", "client_id": "client-1", "cognito_endpoint": "https://cognito-idp.eu-west-2.amazonaws.com/"},
        ),
        (
            {"ACADEMY_AUTH_MODE": "cognito", "ACADEMY_JWT_AUDIENCE": "aud-client", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
            {"auth": "cognito", "client_id": "aud-client", "cognito_endpoint": "http://127.0.0.1:4566/"},
        ),
        ({"ACADEMY_AUTH_MODE": "dev"}, {"auth": "dev", "client_id": None, "cognito_endpoint": None}),
        ({}, {"auth": "none", "client_id": None, "cognito_endpoint": None}),
    ],
)
def test_the_console_config_names_how_to_sign_in(env, expected):
    r = _run_app(env, _CONFIG_CODE)
    assert r.returncode == 0, r.stderr[-3000:]
    facts = json.loads(r.stdout.strip().splitlines()[-1])
    assert facts["status"] == 200 and facts["cache"] == "no-store"
    body = facts["body"]
    assert {k: body.get(k) for k in expected} == expected
    connect = next(d for d in facts["csp"].split("; ") if d.startswith("connect-src")).split()
    if body.get("cognito_endpoint"):
        assert body["cognito_endpoint"].rstrip("/") in connect  # the page may reach its user pool, and only it
    assert not any("cognito-idp" in c for c in connect) or body["auth"] == "cognito"


def test_an_unreachable_key_set_is_a_503_not_a_sign_out(monkeypatch):
    """The pool's JWKS endpoint down is our outage: 503 with Retry-After (the console retries), not 401."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    settings = Settings(
        stage="prod", auth_mode="cognito", jwt_issuer=ISS, jwt_audience=AUD, cognito_jwks_url=f"http://127.0.0.1:{port}/jwks.json"
    )
    monkeypatch.setattr(auth, "get_settings", lambda: settings)
    monkeypatch.setattr(auth, "_jwks_client", None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(auth.AuthUnavailable) as err:
        auth.principal_from_header("Bearer " + token)
    assert err.value.status == 503 and err.value.headers["Retry-After"] == "5"
