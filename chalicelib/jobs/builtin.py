"""Built-in job functions (used for smoke checks of the runtime from the CLI and the tests)."""

from __future__ import annotations

from typing import Any


def noop(job: Any, ctx: Any) -> dict[str, Any]:
    """Does nothing and succeeds: proves the queue, worker and ledger path end to end."""
    return {"echo": job.payload}
