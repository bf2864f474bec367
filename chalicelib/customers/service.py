"""Customers: the use cases — an idempotent create, a family's students."""

from __future__ import annotations

from chalicelib.core.errors import Conflicting
from chalicelib.customers import store
from chalicelib.customers.domain import differences
from chalicelib.customers.store import Customer
from chalicelib.students import store as students
from chalicelib.students.store import Student


def create(customer_id: str, display_name: str, contact_email: str) -> tuple[Customer, bool]:
    """The customer's record and whether this call created it.

    Idempotent on ``customer_id``: a repeat with the same fields returns the record as it is (not
    created); one that differs is 409 ``customer_exists`` naming the differing fields (edit with PATCH)."""
    made = store.put_new(customer_id, display_name, contact_email)
    if made is not None:
        return made, True
    current = store.get(customer_id)  # it exists: the put was refused by its condition
    differ = differences(
        {"display_name": current.display_name, "contact_email": current.contact_email},
        {"display_name": display_name, "contact_email": contact_email},
    )
    if differ:
        raise Conflicting(
            f"Customer {customer_id} already exists with other {' and '.join(differ)}; edit it with PATCH.",
            code="customer_exists",
            details={"customer_id": customer_id, "differs": differ, "rev": int(current.rev or 0)},
        )
    return current, False


def students_of(customer_id: str, limit: int, next_token: str | None) -> tuple[list[Student], str | None]:
    """A customer's students, active and archived (a query of the students' ``by_customer`` index).
    An unknown customer is 404 ``customer_not_found``."""
    store.get(customer_id)
    return students.list_for_customer(customer_id, limit, next_token)
