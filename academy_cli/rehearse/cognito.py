"""Cognito in the rehearsal: the stack's user pool in moto, the key-set address, signed-in tokens.

Part of the rehearsal's emulator shim, never shipped (nothing here is in ``deployment.zip``):

- :func:`register_cloudformation_models` — moto 5.2.5's CloudFormation has no
  ``AWS::Cognito::UserPool``, ``UserPoolClient`` or ``UserPoolGroup`` (it skips them with a
  warning, so every ``Ref`` to the pool would be garbage). This teaches it those three types, in the
  process that runs moto server, by creating them through moto's own Cognito backend: the template
  stays exactly what AWS gets. Call it before the stack is created. ``Ref`` gives the pool id, the
  client id and the group name, as on AWS; ``Fn::GetAtt`` ``Arn``, ``ProviderName``, ``ProviderURL``,
  ``UserPoolId`` (pool) and ``ClientId``/``Name`` (client).
- :func:`install_jwks_mapping` — the functions verify tokens against the real key-set address,
  ``https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json`` (the function's
  ``ACADEMY_COGNITO_JWKS_URL``, from the stack); moto serves the key set at
  ``<endpoint>/<pool>/.well-known/jwks.json``. A function process's bootstrap installs this mapping
  before the handler is imported: every ``urllib`` request (what PyJWT's ``PyJWKClient`` fetches
  with) to exactly that host's ``/.well-known/`` paths goes to the emulator instead, like a DNS
  entry. Nothing in ``chalicelib`` knows about it, and every other address is untouched. Like
  :mod:`.iam`, this module imports only the standard library at load time, so the bootstrap can
  load it by file path.
- :func:`id_token` — ``academy token`` against a rehearsal: signs a user in through the pool
  (``USER_PASSWORD_AUTH``), creating the user first if needed.

Known differences from AWS: moto signs every pool's tokens with one key pair published in moto's
source (so the rehearsal proves verification is wired, not that the key is secret); moto honours
the client's read attributes (the ID token's claims) but not its write attributes, nor the token
validity periods (ID tokens last one hour); MFA is not exercised (``OPTIONAL``, nobody enrolled).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import urllib.request
from pathlib import Path
from typing import Any

_registered = False


# ---------------------------------------------------------------------------------------------
# moto's CloudFormation: the three Cognito resource types


def _int_fields(d: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in d and d[name] is not None:
            d[name] = int(d[name])


def register_cloudformation_models() -> None:
    """Make moto's CloudFormation create Cognito user pools, clients and groups (idempotent)."""
    global _registered
    if _registered:
        return
    from moto.cloudformation import parsing
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.core.common_models import CloudFormationModel

    class UserPool(CloudFormationModel):
        def __init__(self, pool: Any) -> None:
            self.pool = pool

        @staticmethod
        def cloudformation_name_type() -> str:
            return "UserPoolName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Cognito::UserPool"

        @property
        def physical_resource_id(self) -> str:
            return str(self.pool.id)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Arn", "ProviderName", "ProviderURL", "UserPoolId")

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            p = self.pool
            provider = f"cognito-idp.{p.region}.amazonaws.com/{p.id}"
            return {"Arn": p.arn, "ProviderName": provider, "ProviderURL": f"https://{provider}", "UserPoolId": p.id}[
                attribute_name
            ]

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> UserPool:
            props = dict(cloudformation_json.get("Properties") or {})
            name = props.pop("UserPoolName", resource_name)
            policy = (props.get("Policies") or {}).get("PasswordPolicy")
            if policy:
                _int_fields(policy, "MinimumLength", "TemporaryPasswordValidityDays")
            # AWS always has the standard attributes (email …); moto drops them when a Schema is given
            from moto.cognitoidp.models import CognitoIdpUserPoolAttribute

            given = [dict(a) for a in props.get("Schema") or []]
            named = {a["Name"] for a in given}
            standard = [{"Name": n, **s} for n, s in CognitoIdpUserPoolAttribute.STANDARD_SCHEMA.items() if n not in named]
            props["Schema"] = standard + given
            props.pop("DeletionProtection", None)
            backend = cognitoidp_backends[account_id][region_name]
            return cls(backend.create_user_pool(name, props))

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backend = cognitoidp_backends[account_id][region_name]
            backend.user_pools.pop(resource_name, None)

    class UserPoolClient(CloudFormationModel):
        def __init__(self, client: Any) -> None:
            self.client = client

        @staticmethod
        def cloudformation_name_type() -> str:
            return "ClientName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Cognito::UserPoolClient"

        @property
        def physical_resource_id(self) -> str:
            return str(self.client.id)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("ClientId", "Name")

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return {"ClientId": self.client.id, "Name": self.client.extended_config.get("ClientName")}[attribute_name]

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> UserPoolClient:
            props = dict(cloudformation_json.get("Properties") or {})
            pool_id = props.pop("UserPoolId")
            generate_secret = bool(props.pop("GenerateSecret", False))
            props.setdefault("ClientName", resource_name)
            _int_fields(props, "AuthSessionValidity", "IdTokenValidity", "AccessTokenValidity", "RefreshTokenValidity")
            backend = cognitoidp_backends[account_id][region_name]
            return cls(backend.create_user_pool_client(pool_id, generate_secret, props))

    class UserPoolGroup(CloudFormationModel):
        def __init__(self, group: Any) -> None:
            self.group = group

        @staticmethod
        def cloudformation_name_type() -> str:
            return "GroupName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Cognito::UserPoolGroup"

        @property
        def physical_resource_id(self) -> str:
            return str(self.group.group_name)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> UserPoolGroup:
            props = cloudformation_json.get("Properties") or {}
            backend = cognitoidp_backends[account_id][region_name]
            group = backend.create_group(
                props["UserPoolId"],
                props.get("GroupName", resource_name),
                props.get("Description", ""),
                props.get("RoleArn"),
                int(props["Precedence"]) if props.get("Precedence") is not None else None,  # type: ignore[arg-type]
            )
            return cls(group)

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    _registered = True


