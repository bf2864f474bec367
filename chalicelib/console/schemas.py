"""Request and response models of console/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.schema import Out, Strict


class DevSignInIn(Strict):
    role: Literal["admin", "customer"]
    sub: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="User id; default: the demo user."
    )


class DevSignInOut(Out):
    token: str
    role: str
    sub: str
    expires_in: int


class ConsoleConfigOut(Out):
    """What the console needs to sign people in on this stage."""

    auth: Literal["dev", "cognito", "none"] = Field(description="dev: one-click sign-in; cognito: email and password")
    stage: str
    region: str
    client_id: str | None = Field(None, description="The user pool's app client for the console (cognito only).")
    cognito_endpoint: str | None = Field(None, description="Where InitiateAuth is sent (cognito only).")
