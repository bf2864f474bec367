"""``academy token``: a development token for the local stack (alone on stdout)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--role", type=click.Choice(["admin", "customer"]), required=True)
    @click.option("--sub", required=True, help="User id (a customer's id for --role customer).")
    @click.option("--ttl", default=8 * 3600, show_default=True, help="Lifetime in seconds.")
    def token(role: str, sub: str, ttl: int) -> None:
        """Print a development JWT for the local (dev) stage."""
        from chalicelib.auth import mint_dev_token

        try:
            click.echo(mint_dev_token(role, sub, ttl_seconds=ttl))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
