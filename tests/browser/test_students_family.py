"""The Students and Families pages in a real browser: add, search, edit, archive and restore a student;
a family's record with its students' homework and attendance."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.harness import Stack, sign_in

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def test_students_add_search_edit_archive_restore(page: Any, stack: Stack) -> None:
    stamp = int(time.time() * 1000)
    family = f"fam-{stamp}"
    stack.ok(
        "POST",
        "/admin/customers",
        {"customer_id": family, "display_name": f"Quill family {stamp}", "contact_email": "q@example.com"},
    )
    sign_in(page, stack, "admin", at="/console/admin/students")
    expect(page.get_by_role("heading", name="Students", level=1)).to_be_visible()

    page.get_by_text("New student", exact=True).click()
    create = page.locator("details", has_text="New student")
    create.get_by_label("Name", exact=False).first.fill(f"Quill{stamp} Ada")
    create.get_by_label("Family (customer id)").fill(family)
    create.get_by_label("Time zone").fill("Europe/London")
    create.get_by_role("button", name="Add student").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Added Quill{stamp} Ada")
    stack.ok("POST", "/admin/students", {"customer_id": family, "name": f"quill{stamp} bea"})

    search = page.get_by_role("search", name="Search students")
    search.get_by_label("Name starts with").fill(f"QUILL{stamp}")
    search.get_by_role("button", name="Search").click()
    rows = page.locator("#student-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"Quill{stamp} Ada")
    expect(rows.first).to_contain_text(f"Quill family {stamp}")  # the family's name, linked
    assert f"q=QUILL{stamp}" in page.url  # the search is in the address, so it survives a reload

    search.get_by_label("Name starts with").fill(f"quill{stamp} a")
    search.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    ada = rows.first
    ada.get_by_role("button", name=re.compile("^Edit")).click()
    editor = page.locator("#student-edit")
    editor.get_by_label("Name").fill(f"Quill{stamp} Adele")
    editor.get_by_label("Notes").fill("Prefers mornings")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Saved Quill{stamp} Adele")
    expect(page.locator("#student-list tbody tr", has_text=f"Quill{stamp} Adele")).to_be_visible()

    row = page.locator("#student-list tbody tr", has_text=f"Quill{stamp} Adele")
    row.get_by_role("button", name=re.compile("^Archive")).click()
    page.get_by_role("dialog").get_by_role("button", name="Archive").click()
    expect(page.locator(".alert-ok")).to_contain_text("is archived")
    expect(page.locator("#student-list tbody tr", has_text=f"Quill{stamp} Adele")).to_have_count(0)

    search.get_by_label("Name starts with").fill("")
    search.get_by_label("Show").select_option("archived")
    search.get_by_role("button", name="Search").click()
    archived = page.locator("#student-list tbody tr", has_text=f"Quill{stamp} Adele")
    expect(archived).to_be_visible()
    archived.get_by_role("button", name=re.compile("^Restore")).click()
    expect(page.locator(".alert-ok")).to_contain_text("is restored")
    student = next(s for s in stack.ok("GET", f"/admin/customers/{family}/students")["items"] if "Adele" in s["name"])
    assert student["active"] is True and student["notes"] == "Prefers mornings" and student["rev"] == 3


def test_a_stale_edit_is_explained_and_reloaded(page: Any, stack: Stack, page_errors: Any) -> None:
    page_errors.allow("409")  # the refused save is a failed request Chromium logs
    stamp = int(time.time() * 1000)
    s = stack.ok("POST", "/admin/students", {"customer_id": f"fam-{stamp}", "name": f"Stale{stamp}"})
    sign_in(page, stack, "admin", at=f"/console/admin/students?q=stale{stamp}")
    row = page.locator("#student-list tbody tr", has_text=f"Stale{stamp}")
    row.get_by_role("button", name=re.compile("^Edit")).click()
    stack.ok("PATCH", f"/admin/students/{s['id']}", {"rev": 0, "notes": "someone else"})  # another admin saves first
    page.locator("#student-edit").get_by_label("Name").fill(f"Stale{stamp} Mine")
    page.locator("#student-edit").get_by_role("button", name="Save").click()
    expect(page.locator(".alert-warn")).to_contain_text("changed by someone else")
    assert stack.ok("GET", f"/admin/students/{s['id']}")["name"] == f"Stale{stamp}"


def test_family_page_shows_the_record_students_homework_and_attendance(page: Any, stack: Stack, page_errors: Any) -> None:
    stamp = int(time.time() * 1000)
    cid = f"fam-{stamp}"
    sign_in(page, stack, "admin", at="/console/admin/family")
    page.get_by_text("New family", exact=True).click()
    create = page.locator("details", has_text="New family")
    create.get_by_label("Family name").fill(f"The Hoppers {stamp}")
    create.get_by_label("Contact email").fill("grace@example.com")
    create.get_by_label("Customer id").fill(cid)
    create.get_by_role("button", name="Add family").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Added The Hoppers {stamp}")

    grace = stack.ok("POST", "/admin/students", {"customer_id": cid, "name": f"Grace {stamp}"})
    body = {"student_id": grace["id"], "filename": f"essay-{stamp}.pdf", "content_type": "application/pdf", "size_bytes": 100}
    stack.ok("POST", "/customer/homework", body, role="customer", sub=cid)
    when = {"starts_at": "2026-05-04T09:00:00Z", "ends_at": "2026-05-04T10:00:00Z"}
    sched = stack.ok("POST", "/admin/schedules", {"title": f"Logic {stamp}", "student_ids": [grace["id"]], **when})
    stack.ok("PUT", f"/admin/schedules/{sched['id']}/attendance/2026-05-04/{grace['id']}", {"status": "late", "note": "bus"})

    page.get_by_role("link", name=f"Open The Hoppers {stamp}").click()
    expect(page.get_by_role("heading", name=f"The Hoppers {stamp}", level=1)).to_be_visible()
    detail = page.locator("#family-student-detail")  # one student: opened at once
    expect(detail.get_by_role("heading", name=f"Grace {stamp}")).to_be_visible()
    expect(detail).to_contain_text(f"essay-{stamp}.pdf")
    expect(detail).to_contain_text("No video proofs yet.")
    expect(detail.locator("tr", has_text=f"Logic {stamp}")).to_contain_text("late")

    record = page.locator("#family-record")
    record.get_by_label("Contact email").fill("hopper@example.org")
    record.get_by_role("button", name="Save").click()
    expect(page.locator(".alert-ok")).to_contain_text(f"Saved The Hoppers {stamp}")
    assert stack.ok("GET", f"/admin/customers/{cid}")["contact_email"] == "hopper@example.org"

    page_errors.allow("404")  # the unknown family's read, which Chromium logs
    page.goto(f"{stack.url}/console/admin/family?customer=nobody-{stamp}")
    expect(page.locator(".alert-warn")).to_contain_text(f"no family with customer id nobody-{stamp}")
