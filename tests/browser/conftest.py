"""Browser tests: Playwright for Python driving Debian's Chromium against ``academy up`` on free ports.

Skipped (cleanly, with the reason) only when /usr/bin/chromium is absent. Every page a test opens
is watched: a console error or an uncaught exception fails the test unless the test expects it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, Stack, chromium_available, cleanup, start_stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the console in Chromium (Playwright) against academy up")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chromium_available():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console-stack")
    s = start_stack(tmp)
    try:
        yield s
    finally:
        s.stop()
        cleanup(tmp)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do: the stack shares 2 cores with the rest of the suite.
    expect.set_options(timeout=15_000)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageErrors:
    """Console errors and uncaught exceptions seen by a page; ``allow()`` what a test provokes on purpose."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.allowed: list[str] = []

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [m for m in self.seen if not any(a in m for a in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def _wait_for_ready_after_goto(page: Any) -> None:
    """A console page is usable once its script marks ``<body data-ready>``: every ``goto`` waits for it,
    so no test types into a form before the page's data (and handlers) are there."""
    goto = page.goto

    def goto_and_wait(url: str, **kw: Any) -> Any:
        response = goto(url, **kw)
        if "/console" in url and "/console/static/" not in url and response is not None and response.status == 200:
            page.locator("body[data-ready=true]").wait_for(state="attached")
        return response

    page.goto = goto_and_wait


def _new_page(browser: Any, errors: PageErrors, viewport: dict[str, int]) -> Any:
    ctx = browser.new_context(viewport=viewport)
    ctx.set_default_timeout(15000)
    page = ctx.new_page()
    _wait_for_ready_after_goto(page)
    page.on(
        "console",
        lambda m: errors.seen.append(f"console.{m.type}: {m.text} @ {m.location.get('url', '')}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.seen.append(f"pageerror: {e}"))
    return page


@pytest.fixture
def page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    p = _new_page(browser, page_errors, DESKTOP)
    try:
        yield p
    finally:
        p.context.close()
    assert page_errors.unexpected() == [], "errors in the browser console"


@pytest.fixture
def new_page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    """A factory for more pages (another user, another width), all watched for console errors."""
    made: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        p = _new_page(browser, page_errors, viewport)
        made.append(p)
        return p

    yield make
    for p in made:
        p.context.close()
    assert page_errors.unexpected() == [], "errors in the browser console"
