"""JWT verification and the caller's identity.

Two modes, named explicitly by ``ACADEMY_AUTH_MODE`` (nothing defaults to either):
- ``dev``: HS256 with a local signing key (from config, or generated once into an ignored file).
  Only off Lambda: settings refuse it at start when ``AWS_LAMBDA_FUNCTION_NAME`` is set.
- ``cognito``: RS256 only, keys from the user pool's JWKS (fetched once, cached by PyJWKClient),
  issuer and audience checked, and only ID tokens (``token_use == "id"``; an access token carries
  no ``aud`` and no groups-as-role contract). A dev-signed (HS256) or unsigned token never passes.
- any other value, unset included: no token verifies (401 ``auth_not_configured``) — fail closed.

A disabled user: Cognito refuses their sign-in and refresh at once; an ID token already issued
stays valid until it expires (the app client's ID-token validity). The API does not call Cognito
per request; ``academy users disable`` also signs the user out everywhere (revokes refresh tokens).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.core.errors import ApiError, Forbidden, Unauthorized
from chalicelib.core.observability import logger
from chalicelib.core.settings import Settings, get_settings, local_secret

if TYPE_CHECKING:
    import jwt
    from jwt.types import Options

# PyJWT (and through it the cryptography package) is imported on first use, not at cold start:
# worker functions never verify tokens and should not pay for it.

Role = Literal["admin", "customer"]
ROLES: tuple[str, ...] = ("admin", "customer")


@dataclass(frozen=True)
class Principal:
    role: str  # "admin" | "customer" | "anonymous"
    id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_actor(self) -> dict[str, str | None]:
        return {"role": self.role, "id": self.id}


ANONYMOUS = Principal(role="anonymous", id=None)


class AuthUnavailable(ApiError):
    """The token could not be checked (the JWKS endpoint is down): 503, so clients retry, not sign out."""

    status, code = 503, "auth_unavailable"


_key_lock = threading.Lock()
_jwks_client: jwt.PyJWKClient | None = None


def _require_dev_auth(s: Settings) -> None:
    if s.auth_mode != "dev":
        raise RuntimeError(
            f"dev tokens are for the local stack only (stage {s.stage!r} uses auth mode {s.auth_mode or 'unset'!r}; "
            "set ACADEMY_AUTH_MODE=dev off Lambda to use them)"
        )
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # settings refuse this at start; belt and braces
        raise RuntimeError("dev tokens are refused on AWS Lambda")


def dev_signing_key(settings: Settings | None = None) -> str:
    """The dev-stage HS256 key: configured, or generated on first use into an ignored file."""
    s = settings or get_settings()
    _require_dev_auth(s)
    if s.dev_signing_key:
        return s.dev_signing_key
    with _key_lock:
        return local_secret(Path(s.dev_key_file))


def mint_dev_token(role: str, sub: str, ttl_seconds: int = 8 * 3600, settings: Settings | None = None) -> str:
    """A development token for the local stage. Refuses on stages that verify against Cognito."""
    s = settings or get_settings()
    _require_dev_auth(s)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    import jwt

    now = int(time.time())
    claims = {"sub": sub, "role": role, "iss": s.jwt_issuer, "aud": s.jwt_audience, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, dev_signing_key(s), algorithm="HS256")


def _jwks() -> jwt.PyJWKClient:
    import jwt

    global _jwks_client
    if _jwks_client is None:
        url = get_settings().cognito_jwks_url
        if not url:
            raise Unauthorized("Token verification is not configured.", code="auth_not_configured")
        _jwks_client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)
    return _jwks_client


class _Verified:
    """Tokens this container verified, with their claims: a browser sends the same token on every
    request until it expires, and checking its signature again gives the same answer. Only successes
    are kept; an entry is used only while its ``exp`` is ahead (an expired one is verified again,
    which says so), and only under the same verification settings. Bounded: when full it starts over."""

    MAX = 1024
    lock = threading.Lock()
    claims: dict[tuple[str, ...], dict[str, Any]] = {}


def _verified_key(token: str, s: Settings) -> tuple[str, ...]:
    return (token, s.auth_mode, s.jwt_issuer, s.jwt_audience, s.dev_signing_key, s.dev_key_file, s.cognito_jwks_url)


def verify_token(token: str, settings: Settings | None = None) -> dict[str, Any]:
    """The claims of a valid token (401 otherwise); a token verified before in this container is not checked twice."""
    s = settings or get_settings()
    key = _verified_key(token, s)
    known = _Verified.claims.get(key)
    if known is not None and isinstance(known.get("exp"), int) and known["exp"] > time.time():
        return dict(known)
    claims = _verify_token(token, s)
    with _Verified.lock:
        if len(_Verified.claims) >= _Verified.MAX:
            _Verified.claims.clear()
        _Verified.claims[key] = dict(claims)
    return claims


def _verify_token(token: str, s: Settings) -> dict[str, Any]:
    import jwt

    opts: Options = {"require": ["exp", "sub", "iss", "aud"]}
    if s.auth_mode not in ("dev", "cognito"):
        logger.error("no token can be verified: ACADEMY_AUTH_MODE is %r (expected 'cognito')", s.auth_mode)
        raise Unauthorized("Token verification is not configured.", code="auth_not_configured")
    try:
        if s.auth_mode == "dev":
            return jwt.decode(
                token, dev_signing_key(s), algorithms=["HS256"], audience=s.jwt_audience, issuer=s.jwt_issuer, options=opts
            )
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            raise jwt.InvalidAlgorithmError("only RS256 tokens from the user pool are accepted")
        key = _jwks().get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=s.jwt_audience, issuer=s.jwt_issuer, options=opts)
        if claims.get("token_use") != "id":
            raise jwt.InvalidTokenError(f"an ID token is required, not token_use={claims.get('token_use')!r}")
        return claims
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.", code="token_expired") from exc
    except jwt.PyJWKClientConnectionError as exc:  # the pool's key set is unreachable: our outage, not a bad token
        logger.error("the user pool's JWKS could not be fetched", exc_info=True)
        raise AuthUnavailable(
            "Sign-in cannot be checked right now; try again shortly.", code="auth_unavailable", headers={"Retry-After": "5"}
        ) from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise Unauthorized(f"The token is not valid: {exc}", code="invalid_token") from exc


def role_from_claims(claims: dict[str, Any]) -> str:
    role = claims.get("role")
    if role in ROLES:
        return str(role)
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):
        groups = [groups]
    for candidate in ROLES:  # admin wins when both are present
        if candidate in groups:
            return candidate
    raise Forbidden("The token carries no academy role.", code="no_role")


CUSTOMER_ID_CLAIM = "custom:customer_id"


def principal_from_header(authorization: str | None) -> Principal:
    """``Authorization: Bearer <jwt>`` → Principal; no header → ANONYMOUS; a bad token → 401.

    The principal's id is the ``custom:customer_id`` claim where present (Cognito generates ``sub``
    itself and ignores a given one, so a user pool carries the academy's id in that attribute), else ``sub``.
    """
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.", code="invalid_token")
    claims = verify_token(token.strip())
    if CUSTOMER_ID_CLAIM not in claims:
        return Principal(role=role_from_claims(claims), id=str(claims["sub"]))
    customer_id = claims[CUSTOMER_ID_CLAIM]
    if not isinstance(customer_id, str) or not customer_id.strip():
        raise Unauthorized(f"The token's {CUSTOMER_ID_CLAIM} claim is not a non-empty string.", code="invalid_token")
    return Principal(role=role_from_claims(claims), id=customer_id)
