"""The SQS queues the product runs on: one place for names, timeouts and redrive.

Lambda rule of thumb (AWS): a queue's visibility timeout is at least 6x its consumer's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.settings import get_settings

RETENTION_SECONDS = 14 * 24 * 3600  # SQS maximum; the job ledger keeps failures beyond it


@dataclass(frozen=True)
class QueueSpec:
    short: str  # logical name; the SQS name is academy-<stage>-<short>
    handler: str  # the Chalice SQS handler (function) consuming it
    function_timeout: int  # seconds (Lambda max 900)
    memory_mb: int
    ephemeral_mb: int  # /tmp size (512..10240)
    max_receive_count: int
    batch_size: int
    dead_letter_timeout: int = 30  # seconds: the timeout of the function consuming the dead-letter queue

    @property
    def visibility_timeout(self) -> int:
        return min(43200, 6 * self.function_timeout)

    @property
    def dead_letter_visibility_timeout(self) -> int:
        return min(43200, 6 * self.dead_letter_timeout)

    @property
    def name(self) -> str:
        return get_settings().queue_name(self.short)

    @property
    def dlq_name(self) -> str:
        return get_settings().queue_name(f"{self.short}-dlq")


QUEUES: dict[str, QueueSpec] = {
    # General background work: large schedule deletions, backfills.
    "jobs": QueueSpec(
        "jobs", "run_jobs", function_timeout=300, memory_mb=512, ephemeral_mb=512, max_receive_count=5, batch_size=10
    ),
    # Video optimisation: long, disk-heavy, one video per invocation.
    "media": QueueSpec(
        "media", "run_media_jobs", function_timeout=900, memory_mb=2048, ephemeral_mb=10240, max_receive_count=3, batch_size=1
    ),
}
