"""Students: the rules of names and search (pure: no AWS, no HTTP)."""

from __future__ import annotations

import unicodedata

MAX_QUERY = 100  # characters of a name-prefix search


def name_key(name: str) -> str:
    """The searchable form of a name: NFKC, case-folded, runs of white space as one space, trimmed.

    ``"  ADA   Lovelace"`` and ``"ada lovelace"`` have one key, so a prefix search ignores case and spacing."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def prefix_key(q: str) -> str:
    """A search prefix in :func:`name_key` form; one trailing space is kept, so ``"ada "`` matches the
    first name ``Ada`` (``"ada lovelace"``) and not ``Adam``. Empty when ``q`` is only white space."""
    key = name_key(q)
    if key and q != q.rstrip():
        key += " "
    return key