# ---------------------------------------------------------------------------------------------
# The key-set address, mapped (in a function process)

_COGNITO_HOST = re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(?=/[^/]+/\.well-known/)")


def mapped_url(url: str, endpoint: str) -> str:
    """``https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/...`` → ``<endpoint>/<pool>/.well-known/...``."""
    return _COGNITO_HOST.sub(endpoint.rstrip("/"), url, count=1)


_original_open = urllib.request.OpenerDirector.open


def install_jwks_mapping(endpoint: str) -> None:
    """Send Cognito's ``/.well-known/`` addresses to the emulator, process-wide (see the module doc).

    Every ``urllib`` opener goes through ``OpenerDirector.open`` (``urlopen``, and the private opener
    PyJWT's ``PyJWKClient`` builds), so the address is rewritten there, before any handler sees it.
    Calling it again replaces the endpoint; :func:`remove_jwks_mapping` undoes it.
    """

    def open_mapped(self: urllib.request.OpenerDirector, fullurl: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(fullurl, str):
            fullurl = mapped_url(fullurl, endpoint)
        elif isinstance(fullurl, urllib.request.Request):
            target = mapped_url(fullurl.full_url, endpoint)
            if target != fullurl.full_url:
                fullurl.full_url = target
        return _original_open(self, fullurl, *args, **kwargs)

    urllib.request.OpenerDirector.open = open_mapped  # type: ignore[method-assign]


def install() -> None:
    """The rehearsal bootstrap's hook protocol (``_REHEARSE_HOOKS``): map the key-set address to the
    emulator this function process already talks to (``AWS_ENDPOINT_URL``)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise RuntimeError("AWS_ENDPOINT_URL is not set: no emulator to map Cognito's key set to")
    install_jwks_mapping(endpoint)


def remove_jwks_mapping() -> None:
    urllib.request.OpenerDirector.open = _original_open  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# academy token against a rehearsal


def username_for(role: str, sub: str) -> str:
    """A stable sign-in email for (role, id): readable where the id allows it."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", sub).strip(".-")[:40] or "id"
    if safe != sub:
        safe += "-" + hashlib.sha256(sub.encode()).hexdigest()[:10]
    return f"{role}.{safe}@rehearse.academy.invalid".lower()


