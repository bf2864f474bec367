"""Issue 18 end to end, in a real browser and the real job path: an admin adds a loopback webhook and a
``job.first_failure`` rule on the Alerts page; a video job succeeds, then another fails (its original is
missing from the bucket); the job runtime emits the signal, the engine's ``alerts.evaluate`` job sends
it to the webhook, and the notification shows in the page's alert log. Nothing is emitted by hand."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import Stack, ensure_student, make_mp4, sign_in, upload_video
from tests.browser.test_charts import move_original
from tests.webhook_receiver import serve

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"
JOB_TYPE = "process_video_proof"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def test_a_failing_video_job_fires_the_webhook_rule_and_the_alert_is_logged(page: Any, stack: Stack, tmp_path: Path) -> None:
    if not stack.has_route("GET", "/admin/alerts/rules"):
        pytest.skip("the alerts routes are not in the app")
    hook_id, rule_id = f"video-hook-{int(time.time())}", f"video-fail-{int(time.time())}"
    with serve() as receiver:
        sign_in(page, stack, "admin", at="/console/admin/alerts")
        page.get_by_text("Add a webhook (Slack-compatible)").click()
        hook = page.locator("form[data-form=webhook]")
        hook.locator("[name=id]").fill(hook_id)
        hook.locator("[name=name]").fill("Video failures")
        hook.locator("[name=url]").fill(receiver.url)
        hook.get_by_role("button", name="Add webhook").click()
        expect(page.locator(f"[data-channel={hook_id}]")).to_be_visible()

        page.get_by_text("New rule").click()
        rule = page.locator("form[data-form=rule]")
        rule.locator("[name=id]").fill(rule_id)
        rule.locator("[name=name]").fill("Video proofs failing")
        rule.locator("[name=kind]").select_option("job.first_failure")
        rule.get_by_label("Job type").fill(JOB_TYPE)
        rule.locator("input[type=checkbox][value=email]").uncheck()
        rule.locator(f"input[type=checkbox][value={hook_id}]").check()
        rule.get_by_role("button", name="Save rule").click()
        expect(page.locator(f"[data-rule={rule_id}]")).to_contain_text(hook_id)

        # A success first (a first failure is one after a success), then the failure.
        student = ensure_student(stack, CUSTOMER, "Grace Hopper")
        ok = upload_video(stack, CUSTOMER, student["id"], make_mp4(tmp_path / "ok.mp4").read_bytes(), filename="fine.mp4")
        stack.drain()
        assert stack.ok("GET", f"/admin/media/{ok['id']}")["job"]["state"] == "succeeded"
        bad = upload_video(stack, CUSTOMER, student["id"], make_mp4(tmp_path / "bad.mp4").read_bytes(), filename="lost.mp4")
        move_original(stack, bad["id"], away=True)
        stack.drain()  # the worker fails the job for good; the signal's alerts.evaluate job runs in the same drain
        failed = stack.ok("GET", f"/admin/media/{bad['id']}")["job"]
        assert failed["state"] == "failed", failed

        deadline = time.monotonic() + 20
        while not receiver.delivered() and time.monotonic() < deadline:
            stack.drain(rounds=1)
            time.sleep(0.3)
        bodies = receiver.delivered()
        assert len(bodies) == 1, bodies  # one occurrence, one notification
        assert JOB_TYPE in bodies[0]["text"] and failed["job_id"] in bodies[0]["text"], bodies[0]

        page.get_by_role("button", name="Refresh").click()
        row = page.locator("section[data-section=log] tr", has_text=hook_id)
        expect(row).to_contain_text("sent")
        expect(row).to_contain_text("Video proofs failing")
        assert receiver.secret not in page.content()  # the webhook URL is never shown
