"""The catalog of job types: every capability's ``jobs.py``, imported for its registrations.

Add a line here when a capability gains its first job type (see chalicelib/jobs/registry.py).
"""

from chalicelib.alerts import jobs as alert_jobs
from chalicelib.jobs import builtin
from chalicelib.media import jobs as media_jobs
from chalicelib.schedules import jobs as schedule_jobs
from chalicelib.tasks import jobs as task_jobs

__all__ = ["alert_jobs", "builtin", "media_jobs", "schedule_jobs", "task_jobs"]
