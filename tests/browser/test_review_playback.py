"""Homework review and video playback in a real browser (issue 17): an admin reviews a homework with feedback
on the Homework page and the parent sees it; an admin and the parent play a video proof in the page (the
``<video>`` reaches ``readyState >= 2`` on the presigned /play URL, streamed with Range requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.harness import Stack, ensure_student, make_mp4, sign_in, upload_video

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"  # the dev sign-in's demo customer


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def _homework(stack: Stack, student_id: str, filename: str) -> dict[str, Any]:
    data = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n"
    body = {"student_id": student_id, "filename": filename, "content_type": "application/pdf", "size_bytes": len(data)}
    created = stack.ok("POST", "/customer/homework", body, role="customer", sub=CUSTOMER)
    up = created["upload"]
    r = requests.post(up["url"], data=up["fields"], files={"file": (filename, data, "application/pdf")}, timeout=60)
    assert r.status_code < 300, r.text[:300]
    return stack.ok("POST", f"/customer/homework/{created['homework']['id']}/complete", role="customer", sub=CUSTOMER)


def test_admin_reviews_homework_and_the_parent_sees_the_feedback(page: Any, browser: Any, stack: Stack) -> None:
    student = ensure_student(stack, CUSTOMER, "Grace Hopper")
    hw = _homework(stack, student["id"], "fractions.pdf")
    sign_in(page, stack, "admin", at="/console/admin/homework")
    row = page.locator(f'tr[data-homework-id="{hw["id"]}"]')
    expect(row).to_contain_text("to review")
    row.get_by_role("button", name="Open fractions.pdf").click()
    link = page.locator(f'a[data-file-link="{hw["id"]}"]')
    expect(link).to_have_attribute("data-disposition", "inline")
    page.get_by_label("Feedback").fill("Well done: check question 3 again.")
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.locator(".alert-ok")).to_contain_text("fractions.pdf is reviewed")
    expect(page.get_by_label("Review history")).to_contain_text("Well done: check question 3 again.")
    expect(row).to_contain_text("reviewed")

    parent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(parent, stack, "customer", at="/console/customer/homework")
        mine = parent.locator("tr", has_text="fractions.pdf")
        expect(mine).to_contain_text("reviewed")
        expect(mine).to_contain_text("Well done: check question 3 again.")
    finally:
        parent.context.close()


def _ready_state(page: Any) -> int:
    page.wait_for_function(
        "() => { const v = document.querySelector('video.player'); return v && v.readyState >= 2; }", timeout=30_000
    )
    return int(page.evaluate("() => document.querySelector('video.player').readyState"))


def test_admin_and_parent_play_a_video_proof(page: Any, browser: Any, stack: Stack, tmp_path: Path) -> None:
    student = ensure_student(stack, CUSTOMER, "Grace Hopper")
    video = upload_video(
        stack, CUSTOMER, student["id"], make_mp4(tmp_path / "recital.mp4", seconds=2).read_bytes(), "recital.mp4"
    )
    sign_in(page, stack, "admin", at="/console/admin/media")
    row = page.locator(f'tr[data-video-id="{video["id"]}"]')
    row.get_by_role("button", name="Play recital.mp4").click()
    player = page.locator("video.player")
    expect(player).to_have_attribute("preload", "metadata")
    expect(player).to_have_attribute("data-variant", "original")  # no 720p yet (no workers in this stack)
    assert _ready_state(page) >= 2
    expect(page.get_by_role("button", name="Download original")).to_be_visible()

    parent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(parent, stack, "customer", at="/console/customer/videos")
        parent.locator("tr", has_text="recital.mp4").first.get_by_role("button", name="Play recital.mp4").click()
        assert _ready_state(parent) >= 2
    finally:
        parent.context.close()
