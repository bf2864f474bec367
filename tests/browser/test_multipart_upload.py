"""A video of tens of MB uploaded in parts from the console, through a network cut and a page reload."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import Stack, ensure_student, make_mp4, sign_in

pytestmark = pytest.mark.browser

CUSTOMER = "cust-demo-1"
MIB = 1024 * 1024


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def big_mp4(path: Path, size: int) -> Path:
    """A real, playable MP4 padded to ``size`` bytes with a top-level ``free`` box (ffmpeg skips it)."""
    make_mp4(path, seconds=2)
    pad = size - path.stat().st_size
    with path.open("ab") as f:
        f.write(struct.pack(">I", pad) + b"free")
        f.write(b"\0" * (pad - 8))
    return path


def _throttle(page: Any, bytes_per_s: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 5, "downloadThroughput": -1, "uploadThroughput": bytes_per_s}
    cdp.send("Network.emulateNetworkConditions", conditions)


def _progress(page: Any) -> int:
    return int(page.locator("#upload-progress").get_attribute("value") or 0)


def _wait(fn: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := fn():
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_video_upload_survives_going_offline_half_way_and_is_optimised(
    page: Any, stack: Stack, tmp_path: Path, page_errors: Any
) -> None:
    page_errors.allow("ERR_INTERNET_DISCONNECTED")  # the parts cut by the network
    ensure_student(stack, CUSTOMER, "Ada Lovelace")
    clip = big_mp4(tmp_path / "recital-offline.mp4", 56 * MIB)  # 7 parts of 8 MiB, 3 in flight at a time
    sign_in(page, stack, "customer", at="/console/customer/videos")
    _throttle(page, 6 * MIB)
    page.get_by_label("Student").select_option(label="Ada Lovelace")
    page.get_by_label("File").set_input_files(str(clip))
    page.get_by_role("button", name="Upload video").click()
    video = _wait(lambda: next((v for v in _videos(stack) if v["filename"] == "recital-offline.mp4"), None))
    parts = f"/customer/videos/{video['id']}/parts"
    _wait(lambda: len(stack.ok("GET", parts, role="customer", sub=CUSTOMER)["parts"]) >= 3)  # about half-way
    expect(page.locator("#upload-step")).to_contain_text("/s")  # the speed is shown while it runs
    page.context.set_offline(True)
    expect(page.locator("#upload-step")).to_contain_text("You are offline")
    stalled = _progress(page)
    time.sleep(2)
    assert _progress(page) <= stalled + 1 and stalled < 100  # nothing moves while offline
    held = stack.ok("GET", parts, role="customer", sub=CUSTOMER)
    assert 3 <= len(held["parts"]) < held["part_count"] == 7  # some parts stored, not all
    page.context.set_offline(False)
    expect(page.locator("#upload-step")).to_have_text("Done.", timeout=120_000)
    expect(page.locator(".alert-ok")).to_contain_text("Uploaded recital-offline.mp4 for Ada Lovelace.")
    done = stack.ok("GET", f"/customer/videos/{video['id']}", role="customer", sub=CUSTOMER)
    assert done["status"] == "uploaded" and done["variants"][0]["size_bytes"] == 56 * MIB
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('academy.upload.')).length") == 0

    stack.drain()
    optimised = _wait(lambda: (v := stack.ok("GET", f"/admin/media/{video['id']}"))["variant_count"] == 2 and v, timeout=180)
    assert [x["name"] for x in optimised["variants"]] == ["original", "720p"]


def test_a_reloaded_page_resumes_the_upload_from_what_storage_holds(page: Any, stack: Stack, tmp_path: Path) -> None:
    ensure_student(stack, CUSTOMER, "Ada Lovelace")
    clip = big_mp4(tmp_path / "recital-reload.mp4", 33 * MIB)  # 5 parts: 4 x 8 MiB + 1 MiB
    sign_in(page, stack, "customer", at="/console/customer/videos")
    _throttle(page, 4 * MIB)
    page.get_by_label("Student").select_option(label="Ada Lovelace")
    page.get_by_label("File").set_input_files(str(clip))
    page.get_by_role("button", name="Upload video").click()
    video = _wait(lambda: next((v for v in _videos(stack) if v["filename"] == "recital-reload.mp4"), None))
    parts = f"/customer/videos/{video['id']}/parts"
    _wait(lambda: len(stack.ok("GET", parts, role="customer", sub=CUSTOMER)["parts"]) >= 2)
    page.reload()  # the tab is closed mid-upload: the upload id survives in localStorage
    expect(page.get_by_role("status").or_(page.locator(".alert-info")).first).to_contain_text("Choose the same file again")
    before = len(stack.ok("GET", parts, role="customer", sub=CUSTOMER)["parts"])
    page.get_by_label("Student").select_option(label="Ada Lovelace")
    page.get_by_label("File").set_input_files(str(clip))
    page.get_by_role("button", name="Upload video").click()
    expect(page.locator("#upload-step")).to_have_text("Done.", timeout=120_000)
    done = stack.ok("GET", f"/customer/videos/{video['id']}", role="customer", sub=CUSTOMER)  # the same video, resumed
    assert done["status"] == "uploaded" and done["variants"][0]["size_bytes"] == 33 * MIB
    assert before >= 2
    names = [v["filename"] for v in _videos(stack)]
    assert names.count("recital-reload.mp4") == 1  # resumed, not started again


def _videos(stack: Stack) -> list[dict[str, Any]]:
    return stack.ok("GET", "/customer/videos?limit=100", role="customer", sub=CUSTOMER)["items"]
