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
        from academy_cli.localenv import StackNotRunning
        from academy_cli.stack_tokens import StackTokens, TokenError

        try:
            tokens = StackTokens.for_port(port) if port is not None else StackTokens()
            click.echo(tokens.mint(role, sub, ttl_seconds=ttl))
        except (StackNotRunning, TokenError) as exc:
            raise click.ClickException(str(exc)) from exc
