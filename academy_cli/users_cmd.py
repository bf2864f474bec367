"""``academy users create|list|disable|set-role``: people in the stack's Cognito user pool (its admin API).

The pool is ``--user-pool-id`` (a deployed stack: the ``UserPoolId`` output; AWS credentials and region
from the usual environment), or the running rehearsal's on ``--port`` (its state file names the pool and
the emulator's endpoint). A user's role is their group (``admin`` or ``customer``: the token's
``cognito:groups``); a customer's academy id is the ``custom:customer_id`` attribute (the API's principal
id; Cognito's ``sub`` cannot be chosen). ``create`` sends Cognito's invitation email with a temporary
password; the first sign-in sets a new one (``NEW_PASSWORD_REQUIRED``). ``disable`` also signs the user
out everywhere (refresh tokens revoked): an ID token already issued lasts until it expires (≤ 60 min).
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

ROLES = ("admin", "customer")
CUSTOMER_ID_ATTR = "custom:customer_id"
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the API accepts as an id (chalicelib.core.db.ENTITY_ID)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")


class Pool:
    """One user pool and a cognito-idp client for it."""

    def __init__(self, client: Any, pool_id: str) -> None:
        self.client, self.id = client, pool_id

    def call(self, op: str, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(UserPoolId=self.id, **kw)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise click.ClickException(f"{op}: {err.get('Code', 'error')}: {err.get('Message', exc)}") from exc
        except BotoCoreError as exc:
            raise click.ClickException(f"{op}: {exc}") from exc

    def groups_of(self, username: str) -> list[str]:
        groups = self.call("admin_list_groups_for_user", Username=username, Limit=60).get("Groups", [])
        return sorted(g["GroupName"] for g in groups)


def open_pool(user_pool_id: str | None, port: int | None, region: str | None) -> Pool:
    """``--user-pool-id`` (real AWS, or ``AWS_ENDPOINT_URL``), else the rehearsal on ``--port``."""
    import boto3

    if user_pool_id:
        return Pool(boto3.client("cognito-idp", region_name=region or _region_from_pool(user_pool_id)), user_pool_id)
    from academy_cli.localenv import DEFAULT_PORT, LOCAL_CREDENTIALS, StackNotRunning, read_state

    try:
        state = read_state(port or DEFAULT_PORT)
    except StackNotRunning as exc:
        raise click.ClickException(f"{exc}; or pass --user-pool-id for a deployed stack") from exc
    pool_id = (state.get("outputs") or {}).get("UserPoolId")
    if state.get("mode") != "rehearse" or not pool_id:
        raise click.ClickException(
            f"the stack on port {port or DEFAULT_PORT} has no user pool (the local stack uses development sign-in; "
            "start a rehearsal with 'academy up --rehearse', or pass --user-pool-id)"
        )
    client = boto3.client(
        "cognito-idp",
        endpoint_url=state["aws_endpoint"],
        region_name=state.get("region") or "us-east-1",
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
    )
    return Pool(client, pool_id)


def _region_from_pool(pool_id: str) -> str | None:
    region, sep, _ = pool_id.partition("_")
    return region if sep else None


def _attrs(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user.get("Attributes") or user.get("UserAttributes") or []}


def _check_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.match(email):
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    return email


def _check_customer_id(role: str, customer_id: str | None) -> None:
    if role == "customer" and not customer_id:
        raise click.UsageError("a customer needs --customer-id (the academy's id for them; their students name it)")
    if role == "admin" and customer_id:
        raise click.UsageError("--customer-id is for customers only")
    if customer_id and not _CUSTOMER_ID.match(customer_id):
        raise click.BadParameter("letters, digits, '-' and '_' only, at most 64", param_hint="--customer-id")


def user_row(pool: Pool, user: dict[str, Any], groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    attrs = _attrs(user)
    username = user.get("Username", "")
    roles = sorted(r for r, members in (groups or {}).items() if username in members) if groups is not None else None
    if roles is None:
        roles = [g for g in pool.groups_of(username) if g in ROLES]
    return {
        "email": attrs.get("email"),
        "username": username,
        "role": "admin" if "admin" in roles else (roles[0] if roles else None),
        "customer_id": attrs.get(CUSTOMER_ID_ATTR),
        "status": user.get("UserStatus"),
        "enabled": bool(user.get("Enabled", True)),
    }


def _pages(pool: Pool, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = pool.call(op, **kw, **({"NextToken": token} if token else {}))
        out.extend(page.get(key, []))
        token = page.get("NextToken") or page.get("PaginationToken")
        if not token:
            return out


def _list_users(pool: Pool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = pool.call("list_users", Limit=60, **({"PaginationToken": token} if token else {}))
        out.extend(page.get("Users", []))
        token = page.get("PaginationToken")
        if not token:
            return out


def _set_role(pool: Pool, username: str, role: str) -> None:
    """Into ``role``'s group first, then out of the other one: never a moment without a role."""
    pool.call("admin_add_user_to_group", Username=username, GroupName=role)
    for other in ROLES:
        if other != role:
            pool.call("admin_remove_user_from_group", Username=username, GroupName=other)


