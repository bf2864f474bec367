"""The cost model's prices: dated list prices in ONE place (pure; change them here, with the date).

Public on-demand list prices, US East (N. Virginia), USD. Copied from the pages named beside each one
as published on PRICES_AS_OF; not fetched at run time (the stack needs no network to price itself).
Re-check the sources before quoting a figure to anyone who pays the bill.

Checked on 2026-12-04 against public copies of the pages (no direct AWS access from the build machine):
Lambda x86 $0.0000166667/GB-s (first tier) and $0.20 per million requests (AWS whitepaper "How AWS
Pricing Works", Lambda); DynamoDB on-demand $0.625 per million WRU and $0.125 per million RRU after the
2024-11-01 cut (several dated secondary sources agree). MediaConvert is NOT confirmed from a primary
source: since 2024-09 it bills "normalized minutes" with monthly volume tiers, and the Basic tier's
first-tier rates below are the per-output-minute list prices (SD/HD, AVC, single pass, <= 30 fps) from
before that change; a higher monthly volume only lowers them, so the comparison errs in MediaConvert's
disfavour at most by its tier discount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

PRICES_AS_OF = "2024-11-01"  # the last change among these: DynamoDB on-demand's price cut of 2024-11-01

# https://aws.amazon.com/lambda/pricing/ — x86, first 6 billion GB-s per month tier; requests.
LAMBDA_USD_PER_GB_S = 0.0000166667
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000

# https://aws.amazon.com/mediaconvert/pricing/ — Basic tier, per minute of output, by output resolution
# (SD: below 720 lines; HD: 720 to 1080). Our output is one 720p rendition: the HD price.
MEDIACONVERT_BASIC_SD_USD_PER_MIN = 0.0075
MEDIACONVERT_BASIC_HD_USD_PER_MIN = 0.015

# https://aws.amazon.com/dynamodb/pricing/on-demand/ — standard table class, per million request units.
DYNAMODB_USD_PER_MILLION_WRU = 0.625
DYNAMODB_USD_PER_MILLION_RRU = 0.125

# The media worker's configured memory (.chalice/config.json's default lambda_memory_size) when the
# worker runs outside Lambda; on Lambda it is AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
DEFAULT_WORKER_MEMORY_MB = 512


def _ratio(a: float, b: float) -> float | None:
    return None if b <= 0 else a / b


def media_cost(buckets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Lambda's measured cost per video minute beside MediaConvert's list price for the same output,
    and both per UTC day of ``buckets`` (the media route's buckets, with ``gb_seconds``)."""
    days: dict[str, dict[str, float]] = defaultdict(lambda: {"video_seconds": 0.0, "gb_seconds": 0.0, "jobs": 0.0})
    for b in buckets:
        day = days[str(b["t"])[:10]]
        day["video_seconds"] += float(b.get("video_seconds") or 0)
        day["gb_seconds"] += float(b.get("gb_seconds") or 0)
        day["jobs"] += float(b.get("jobs") or 0)
    video_min = sum(d["video_seconds"] for d in days.values()) / 60
    gb_s = sum(d["gb_seconds"] for d in days.values())
    per_min = _ratio(gb_s, video_min)
    return {
        "prices_as_of": PRICES_AS_OF,
        "lambda_usd_per_gb_s": LAMBDA_USD_PER_GB_S,
        "gb_seconds_per_video_minute": None if per_min is None else round(per_min, 3),
        "lambda_usd_per_video_minute": None if per_min is None else round(per_min * LAMBDA_USD_PER_GB_S, 10),
        "mediaconvert_usd_per_video_minute": MEDIACONVERT_BASIC_HD_USD_PER_MIN,
        "per_day": [
            {
                "date": date,
                "video_minutes": round(d["video_seconds"] / 60, 3),
                "lambda_usd": round(d["gb_seconds"] * LAMBDA_USD_PER_GB_S + d["jobs"] * LAMBDA_USD_PER_REQUEST, 6),
                "mediaconvert_usd": round(d["video_seconds"] / 60 * MEDIACONVERT_BASIC_HD_USD_PER_MIN, 6),
            }
            for date, d in sorted(days.items())
        ],
    }


def dynamodb_usd(read_units: float, write_units: float) -> float:
    return read_units * DYNAMODB_USD_PER_MILLION_RRU / 1e6 + write_units * DYNAMODB_USD_PER_MILLION_WRU / 1e6