def password_file(project_root: Path, run_dir: Path | None = None) -> Path:
    """Where rehearsal users' passwords are kept: beside the run directory (``ACADEMY_RUN_DIR``, as
    :func:`academy_cli.localenv.run_dir` reads it), so ``<project>/.academy/rehearse-passwords.json``
    by default (ignored by git) and a test's own directory when it sets ``ACADEMY_RUN_DIR`` (or passes
    the stack's ``run_dir``: a client of a spawned stack shares the stack's file)."""
    run_dir = run_dir or (Path(os.environ["ACADEMY_RUN_DIR"]) if os.environ.get("ACADEMY_RUN_DIR") else None)
    return (run_dir.parent if run_dir else project_root / ".academy") / "rehearse-passwords.json"


def _passwords(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}


def _save_password(path: Path, key: str, password: str) -> None:
    data = _passwords(path)
    data[key] = password
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    tmp.replace(path)


def _new_password() -> str:
    # meets any pool policy this stack's parameters allow (length ≤ 99, all four character classes)
    return f"{secrets.token_urlsafe(24)}aA1!"


def ensure_user(idp: Any, pool_id: str, role: str, sub: str, password_file: Path) -> tuple[str, str]:
    """The (username, password) of the user for (role, sub): created in the role's group with
    ``custom:customer_id = sub`` and a permanent password (kept in ``password_file``) if needed."""
    username = username_for(role, sub)
    key = f"{pool_id}/{username}"
    password = _passwords(password_file).get(key)
    try:
        user = idp.admin_get_user(UserPoolId=pool_id, Username=username)
    except idp.exceptions.UserNotFoundException:
        user = None
    if user is None:
        idp.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            UserAttributes=[
                {"Name": "email", "Value": username},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "custom:customer_id", "Value": sub},
            ],
            MessageAction="SUPPRESS",
        )
        password = None
    else:
        attrs = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        if attrs.get("custom:customer_id") != sub:
            idp.admin_update_user_attributes(
                UserPoolId=pool_id, Username=username, UserAttributes=[{"Name": "custom:customer_id", "Value": sub}]
            )
        if not user.get("Enabled", True):
            raise RuntimeError(f"user {username} is disabled in pool {pool_id}")
    if password is None or (user is not None and user.get("UserStatus") != "CONFIRMED"):
        password = _new_password()
        idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        _save_password(password_file, key, password)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=role)
    return username, password


def sign_in(idp: Any, client_id: str, username: str, password: str) -> dict[str, Any]:
    """``USER_PASSWORD_AUTH`` through the pool's app client; the AuthenticationResult."""
    out = idp.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH", ClientId=client_id, AuthParameters={"USERNAME": username, "PASSWORD": password}
    )
    if "AuthenticationResult" not in out:
        raise RuntimeError(f"sign-in for {username} ended in challenge {out.get('ChallengeName')!r}")
    return dict(out["AuthenticationResult"])


def id_token(state: dict[str, Any], role: str, sub: str, project_root: Path, run_dir: Path | None = None) -> str:
    """An ID token for (role, sub) from the rehearsal stack's user pool (``academy token --port``,
    through :mod:`academy_cli.stack_tokens`); ``run_dir`` as in :func:`password_file`."""
    import boto3

    outputs = state.get("outputs") or {}
    pool_id, client_id = outputs.get("UserPoolId"), outputs.get("UserPoolClientId")
    if not pool_id or not client_id:
        raise RuntimeError("the rehearsal stack has no UserPoolId/UserPoolClientId outputs")
    from academy_cli.localenv import LOCAL_CREDENTIALS

    idp = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=state["region"],
    ).client("cognito-idp", endpoint_url=state["aws_endpoint"])
    username, password = ensure_user(idp, pool_id, role, sub, password_file(project_root, run_dir))
    return str(sign_in(idp, client_id, username, password)["IdToken"])
