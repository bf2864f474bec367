"""Runtime configuration, read once from the environment.

Every AWS resource name derives from ``ACADEMY_STAGE`` so the infra template, the Lambda
functions and the local stack agree without passing names around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KB = 1024
MB = 1024 * KB
GB = 1024 * MB


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    region: str = "us-east-1"
    # Auth
    auth_mode: str = "dev"  # "dev" (HS256 key from config) | "cognito" (RS256 via JWKS)
    dev_signing_key: str = ""
    dev_key_file: str = ".academy/dev-signing-key"
    jwt_issuer: str = "academy-dev"
    jwt_audience: str = "academy-ops"
    cognito_jwks_url: str = ""
    # Limits
    default_max_body: int = 64 * KB
    homework_max_bytes: int = 25 * MB
    video_max_bytes: int = 2 * GB
    # Observability
    metrics_namespace: str = "AcademyOps"
    # Media
    ffmpeg_path: str = ""
    tmp_dir: str = "/tmp"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"academy-{self.stage}"

    def table_name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def queue_name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    @property
    def bucket_name(self) -> str:
        return os.environ.get("ACADEMY_BUCKET", f"{self.prefix}-media")

    @property
    def is_local(self) -> bool:
        return self.auth_mode == "dev"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    stage = env.get("ACADEMY_STAGE", "dev")
    return Settings(
        stage=stage,
        region=env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1")),
        auth_mode=env.get("ACADEMY_AUTH_MODE", "cognito" if stage == "prod" else "dev"),
        dev_signing_key=env.get("ACADEMY_DEV_SIGNING_KEY", ""),
        dev_key_file=env.get("ACADEMY_DEV_KEY_FILE", str(PROJECT_ROOT / ".academy" / "dev-signing-key")),
        jwt_issuer=env.get("ACADEMY_JWT_ISSUER", "academy-dev"),
        jwt_audience=env.get("ACADEMY_JWT_AUDIENCE", "academy-ops"),
        cognito_jwks_url=env.get("ACADEMY_COGNITO_JWKS_URL", ""),
        default_max_body=_int("ACADEMY_MAX_BODY", 64 * KB),
        homework_max_bytes=_int("ACADEMY_HOMEWORK_MAX_BYTES", 25 * MB),
        video_max_bytes=_int("ACADEMY_VIDEO_MAX_BYTES", 2 * GB),
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "AcademyOps"),
        ffmpeg_path=env.get("ACADEMY_FFMPEG", ""),
        tmp_dir=env.get("ACADEMY_TMP_DIR", "/tmp"),
    )
