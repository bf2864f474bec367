"""``academy seed``: a small demo academy, loaded into the running local stack through its HTTP API.

Going through the API (with the stack's own tokens: dev tokens for ``academy up``, pool ID tokens
for a rehearsal; :mod:`academy_cli.stack_tokens`) means validation and the audit log are the real
ones. Seeding is repeatable: each seeder skips what already exists. To seed another capability, add
a function ``(api: SeedApi) -> str`` to ``SEEDERS`` (it returns a one-line summary).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from academy_cli.client import ApiClient, ApiError, Unreachable
from academy_cli.localenv import DEFAULT_PORT
from academy_cli.stack_tokens import StackTokens, TokenError
from academy_cli.up_cmd import DEV_ADMIN, DEV_CUSTOMER

DEMO_STUDENTS: dict[str, list[tuple[str, str]]] = {
    DEV_CUSTOMER: [("Ada Lovelace", "Europe/London"), ("Alan Turing", "Europe/London")],
    "cust-demo-2": [("Grace Hopper", "America/New_York")],
    "cust-demo-3": [("Emmy Noether", "Europe/Berlin"), ("Srinivasa Ramanujan", "Asia/Kolkata")],
}
DEMO_FAMILIES: dict[str, tuple[str, str]] = {
    DEV_CUSTOMER: ("The Lovelace and Turing family", "lovelace@example.com"),
    "cust-demo-2": ("The Hoppers", "hopper@example.com"),
    "cust-demo-3": ("The Noether and Ramanujan family", "noether@example.com"),
}


@dataclass
class SeedApi:
    """What seeders call the API with (:mod:`academy_cli.client`): admin calls by default, customer calls
    with ``as_customer``, each with a token of the stack's (:mod:`academy_cli.stack_tokens`)."""

    base_url: str
    tokens: StackTokens = field(default_factory=StackTokens)
    created: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # seeders share what they made
    client: ApiClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = ApiClient(self.base_url, timeout_s=30)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        as_customer: str | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> Any:
        return self.client.call(method, path, body, query=params, token=self._bearer(as_customer), ok=ok)

    def list_all(
        self, path: str, params: dict[str, Any] | None = None, *, as_customer: str | None = None
    ) -> list[dict[str, Any]]:
        return self.client.pages(path, params, token=self._bearer(as_customer))

    def _bearer(self, as_customer: str | None) -> str:
        role, sub = ("customer", as_customer) if as_customer else ("admin", DEV_ADMIN)
        return self.tokens.mint(role, sub, ttl_seconds=600)


def seed_students(api: SeedApi) -> str:
    made = skipped = 0
    for customer, students in DEMO_STUDENTS.items():
        existing = {s["name"]: s for s in api.list_all("/customer/students", as_customer=customer)}
        for name, tz in students:
            student = existing.get(name)
            if student is None:
                student = api.call("POST", "/admin/students", {"customer_id": customer, "name": name, "timezone": tz})
                made += 1
            else:
                skipped += 1
            api.created.setdefault("students", []).append(student)
    return f"students: {made} created, {skipped} already there ({len(DEMO_STUDENTS)} customers)"


def seed_families(api: SeedApi) -> str:
    """The demo customers' records (one per sign-in identity; their students name it)."""
    existing = {c["customer_id"] for c in api.list_all("/admin/customers")}
    made = 0
    for customer, (name, email) in DEMO_FAMILIES.items():
        if customer not in existing:
            api.call("POST", "/admin/customers", {"customer_id": customer, "display_name": name, "contact_email": email})
            made += 1
    return f"families: {made} created, {len(DEMO_FAMILIES) - made} already there"


# Order matters: later seeders may use what earlier ones made (api.created).
SEEDERS: list[Callable[[SeedApi], str]] = [seed_students]
SEEDERS += [seed_families]


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port of the running local stack.")
    def seed(port: int) -> None:
        """Load a small demo academy into the running local stack (repeatable)."""
        from academy_cli.localenv import StackNotRunning, attach

        try:
            state = attach(port)
        except StackNotRunning as exc:
            raise click.ClickException(str(exc)) from None
        api = SeedApi(state["api_url"], StackTokens(state))
        for seeder in SEEDERS:
            try:
                click.echo(seeder(api))
            except ApiError as exc:
                raise click.ClickException(f"{seeder.__name__}: {exc.method} {exc.path} → {exc.message}") from None
            except (Unreachable, TokenError) as exc:
                raise click.ClickException(f"{seeder.__name__}: {exc}") from None
        click.echo(f"demo customers: {', '.join(DEMO_STUDENTS)} (academy token --role customer --sub {DEV_CUSTOMER})")
