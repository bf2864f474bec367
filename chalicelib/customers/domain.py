"""Customers (the families): the rules of their records (pure: no AWS, no HTTP).

A customer's id is the principal id that :mod:`chalicelib.core.auth` gives a signed-in customer
(the token's ``custom:customer_id`` claim, else its subject), and the ``customer_id`` of their students.
"""

from __future__ import annotations

import re

KIND = "customer"
MAX_EMAIL = 254  # RFC 5321's limit on a path
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def normal_email(value: str) -> str:
    """``value`` as a contact email (``local@domain``, the domain lower-cased), or ValueError saying why.

    Deliberately plain: a dotted-atom local part (≤ 64) and a domain of ≥ 2 DNS labels whose last is
    alphabetic; no quoted local parts, IP literals or internationalised addresses."""
    value = value.strip()
    if len(value) > MAX_EMAIL:
        raise ValueError(f"An email address has at most {MAX_EMAIL} characters.")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("An email address looks like name@example.com.")
    if len(local) > 64 or not _LOCAL.match(local):
        raise ValueError("The part before @ is not a valid mailbox name.")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or not labels[-1].isalpha():
        raise ValueError("The part after @ is not a valid domain (such as example.com).")
    return f"{local}@{domain.lower()}"


FIELDS = ("display_name", "contact_email")


def differences(current: dict[str, str | None], wanted: dict[str, str | None]) -> list[str]:
    """The fields of a repeated create whose values differ from the record's (empty: the same request)."""
    return [f for f in FIELDS if current.get(f) != wanted.get(f)]
