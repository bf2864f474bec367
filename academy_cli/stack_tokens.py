"""A bearer token for a running stack, whatever it is: the one way every client of a stack gets one.

- ``academy up`` (state without ``mode``): a development token signed with the dev key (the
  caller's ``ACADEMY_DEV_SIGNING_KEY``, or the key the caller started the stack with).
- ``academy up --rehearse`` (state ``mode: "rehearse"``): an ID token of the stack's Cognito user
  pool, signed in through the pool (:func:`academy_cli.rehearse.cognito.id_token`), because a
  Cognito stage refuses dev tokens as a deployed one does.

Used by ``academy token``, ``academy seed``, ``academy jobs``, the load test and
:meth:`academy_cli.spawn.SpawnedStack.mint`::

    tokens = StackTokens.for_port(8000)
    headers = {"Authorization": f"Bearer {tokens.mint('admin', 'admin-dev')}"}
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from academy_cli.localenv import read_state

# Pool ID tokens last an hour (moto ignores the client's validity settings); reuse one for 50 min.
ID_TOKEN_REUSE_S = 50 * 60
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class TokenError(RuntimeError):
    """No token could be had for the stack (a dev key missing, or the pool refused the sign-in)."""


@dataclass
class StackTokens:
    """Tokens for one stack, from its state file's contents (``None``: a stack with no state, dev tokens).

    ``signing_key`` is the dev key the stack verifies with when the caller's environment does not
    hold it (a spawned stack's key); ``run_dir`` is that stack's run directory, beside which a
    rehearsal's users' passwords are kept (see :func:`academy_cli.rehearse.cognito.password_file`).
    """

    state: dict[str, Any] | None = None
    signing_key: str | None = None
    run_dir: Path | None = None
    _cache: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_port(cls, port: int, *, run_dir: Path | None = None, signing_key: str | None = None) -> StackTokens:
        """The stack running on ``port`` (raises :class:`academy_cli.localenv.StackNotRunning`)."""
        return cls(read_state(port, run_dir), signing_key=signing_key, run_dir=run_dir)

    @classmethod
    def for_url(cls, url: str, *, signing_key: str | None = None) -> StackTokens:
        """The local stack that serves ``url`` if its state file is here; else dev tokens (``state=None``)."""
        from academy_cli.localenv import StackNotRunning

        parts = urllib.parse.urlsplit(url)
        if parts.hostname in LOOPBACK and parts.port:
            try:
                return cls.for_port(parts.port, signing_key=signing_key)
            except StackNotRunning:
                pass
        return cls(None, signing_key=signing_key)

    @property
    def rehearsal(self) -> bool:
        return bool(self.state) and self.state.get("mode") == "rehearse"  # type: ignore[union-attr]

    def mint(self, role: str, sub: str, ttl_seconds: int = 8 * 3600) -> str:
        """A token for (role, sub) the stack accepts. ``ttl_seconds`` applies to dev tokens (a pool sets its own)."""
        if not self.rehearsal:
            return self._dev(role, sub, ttl_seconds)
        with self._lock:
            hit = self._cache.get((role, sub))
            if hit and time.monotonic() - hit[0] < ID_TOKEN_REUSE_S:
                return hit[1]
            token = self._pool(role, sub)
            self._cache[(role, sub)] = (time.monotonic(), token)
            return token

    def __call__(self, role: str, sub: str) -> str:
        """:meth:`mint`, so an instance is a ``(role, sub) -> token`` minter (the load runner's ``Mint``)."""
        return self.mint(role, sub)

    def _dev(self, role: str, sub: str, ttl_seconds: int) -> str:
        import dataclasses

        from academy_cli.localenv import use_dev_auth

        use_dev_auth()  # an operator process minting for academy up asks for dev auth explicitly (never on Lambda)
        from chalicelib.core.auth import mint_dev_token
        from chalicelib.core.settings import get_settings

        settings = get_settings()
        if self.signing_key:
            settings = dataclasses.replace(settings, dev_signing_key=self.signing_key)
        try:
            return mint_dev_token(role, sub, ttl_seconds=ttl_seconds, settings=settings)
        except RuntimeError as exc:
            raise TokenError(str(exc)) from exc

    def _pool(self, role: str, sub: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        from academy_cli.rehearse.cognito import id_token
        from chalicelib.core.settings import PROJECT_ROOT

        assert self.state is not None
        try:
            return id_token(self.state, role, sub, PROJECT_ROOT, run_dir=self.run_dir)
        except (RuntimeError, ClientError, BotoCoreError) as exc:
            raise TokenError(f"could not sign in through the rehearsal's user pool: {exc}") from exc
