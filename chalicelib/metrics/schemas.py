"""Request and response models of metrics/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.core.schema import Out, Query
from chalicelib.core.validators import EntityId, Timestamp

JobTypeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Area = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+){0,15}$")]


class RangeQuery(Query):
    from_: Timestamp | None = Field(None, alias="from", description="Start (ISO 8601 UTC); default: 24 h before 'to'.")
    to: Timestamp | None = Field(None, description="End, exclusive (ISO 8601 UTC); default: now.")
    step: Literal["minute", "hour"] | None = Field(
        None, description="Bucket width; default minute for ranges up to 24 h, else hour. At most 1,500 buckets."
    )


class JobsMetricsQuery(RangeQuery):
    type: JobTypeName | None = Field(None, description="One job type; none: one series per type seen in the range.")


class IncidentsMetricsQuery(RangeQuery):
    area: Area | None = None
    group: EntityId | None = Field(None, description="One incident group id.")


class Percentiles(Out):
    p50: float | None = Field(description="Interpolated within its histogram bucket; null: no samples.")
    p95: float | None
    count: int


class JobBucket(Out):
    t: str
    enqueued: int
    started: int
    succeeded: int
    failed: int
    retried: int
    run_ms: Percentiles
    wait_ms: Percentiles


class JobSeries(Out):
    type: str
    buckets: list[JobBucket]


class JobsMetricsOut(Out):
    step: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    series: list[JobSeries]


class IncidentBucket(Out):
    t: str
    stored: int
    suppressed: int


class IncidentSeries(Out):
    group_id: str | None
    area: str
    buckets: list[IncidentBucket]


class IncidentsMetricsOut(Out):
    step: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    series: list[IncidentSeries]
    total: list[IncidentBucket]


class MediaBucket(Out):
    t: str
    jobs: int
    bytes_in: int
    bytes_out: int
    video_seconds: float
    worker_seconds: float
    gb_seconds: float = Field(description="Lambda GB-seconds billed: configured memory x worker seconds.")
    peak_memory_mb: float | None


class CostDay(Out):
    date: str
    video_minutes: float
    lambda_usd: float
    mediaconvert_usd: float


class MediaCost(Out):
    prices_as_of: str
    lambda_usd_per_gb_s: float
    gb_seconds_per_video_minute: float | None
    lambda_usd_per_video_minute: float | None
    mediaconvert_usd_per_video_minute: float
    per_day: list[CostDay]


class MediaMetricsOut(Out):
    step: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    buckets: list[MediaBucket]
    cost: MediaCost


class SchedulerBucket(Out):
    t: str
    runs: int
    created: int = Field(description="Task instances created by the bucket's runs.")
    skipped: int = Field(description="Runs that found the instance-writer lease held and wrote nothing.")


class SchedulerSeries(Out):
    function: str
    buckets: list[SchedulerBucket]


class SchedulerMetricsOut(Out):
    step: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    series: list[SchedulerSeries]


class RouteCapacity(Out):
    route: str = Field(description="Method and route template, e.g. 'GET /admin/jobs/{job_id}'.")
    requests: int
    read_units: float
    write_units: float
    read_units_per_request: float
    write_units_per_request: float
    usd_per_million_requests: float = Field(description="DynamoDB on-demand list price of a million such requests.")


class CapacityMetricsOut(Out):
    step: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    prices_as_of: str
    usd_per_million_read_units: float
    usd_per_million_write_units: float
    routes: list[RouteCapacity]
