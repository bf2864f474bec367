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


def forget(stack: Stack, rules: list[str], channels: list[str]) -> None:
    """Leave the session's stack as found: no rule keeps sending to a receiver that is gone (later tests count jobs)."""
    for rule_id in rules:
        stack.api("DELETE", f"/admin/alerts/rules/{rule_id}")
    for channel_id in channels:
        stack.api("DELETE", f"/admin/alerts/channels/{channel_id}")


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
        forget(stack, ["browser-rule"], ["browser-hook"])


def test_a_failing_video_job_fires_the_rule_and_the_alert_is_in_the_log(page: Any, stack: Stack, tmp_path: Any) -> None:
    """The issue's path: a video that is not playable fails its optimisation for good, the worker files the
    incident (a new group, or a resolved one reopening), the signal's alert job runs, the loopback webhook gets
    it and the Alerts page's log shows it sent."""
    from tests.browser.harness import ensure_student, upload_video
    from tests.media_support import fake_mp4

    if not stack.has_route("GET", "/admin/alerts/rules"):
        pytest.skip("the alerts routes are not in the app yet")
    area = "backend.job.process_video_proof"
    with serve() as receiver:
        stack.ok("POST", "/admin/alerts/channels", {"id": "alerts-video-hook", "name": "Video hook", "url": receiver.url})
        for kind in ("incident.new", "incident.regression"):  # whichever the group's state makes it
            rule = {"id": f"video-{kind.split('.')[1]}", "name": f"Video job {kind}", "kind": kind}
            stack.ok("POST", "/admin/alerts/rules", {**rule, "scope": {"area": area}, "channels": ["alerts-video-hook"]})
        for g in stack.ok("GET", f"/admin/incidents?area={area}&status=open&limit=100")["items"]:
            stack.ok("POST", f"/admin/incidents/groups/{g['group_id']}/resolve")  # an earlier failure's group
        student = ensure_student(stack, "cust-demo-1", "Alan Turing")  # the student the console tests use: no new one
        video = upload_video(stack, "cust-demo-1", student["id"], fake_mp4(media_bytes=1600), filename="alert.mp4")
        stack.drain()  # the optimisation fails for good, then the alert job it caused runs
        assert stack.ok("GET", f"/admin/media/{video['id']}")["job"]["state"] == "failed"
        deadline = time.monotonic() + 20
        while not any("Rule: Video job" in b["text"] for b in receiver.delivered()) and time.monotonic() < deadline:
            stack.drain()
            time.sleep(0.2)
        ours = [b for b in receiver.delivered() if "Rule: Video job incident." in b["text"]]  # a stale channel's may come too
        assert len(ours) == 1 and "process_video_proof" in ours[0]["text"], receiver.delivered()

        sign_in(page, stack, "admin", at="/console/admin/alerts")
        row = page.locator("section[data-section=log] tr", has_text="alerts-video-hook")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("sent")
        expect(row).to_contain_text("Video job")
        forget(stack, ["video-new", "video-regression"], ["alerts-video-hook"])
