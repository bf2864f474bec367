"""The console of the rehearsed deploy in Chromium, under API Gateway's stage path (``/api/console``):
sign in through the stack's user pool (email and password, as a parent would), upload homework straight to
storage, see it listed."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, chromium_available
from tests.rehearse.conftest import PASSWORD, Rehearsal

pytestmark = pytest.mark.skipif(not chromium_available(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)")


def test_console_under_the_stage_path_signs_in_and_uploads(rehearsal: Rehearsal, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    base = f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-browser@example.com")
    _, customer_id = rehearsal.sign_in("customer", "parent-browser@example.com")  # creates the parent in the pool
    r = requests.post(
        f"{base}/admin/students",
        headers={"Authorization": f"Bearer {admin}"},
        json={"customer_id": customer_id, "name": "Grace Hopper"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    pdf = tmp_path / "essay.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 50_000 + b"\n%%EOF\n")
    errors: list[str] = []
    outside: list[str] = []

    def drive() -> None:  # in a fresh thread: an earlier test may have left an asyncio loop running in this one
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page: Any = browser.new_page(viewport=DESKTOP)
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                origin = rehearsal.url

                def watch(request: Any) -> None:  # every request to the API's origin stays under the stage path
                    if request.url.startswith(origin) and not request.url.startswith(f"{base}/"):
                        outside.append(request.url)

                page.on("request", watch)
                page.goto(f"{base}/console/customer/homework")
                expect(page.get_by_text("Sign in to open Homework upload.")).to_be_visible()
                assert page.get_by_label("Access token").count() == 0  # a Cognito stage: nobody pastes a JWT
                page.get_by_label("Email").fill("parent-browser@example.com")
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.wait_for_url(f"{base}/console/customer/homework")
                page.locator("body[data-ready=true]").wait_for(state="attached")
                page.get_by_label("Student").select_option(label="Grace Hopper")
                page.get_by_label("File").set_input_files(str(pdf))
                page.get_by_role("button", name="Upload homework").click()
                expect(page.locator(".alert-ok")).to_contain_text("Uploaded essay.pdf for Grace Hopper.")
                expect(page.locator("tr", has_text="essay.pdf")).to_contain_text("uploaded")
                page.get_by_role("link", name="Video upload").click()  # the navigation keeps the stage path too
                page.wait_for_url(f"{base}/console/customer/videos")
            finally:
                browser.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(drive).result()
    assert outside == [], outside
    assert errors == [], errors
