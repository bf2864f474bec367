"""``academy token``: a token for a running stack, alone on stdout.

- The local stack (``academy up``): a development token signed with the dev key (unchanged).
- A rehearsal (``academy up --rehearse``, state ``mode: "rehearse"`` on ``--port``): a real Cognito
  ID token, signed in through the stack's user pool in the emulator; the user ``<role>.<id>@…`` is
  created first if needed, in the role's group, with ``custom:customer_id = --sub`` (the API's
  principal id) and a permanent password kept in ``.academy/rehearse-passwords.json`` (ignored).
"""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--role", type=click.Choice(["admin", "customer"]), required=True)
    @click.option("--sub", required=True, help="User id (a customer's id for --role customer).")
    @click.option("--ttl", default=8 * 3600, show_default=True, help="Lifetime in seconds (dev tokens; a pool sets its own).")
    @click.option("--port", type=int, default=None, help="The stack's port: a rehearsal there gets a Cognito ID token.")
    def token(role: str, sub: str, ttl: int, port: int | None) -> None:
        """Print a JWT for the local stack (dev-signed) or a rehearsal (Cognito ID token)."""
        if port is not None:
            from academy_cli.localenv import StackNotRunning, read_state

            try:
                state = read_state(port)
            except StackNotRunning as exc:
                raise click.ClickException(str(exc)) from exc
            if state.get("mode") == "rehearse":
                click.echo(_rehearsal_token(state, role, sub))
                return
        from chalicelib.auth import mint_dev_token

        try:
            click.echo(mint_dev_token(role, sub, ttl_seconds=ttl))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc


def _rehearsal_token(state: dict, role: str, sub: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from academy_cli.rehearse.cognito import id_token
    from chalicelib.settings import PROJECT_ROOT

    try:
        return id_token(state, role, sub, PROJECT_ROOT)
    except (RuntimeError, ClientError, BotoCoreError) as exc:
        raise click.ClickException(f"could not sign in through the rehearsal's user pool: {exc}") from exc
