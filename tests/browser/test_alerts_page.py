"""Admin > Insights > Alerts in a real browser: add a loopback webhook and a rule through the page, a signal
fires in the stack, the webhook receives it, and the notification appears in the alert log."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.harness import Stack, sign_in
from tests.webhook_receiver import serve

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def test_an_admin_adds_a_webhook_and_a_rule_and_the_alert_reaches_the_log(page: Any, stack: Stack) -> None:
    if not stack.has_route("GET", "/admin/alerts/rules"):
        pytest.skip("the alerts routes are not in the app yet")
    with serve() as receiver:
        sign_in(page, stack, "admin", at="/console/admin/alerts")
        expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
        expect(page.locator("[data-rule=default-incident-new]")).to_be_visible()  # the defaults, on a new stack

        page.get_by_text("Add a webhook (Slack-compatible)").click()
        hook = page.locator("form[data-form=webhook]")
        hook.locator("[name=id]").fill("browser-hook")
        hook.locator("[name=name]").fill("Browser hook")
        hook.locator("[name=url]").fill(receiver.url)
        hook.get_by_role("button", name="Add webhook").click()
        expect(page.locator("[data-channel=browser-hook]")).to_contain_text("http://127.0.0.1/…")
        assert receiver.secret not in page.content()  # shown masked, never the URL

        page.get_by_text("New rule").click()
        rule = page.locator("form[data-form=rule]")
        rule.locator("[name=id]").fill("browser-rule")
        rule.locator("[name=name]").fill("Browser uploads")
        rule.locator("[name=kind]").select_option("incident.new")
        rule.locator("[name=area]").fill("customers.browser")
        rule.locator("input[type=checkbox][value=email]").uncheck()
        rule.locator("input[type=checkbox][value=browser-hook]").check()
        rule.get_by_role("button", name="Save rule").click()
        expect(page.locator("[data-rule=browser-rule]")).to_contain_text("browser-hook")

        fired = stack.attached_python(
            """
            from chalicelib.alerts.signals import Scope, Signal, emit
            emit(Signal(kind="incident.new", subject="grp-browser", occurrence="inc-browser-1",
                        title="Browser check: upload refused", scope=Scope(area="customers.browser.upload")))
            """
        )
        assert fired.returncode == 0, fired.stderr[-2000:]
        stack.drain()
        deadline = time.monotonic() + 20
        while not receiver.delivered() and time.monotonic() < deadline:
            time.sleep(0.2)
        (body,) = receiver.delivered()
        assert "Browser check: upload refused" in body["text"] and body["blocks"]

        page.get_by_role("button", name="Refresh").click()
        row = page.locator("section[data-section=log] tr", has_text="browser-hook")
        expect(row).to_contain_text("sent")
        expect(row).to_contain_text("Browser uploads")
        assert receiver.secret not in page.content()
