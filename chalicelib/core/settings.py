"""Runtime configuration, read once from the environment.

Every AWS resource name derives from ``ACADEMY_STAGE`` so the infra template, the Lambda
functions and the local stack agree without passing names around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KB = 1024
MB = 1024 * KB
GB = 1024 * MB


def local_secret(path: Path) -> str:
    """A secret kept in an ignored local file (the dev signing key, the local cursor key): created once with
    48 random url-safe bytes (mode 600, exclusively, so concurrent processes agree), then read back."""
    import secrets

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


AUTH_MODES = ("dev", "cognito")


class ConfigurationError(RuntimeError):
    """The environment asks for something this process must refuse to run with."""


def _auth_mode(env: os._Environ[str] | dict[str, str]) -> str:
    """``ACADEMY_AUTH_MODE`` as given. Nothing defaults to dev: a missing or unknown mode stays as it is
    and verifies no token at all (fail closed, see :func:`chalicelib.core.auth.verify_token`). Dev auth on
    Lambda is refused here, at start, so no deployed function can ever verify or mint dev tokens."""
    mode = env.get("ACADEMY_AUTH_MODE", "").strip().lower()
    if mode == "dev" and env.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ConfigurationError(
            "ACADEMY_AUTH_MODE=dev is refused on AWS Lambda (AWS_LAMBDA_FUNCTION_NAME is set): development "
            "tokens are for the local stack only. Deploy with ACADEMY_AUTH_MODE=cognito."
        )
    return mode


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    region: str = "us-east-1"
    # Auth
    # "dev" (HS256 key from config; local stack and tests, asked for explicitly) | "cognito" (RS256 via
    # JWKS); anything else (unset included) verifies nothing: every authenticated route is a 401.
    auth_mode: str = ""
    dev_signing_key: str = ""
    dev_key_file: str = ".academy/dev-signing-key"
    jwt_issuer: str = "academy-dev"
    jwt_audience: str = "academy-ops"
    cognito_jwks_url: str = ""
    cognito_client_id: str = ""  # the console's app client (default: the JWT audience, which is that client)
    # Limits
    default_max_body: int = 64 * KB
    homework_max_bytes: int = 25 * MB
    video_max_bytes: int = 2 * GB
    upload_quota_count: int = 30  # uploads a customer may start per UTC day (homework + videos)
    upload_quota_bytes: int = 8 * GB  # declared bytes a customer may start per UTC day
    video_max_seconds: int = 20 * 60  # longer videos are refused: the worker could not transcode them in time
    # Observability
    metrics_namespace: str = "AcademyOps"
    incidents_keep_contacts: bool = False  # emails/phone numbers in incident text are masked unless true
    # Media
    ffmpeg_path: str = ""
    tmp_dir: str = "/tmp"
    # Alerts: the SNS topic of the email channel (the stack's AlertsTopic; see chalicelib/alerts)
    alerts_topic_arn: str = ""
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
    def dev_auth(self) -> bool:
        """Dev-signed tokens (and the console's one-click sign-in) are what this process verifies."""
        return self.auth_mode == "dev"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    stage = env.get("ACADEMY_STAGE", "dev")
    return Settings(
        stage=stage,
        region=env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1")),
        auth_mode=_auth_mode(env),
        dev_signing_key=env.get("ACADEMY_DEV_SIGNING_KEY", ""),
        dev_key_file=env.get("ACADEMY_DEV_KEY_FILE", str(PROJECT_ROOT / ".academy" / "dev-signing-key")),
        jwt_issuer=env.get("ACADEMY_JWT_ISSUER", "academy-dev"),
        jwt_audience=env.get("ACADEMY_JWT_AUDIENCE", "academy-ops"),
        cognito_jwks_url=env.get("ACADEMY_COGNITO_JWKS_URL", ""),
        cognito_client_id=env.get("ACADEMY_COGNITO_CLIENT_ID", ""),
        default_max_body=_int("ACADEMY_MAX_BODY", 64 * KB),
        homework_max_bytes=_int("ACADEMY_HOMEWORK_MAX_BYTES", 25 * MB),
        video_max_bytes=_int("ACADEMY_VIDEO_MAX_BYTES", 2 * GB),
        upload_quota_count=_int("ACADEMY_UPLOAD_QUOTA_COUNT", 30),
        upload_quota_bytes=_int("ACADEMY_UPLOAD_QUOTA_BYTES", 8 * GB),
        video_max_seconds=_int("ACADEMY_VIDEO_MAX_SECONDS", 20 * 60),
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "AcademyOps"),
        incidents_keep_contacts=env.get("ACADEMY_INCIDENTS_KEEP_CONTACTS", "").strip().lower() in ("1", "true", "yes"),
        ffmpeg_path=env.get("ACADEMY_FFMPEG", ""),
        tmp_dir=env.get("ACADEMY_TMP_DIR", "/tmp"),
        alerts_topic_arn=env.get("ACADEMY_ALERTS_TOPIC", "") or _local_topic(env, stage),
    )


MOTO_ACCOUNT = "123456789012"  # the emulator's account (the local stack and the tests)


def _local_topic(env: os._Environ[str] | dict[str, str], stage: str) -> str:
    """Without ``ACADEMY_ALERTS_TOPIC``: the emulated stack's alerts topic on the local stack (dev auth, never on
    Lambda); nothing on a deployed one (the email channel then fails closed, visibly)."""
    if env.get("ACADEMY_AUTH_MODE", "").strip().lower() != "dev" or env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return ""
    region = env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))
    return f"arn:aws:sns:{region}:{MOTO_ACCOUNT}:academy-{stage}-alerts"