def _echo_user(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(row, sort_keys=True))
        return
    who = f"{row['role'] or 'no role'}" + (f" {row['customer_id']}" if row.get("customer_id") else "")
    state = row["status"] + ("" if row["enabled"] else ", disabled")
    click.echo(f"{row['email']}  {who}  ({state})")


def register(cli: click.Group) -> None:
    pool_options = [
        click.option("--user-pool-id", help="The pool (the stack's UserPoolId output). Default: the rehearsal on --port."),
        click.option("--port", type=int, default=None, help="A running rehearsal's port (default 8000)."),
        click.option("--region", default=None, help="The pool's region (default: from the pool id)."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]

    def with_pool(fn: Any) -> Any:
        for option in reversed(pool_options):
            fn = option(fn)
        return fn

    @cli.group()
    def users() -> None:
        """People in the stack's user pool: create (invite), list, disable, set-role."""

    @users.command("create")
    @click.argument("email")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--customer-id", help="The academy's id for a customer (their students' customer_id).")
    @click.option("--temporary-password", help="Set the invitation's password (rehearsals: the emulator sends no email).")
    @click.option("--no-email", is_flag=True, help="Create without sending Cognito's invitation email.")
    @with_pool
    def create(
        email: str,
        role: str,
        customer_id: str | None,
        temporary_password: str | None,
        no_email: bool,
        user_pool_id: str | None,
        port: int | None,
        region: str | None,
        as_json: bool,
    ) -> None:
        """Invite EMAIL: a user with a temporary password sent by email, in the role's group."""
        email = _check_email(email)
        _check_customer_id(role, customer_id)
        pool = open_pool(user_pool_id, port, region)
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        if customer_id:
            attributes.append({"Name": CUSTOMER_ID_ATTR, "Value": customer_id})
        kw: dict[str, Any] = {"Username": email, "UserAttributes": attributes, "DesiredDeliveryMediums": ["EMAIL"]}
        if temporary_password:
            kw["TemporaryPassword"] = temporary_password
        if no_email:
            kw["MessageAction"] = "SUPPRESS"
        user = pool.call("admin_create_user", **kw)["User"]
        username = user["Username"]
        try:
            pool.call("admin_add_user_to_group", Username=username, GroupName=role)
        except click.ClickException:
            pool.call("admin_delete_user", Username=username)  # no user without a role left behind
            raise
        _echo_user(user_row(pool, user, {role: [username]}), as_json)
        if not as_json:
            click.echo("invitation sent" if not no_email else "created without an email", err=True)

    @users.command("list")
    @click.option("--role", type=click.Choice(ROLES), help="Only this role.")
    @with_pool
    def list_(role: str | None, user_pool_id: str | None, port: int | None, region: str | None, as_json: bool) -> None:
        """Every user with role, customer id, status and whether enabled."""
        pool = open_pool(user_pool_id, port, region)
        members = {r: [u["Username"] for u in _pages(pool, "list_users_in_group", "Users", GroupName=r, Limit=60)] for r in ROLES}
        rows = [user_row(pool, u, members) for u in _list_users(pool)]
        rows = [r for r in rows if role is None or r["role"] == role]
        rows.sort(key=lambda r: (r["role"] or "~", r["email"] or ""))
        if as_json:
            click.echo(json.dumps(rows, indent=2, sort_keys=True))
            return
        for row in rows:
            _echo_user(row, False)
        click.echo(f"{len(rows)} user(s)", err=True)

    @users.command("disable")
    @click.argument("email")
    @with_pool
    def disable(email: str, user_pool_id: str | None, port: int | None, region: str | None, as_json: bool) -> None:
        """Stop EMAIL signing in, and sign them out everywhere (their refresh tokens stop working)."""
        pool = open_pool(user_pool_id, port, region)
        email = _check_email(email)
        pool.call("admin_disable_user", Username=email)
        pool.call("admin_user_global_sign_out", Username=email)
        _echo_user(user_row(pool, pool.call("admin_get_user", Username=email)), as_json)

    @users.command("set-role")
    @click.argument("email")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--customer-id", help="Required to make someone a customer who has no customer id yet.")
    @with_pool
    def set_role(
        email: str,
        role: str,
        customer_id: str | None,
        user_pool_id: str | None,
        port: int | None,
        region: str | None,
        as_json: bool,
    ) -> None:
        """Move EMAIL into ROLE's group (and out of the other). Takes effect at their next sign-in or refresh."""
        pool = open_pool(user_pool_id, port, region)
        email = _check_email(email)
        user = pool.call("admin_get_user", Username=email)
        existing = _attrs(user).get(CUSTOMER_ID_ATTR)
        if role == "customer":
            _check_customer_id(role, customer_id or existing)
            if customer_id and customer_id != existing:
                pool.call(
                    "admin_update_user_attributes",
                    Username=email,
                    UserAttributes=[{"Name": CUSTOMER_ID_ATTR, "Value": customer_id}],
                )
        elif customer_id:
            raise click.UsageError("--customer-id is for customers only")
        _set_role(pool, user["Username"], role)
        if role == "admin" and existing:  # an admin's token must not name a customer
            pool.call("admin_delete_user_attributes", Username=email, UserAttributeNames=[CUSTOMER_ID_ATTR])
        _echo_user(user_row(pool, pool.call("admin_get_user", Username=email)), as_json)
