"""moto's Cognito user pools, patched for the console's browser tests (tests/browser/cognito_stack.py).

- :func:`install_revoke_token`: moto has no ``RevokeToken`` (the console's sign-out). It revokes the
  refresh token the way moto's own ``REFRESH_TOKEN_AUTH`` checks (a revoked token maps to ``None`` →
  ``NotAuthorizedException``).
- :func:`shorten_id_tokens`: moto issues every token for 3600 s whatever the client's validity
  settings; this makes it ``ttl`` seconds (in this process only), so a test can watch the console
  renew its ID token across a real expiry.
"""

from __future__ import annotations

from typing import Any


def shorten_id_tokens(ttl: int) -> None:
    """Every token the pools of this process issue lasts ``ttl`` seconds."""
    from moto.cognitoidp import models

    original = models.CognitoIdpUserPool.create_jwt

    def create_jwt(
        self: Any, client_id: str, username: str, token_use: str, expires_in: int = ttl, extra_data: Any = None
    ) -> Any:
        return original(self, client_id, username, token_use, ttl, extra_data)

    models.CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]  # the patch itself


def install_revoke_token() -> None:
    """``RevokeToken``: the refresh token stops working for its client (see the module)."""
    from moto.cognitoidp.responses import CognitoIdpResponse
    from moto.core.responses import EmptyResult

    def revoke_token(self: Any) -> Any:
        token, client_id = self._get_param("Token"), self._get_param("ClientId")
        for pool in self.backend.user_pools.values():
            held = pool.refresh_tokens.get(token)
            if held is not None and held[0] == client_id:
                pool.refresh_tokens[token] = None
        return EmptyResult()

    CognitoIdpResponse.revoke_token = revoke_token  # type: ignore[attr-defined]  # moto has none: added here
