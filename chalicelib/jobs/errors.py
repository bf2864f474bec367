"""How a job body tells the runtime what a failure means (raise one of these from a job function)."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job can never succeed as it stands (bad input, corrupt file): fail now, do not retry."""


class TransientJobError(Exception):
    """Worth another try later (throttling, a dependency down): SQS redelivers."""


class RetryLater(Exception):
    """Raised to hand a record back to SQS after its redelivery delay has been set."""
