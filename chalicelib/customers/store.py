"""Customers: the pynamodb model and its queries (no HTTP here).

One row per customer, keyed by ``customer_id`` (the sign-in identity's customer id, chosen by the
admin, not generated), so a create is idempotent by its key: a conditional put that a repeat finds
already done. ``kind`` (always ``customer``) puts every row in the ``by_kind`` index, the admin list.
Every edit is one conditional UpdateItem on the ``rev`` the admin read (a stale one is 409 ``stale_revision``).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, gsi, meta, query_page, transition, utcnow
from chalicelib.core.errors import Missing, stale_revision
from chalicelib.customers.domain import KIND


class Customer(Model):
    Meta = meta("customers")
    customer_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KIND)
    display_name = UnicodeAttribute()
    contact_email = UnicodeAttribute()
    rev = NumberAttribute(default=0)
    created_at = UTCDateTime()
    by_kind = gsi("by_kind", "kind", "customer_id")  # every customer, in id order


def not_found(customer_id: str) -> Missing:
    return Missing(f"Customer {customer_id} does not exist.", code="customer_not_found", details={"customer_id": customer_id})


def put_new(customer_id: str, display_name: str, contact_email: str) -> Customer | None:
    """Write a new record; None when one already exists under ``customer_id`` (nothing written)."""
    customer = Customer(
        customer_id=customer_id, display_name=display_name, contact_email=contact_email, rev=0, created_at=utcnow()
    )
    try:
        customer.save(condition=Customer.customer_id.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            return None
        raise
    return customer


def find(customer_id: str) -> Customer | None:
    try:
        return Customer.get(customer_id)
    except Customer.DoesNotExist:
        return None


def get(customer_id: str) -> Customer:
    customer = find(customer_id)
    if customer is None:
        raise not_found(customer_id)
    return customer


def list_all(limit: int, next_token: str | None) -> tuple[list[Customer], str | None]:
    return query_page(Customer.by_kind.query, KIND, limit=limit, next_token=next_token)


def update(customer_id: str, rev: int, changes: dict[str, Any]) -> Customer:
    """Apply ``changes`` (display_name, contact_email) at ``rev``: one conditional UpdateItem.

    Unknown → 404 ``customer_not_found``; changed since the admin read it → 409 ``stale_revision``."""
    customer = Customer(customer_id=customer_id)  # no read first: the condition decides
    actions: list[Any] = [Customer.rev.add(1)]
    for field in ("display_name", "contact_email"):
        if field in changes:
            actions.append(getattr(Customer, field).set(changes[field]))
    if not transition(customer, actions, condition=Customer.customer_id.exists() & (Customer.rev == rev)):
        current = get(customer_id)  # 404 when it does not exist
        raise stale_revision("Customer", customer_id, rev, int(current.rev or 0))
    return customer
