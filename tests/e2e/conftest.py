"""A session-wide local stack (``academy up --ephemeral`` on free ports) for the API fuzz and load checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from academy_cli.spawn import SpawnedStack, StackStartError, start_stack


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpawnedStack]:
    """One running stack shared by the tests that only need *a* stack (they must not stop it)."""
    try:
        stack = start_stack(tmp_path_factory.mktemp("live-stack"))
    except StackStartError as exc:
        pytest.fail(str(exc))
    yield stack
    stack.stop()
