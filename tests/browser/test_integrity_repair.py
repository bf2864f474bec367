"""An integrity finding in the Incident Hub, repaired with its button."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.harness import Stack, sign_in

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def _attached(stack: Stack, code: str) -> str:
    result = stack.attached_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_an_integrity_finding_is_repaired_from_the_incident_hub(new_page: Any, stack: Stack) -> None:
    _attached(
        stack,
        """
        from chalicelib.schedules.store import Attendance
        from chalicelib.core.db import utcnow
        from chalicelib.integrity import service
        now = utcnow()
        Attendance(schedule_id="01JBROWSERGONE000000000000", key="2026-01-05#s", date="2026-01-05", student_id="s",
                   status="present", created_at=now, updated_at=now).save()
        print(len(service.run_check("attendance_orphans").findings))
        """,
    )
    groups = stack.ok("GET", "/admin/incidents?area=backend.integrity.attendance_orphans&limit=10")["items"]
    assert groups, "the sweep filed no incident"
    admin = new_page()
    sign_in(admin, stack, "admin")
    admin.goto(f"{stack.url}/console/admin/incidents")
    admin.locator(f'tr[data-group-id="{groups[0]["group_id"]}"]').get_by_role("button").first.click()
    detail = admin.locator("#group-detail")
    expect(detail).to_contain_text("delete_attendance")
    detail.get_by_role("button", name="Apply repair").first.click()
    expect(admin.locator(".alert-ok")).to_contain_text("Repaired: delete_attendance.")
    left = _attached(
        stack,
        """
        from chalicelib.schedules.store import Attendance
        print(sum(1 for a in Attendance.scan() if a.schedule_id == "01JBROWSERGONE000000000000"))
        """,
    )
    assert left.splitlines()[-1] == "0"
    detail.get_by_role("button", name="Apply repair").first.click()  # again: nothing to do
    expect(admin.locator(".alert-ok")).to_contain_text("Nothing to do any more")
