"""Pure occurrence/exception/orphan rules of schedules (issue 17)."""

from datetime import UTC, date, datetime

from chalicelib.schedules.domain import CANCELLED, MOVED, SCHEDULED, ScheduleTimes, is_occurrence, lesson, occurrences, orphaned

WEEKLY = ScheduleTimes(datetime(2025, 1, 6, 16, tzinfo=UTC), datetime(2025, 1, 6, 17, tzinfo=UTC), "weekly", date(2025, 1, 27))


def test_weekly_occurrences_bounded_by_range_and_until():
    assert occurrences(WEEKLY, date(2025, 1, 1), date(2025, 3, 1)) == [date(2025, 1, d) for d in (6, 13, 20, 27)]
    assert occurrences(WEEKLY, date(2025, 1, 7), date(2025, 1, 19)) == [date(2025, 1, 13)]
    assert not is_occurrence(WEEKLY, date(2025, 2, 3))
    assert not is_occurrence(WEEKLY, date(2025, 1, 7))


def test_one_off_has_only_its_first_date():
    once = ScheduleTimes(datetime(2025, 1, 6, 16, tzinfo=UTC), datetime(2025, 1, 6, 17, tzinfo=UTC))
    assert occurrences(once, date(2025, 1, 1), date(2025, 12, 31)) == [date(2025, 1, 6)]


def test_local_wall_time_kept_across_dst():
    t = ScheduleTimes(datetime(2025, 3, 3, 16, tzinfo=UTC), datetime(2025, 3, 3, 17, tzinfo=UTC), "weekly", None, "Europe/London")
    assert lesson(t, date(2025, 3, 31), None).starts_at == datetime(2025, 3, 31, 15, tzinfo=UTC)  # 16:00 BST


def test_exceptions_and_closures():
    assert lesson(WEEKLY, date(2025, 1, 13), None).status == SCHEDULED
    assert lesson(WEEKLY, date(2025, 1, 13), {"action": "cancel"}).status == CANCELLED
    moved = lesson(
        WEEKLY,
        date(2025, 1, 13),
        {"action": "move", "starts_at": "2025-01-14T10:00:00+00:00", "ends_at": "2025-01-14T11:00:00+00:00"},
    )
    assert (moved.status, moved.starts_at) == (MOVED, datetime(2025, 1, 14, 10, tzinfo=UTC))
    closed = lesson(WEEKLY, date(2025, 1, 13), {"action": "move", "starts_at": "x", "ends_at": "y"}, closure="Winter break")
    assert (closed.status, closed.reason) == (CANCELLED, "closure: Winter break")


def test_orphans_from_removed_student_or_lost_date():
    keys = ["2025-01-06#a", "2025-01-13#b", "2025-01-27#a"]
    shorter = ScheduleTimes(WEEKLY.starts_at, WEEKLY.ends_at, "weekly", date(2025, 1, 20))
    assert orphaned(keys, shorter, ["a", "b"]) == [(date(2025, 1, 27), "a")]
    assert orphaned(keys, WEEKLY, ["a"]) == [(date(2025, 1, 13), "b")]
    assert orphaned(keys, WEEKLY, ["a", "b"]) == []
