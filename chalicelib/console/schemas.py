"""Request and response models of console/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.schema import Out, Strict


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
