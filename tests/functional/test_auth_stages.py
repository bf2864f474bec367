"""The prod stage verifies Cognito RS256 tokens through JWKS and refuses dev-signed ones."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import auth
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.settings import Settings

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
        base = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600, "sub": "u1"}
        return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"}, **kw)

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
    s = Settings(dev_key_file=str(tmp_path / "k" / "dev-signing-key"))
    k1 = auth.dev_signing_key(s)
    k2 = auth.dev_signing_key(s)
    assert k1 == k2 and len(k1) >= 40
    assert (tmp_path / "k" / "dev-signing-key").stat().st_mode & 0o077 == 0
