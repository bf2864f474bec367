"""Metrics rules: UTC bucket boundaries, the range a request reads, percentiles from fixed histograms."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.core import rollups
from chalicelib.jobs import rollups as job_rollups
from chalicelib.metrics import domain, prices

NOW = datetime(2026, 12, 4, 12, 30, 15, tzinfo=UTC)


def test_the_scheme_and_the_reads_agree_on_steps_and_retention():
    assert (domain.MINUTE, domain.HOUR) == rollups.STEPS
    assert domain.STEP_S == rollups.STEP_S and domain.KEEP_S == rollups.KEEP_S


def test_bucket_boundaries_are_utc_midnight_and_the_hour():
    before = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    after = datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert rollups.sort_key(rollups.bucket_start(before, rollups.MINUTE)) == "2026-12-31T23:59:00Z"
    assert rollups.sort_key(rollups.bucket_start(after, rollups.MINUTE)) == "2027-01-01T00:00:00Z"
    assert rollups.stamp(rollups.bucket_start(before, rollups.HOUR)) == "2026-12-31T23:00:00Z"
    assert rollups.stamp(rollups.bucket_start(after, rollups.HOUR)) == "2027-01-01T00:00:00Z"
    # an offset time is bucketed by its UTC instant: 00:30 in +01:00 is 23:30 UTC the day before
    local = datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert rollups.stamp(rollups.bucket_start(local, rollups.HOUR)) == "2026-12-31T23:00:00Z"


def test_ttl_outlives_the_readable_window():
    start = rollups.bucket_start(NOW, rollups.MINUTE)
    assert rollups.expires(start, rollups.MINUTE) > start + timedelta(hours=24, minutes=1)
    assert rollups.expires(start, rollups.HOUR) > start + timedelta(days=90, hours=1)


def test_the_default_range_is_the_last_24_hours_in_minutes():
    p = domain.plan(None, None, None, NOW)
    assert p.step == domain.MINUTE and p.first == datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    assert p.count == 1441 and p.end == datetime(2026, 12, 4, 12, 31, tzinfo=UTC)  # the current minute too


def test_longer_ranges_default_to_hours_and_a_boundary_to_is_exclusive():
    p = domain.plan(NOW - timedelta(days=7), datetime(2026, 12, 4, 12, tzinfo=UTC), None, NOW)
    assert p.step == domain.HOUR and p.count == 7 * 24 + 12 - 12
    assert domain.plan(datetime(2026, 12, 4, 11, tzinfo=UTC), datetime(2026, 12, 4, 12, tzinfo=UTC), "minute", NOW).count == 60


@pytest.mark.parametrize(
    ("start", "end", "step", "field"),
    [
        (NOW, NOW, None, "from"),  # empty
        (NOW - timedelta(hours=26), NOW, "minute", "step"),  # 1,561 buckets
        (NOW - timedelta(hours=24, minutes=5), NOW - timedelta(hours=23), "minute", "from"),  # minutes are kept 24 h
        (NOW - timedelta(days=91), NOW - timedelta(days=90), "hour", "from"),  # hours 90 days
    ],
)
def test_refused_ranges_name_the_parameter(start, end, step, field):
    with pytest.raises(domain.RangeError) as exc:
        domain.plan(start, end, step, NOW)
    assert exc.value.field == field


def _histogram(values_ms: list[float]) -> list[int]:
    counts = [0] * rollups.HIST_BUCKETS
    for v in values_ms:
        counts[rollups.hist_index(v)] += 1
    return counts


def _width(value: float) -> float:
    i = rollups.hist_index(value)
    low = 0 if i == 0 else rollups.EDGES_MS[i - 1]
    return rollups.EDGES_MS[min(i, len(rollups.EDGES_MS) - 1)] - low


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "bimodal"])
def test_p50_p95_from_the_histogram_within_one_bucket_width(dist):
    rng = random.Random(19)
    if dist == "lognormal":
        values = [rng.lognormvariate(7, 1.2) for _ in range(5000)]  # median ~1.1 s
    elif dist == "uniform":
        values = [rng.uniform(0, 60_000) for _ in range(5000)]
    else:
        values = [rng.gauss(40, 5) for _ in range(4000)] + [rng.gauss(20_000, 2000) for _ in range(1000)]
    counts = _histogram(values)
    ordered = sorted(values)
    for q in (0.5, 0.95):
        true = ordered[int(q * len(ordered)) - 1]
        got = domain.percentile(counts, rollups.EDGES_MS, q)
        assert got is not None and abs(got - true) <= _width(true), (q, got, true)


def test_percentiles_of_nothing_and_of_the_open_bucket():
    assert domain.percentile([0] * rollups.HIST_BUCKETS, rollups.EDGES_MS, 0.5) is None
    assert domain.percentile(_histogram([2_000_000]), rollups.EDGES_MS, 0.95) == 900_000  # above 900 s: its lower edge


def test_a_transition_counts_what_it_means():
    at = NOW

    class J:
        updated_at = NOW - timedelta(seconds=3)
        started_at = NOW - timedelta(milliseconds=40)

    assert job_rollups.fields(None, "queued", at=at) == {"enqueued": 1}
    assert job_rollups.fields("queued", "running", at=at, job=J) == {"started": 1, "wait:08": 1}  # 3 s: (2.5 s, 5 s]
    assert job_rollups.fields("running", "succeeded", at=at, job=J, result={"rollup": {"bytes_in": 5, "x": "no"}}) == {
        "succeeded": 1,
        "run:02": 1,  # 40 ms: (25, 50]
        "x:bytes_in": 5.0,
    }
    assert job_rollups.fields("running", "queued", at=at, job=J) == {"retried": 1, "run:02": 1}
    assert job_rollups.fields("failed", "queued", at=at, job=J) == {"retried": 1}
    assert job_rollups.fields("queued", "cancelled", at=at, job=J) == {}


def test_media_cost_per_video_minute_and_per_day():
    buckets = [
        {"t": "2026-12-03T23:00:00Z", "jobs": 1, "video_seconds": 60.0, "gb_seconds": 15.0},
        {"t": "2026-12-04T00:00:00Z", "jobs": 1, "video_seconds": 120.0, "gb_seconds": 30.0},
        {"t": "2026-12-04T01:00:00Z", "jobs": 0, "video_seconds": 0.0, "gb_seconds": 0.0},
    ]
    cost = prices.media_cost(buckets)
    assert cost["gb_seconds_per_video_minute"] == 15.0
    assert cost["lambda_usd_per_video_minute"] == pytest.approx(15 * prices.LAMBDA_USD_PER_GB_S)
    assert [d["date"] for d in cost["per_day"]] == ["2026-12-03", "2026-12-04"]
    assert cost["per_day"][1]["mediaconvert_usd"] == pytest.approx(2 * prices.MEDIACONVERT_BASIC_HD_USD_PER_MIN)
    assert prices.media_cost([])["gb_seconds_per_video_minute"] is None


def test_extreme_times_are_refused_not_crashed():
    with pytest.raises(domain.RangeError):
        domain.plan(None, datetime(1, 1, 1, tzinfo=UTC), None, NOW)
    with pytest.raises(domain.RangeError):
        domain.plan(datetime(1, 1, 1, tzinfo=UTC), None, "hour", NOW)
    with pytest.raises(domain.RangeError):
        domain.plan(None, datetime(9999, 12, 31, 23, 59, tzinfo=UTC), "minute", NOW)
