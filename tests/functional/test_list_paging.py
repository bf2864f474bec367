"""Filtered lists read a bounded number of DynamoDB pages, and following the cursor finds every match."""

from __future__ import annotations

from chalicelib.core import audit, db


def test_a_rare_filter_match_never_reads_the_whole_partition(aws):
    actor = {"role": "admin", "id": "a1"}
    audit.record(actor, "rare.action", "x:1")  # the oldest entry: last in newest-first order
    for i in range(60):
        audit.record(actor, "common.action", f"x:{i}")
    client = audit.AuditEntry._get_connection().connection.client
    queries: list[int] = []

    def count(**kwargs):
        queries.append(1)

    client.meta.events.register("before-call.dynamodb.Query", count, unique_id="count-queries")
    try:
        found, token, calls_per_list = [], None, []
        while True:
            before = len(queries)
            items, token = audit.list_entries(5, token, actor_id="a1", action="rare.action")
            calls_per_list.append(len(queries) - before)
            found += items
            if not token:
                break
    finally:
        client.meta.events.unregister("before-call.dynamodb.Query", unique_id="count-queries")
    assert [e.action for e in found] == ["rare.action"]
    assert max(calls_per_list) <= db.MAX_PAGES_PER_LIST  # 61 entries at 5 a page would be 13 reads otherwise
    assert len(calls_per_list) > 1  # the match took several bounded requests to reach


def test_an_unfiltered_page_is_full_and_the_cursor_resumes_exactly(aws):
    actor = {"role": "admin", "id": "a2"}
    for i in range(12):
        audit.record(actor, "step", f"x:{i}")
    seen, token = [], None
    while True:
        items, token = audit.list_entries(5, token, actor_id="a2")
        assert len(items) == 5 or not token
        seen += [e.target for e in items]
        if not token:
            break
    assert seen == [f"x:{i}" for i in reversed(range(12))]
