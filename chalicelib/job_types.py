"""The catalog of job types: every capability's ``jobs.py``, imported for its registrations.

Add a line here when a capability gains its first job type (see chalicelib/jobs/registry.py).
"""

from chalicelib.academic import jobs as academic_jobs
from chalicelib.jobs import builtin
from chalicelib.media import jobs as media_jobs

__all__ = ["academic_jobs", "builtin", "media_jobs"]
