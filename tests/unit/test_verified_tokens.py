"""A token verified once is not verified again while it is valid; expiry, another key or a bad token still fail."""

from __future__ import annotations

import dataclasses
import time

import pytest

from chalicelib.core import auth
from chalicelib.core.errors import Unauthorized
from chalicelib.core.settings import get_settings


@pytest.fixture(autouse=True)
def dev_auth(monkeypatch):
    """The test stage's dev auth, whatever an earlier test left in the environment (chalice.test.Client
    applies the dev stage's variables, auth mode cognito, and does not restore them)."""
    monkeypatch.setenv("ACADEMY_STAGE", "test")
    monkeypatch.setenv("ACADEMY_AUTH_MODE", "dev")
    monkeypatch.setenv("ACADEMY_DEV_SIGNING_KEY", "test-signing-key-not-secret-0123456789abcdef")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch):
    token = auth.mint_dev_token("customer", "cust-cache", ttl_seconds=2)
    assert auth.verify_token(token)["sub"] == "cust-cache"
    decoded: list[str] = []
    real = auth._verify_token
    monkeypatch.setattr(auth, "_verify_token", lambda t, s: decoded.append(t) or real(t, s))
    claims = auth.verify_token(token)
    claims["sub"] = "someone-else"  # a caller's copy: the remembered claims are not changed
    assert auth.verify_token(token)["sub"] == "cust-cache" and decoded == []
    time.sleep(max(0.0, auth.verify_token(token)["exp"] - time.time()) + 0.05)  # its exp passes
    with pytest.raises(Unauthorized) as err:
        auth.verify_token(token)
    assert err.value.code == "token_expired" and decoded == [token]


def test_other_settings_verify_again_and_failures_are_not_remembered():
    token = auth.mint_dev_token("admin", "admin-cache")
    assert auth.verify_token(token)["sub"] == "admin-cache"
    other = dataclasses.replace(get_settings(), dev_signing_key="another-signing-key-" * 3)
    with pytest.raises(Unauthorized):
        auth.verify_token(token, settings=other)
    with pytest.raises(Unauthorized):
        auth.verify_token(token, settings=other)  # still refused: nothing was remembered for it
    with pytest.raises(Unauthorized):
        auth.verify_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
