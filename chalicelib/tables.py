"""Every pynamodb model, in one list: the infra template and the local stack build tables from it."""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.alerts.store import Alert, AlertLog
from chalicelib.core.audit import AuditEntry
from chalicelib.core.rollups import Rollup
from chalicelib.customers.store import Customer
from chalicelib.incidents.store import Incident, IncidentGroup, IncidentLink, RateCounter, TimelineEntry
from chalicelib.jobs.ledger import Job, JobDedupe
from chalicelib.media.store import Homework, Video
from chalicelib.monitors.store import MonitorRun
from chalicelib.schedules.store import Attendance, Closure, Schedule, ScheduleMember
from chalicelib.students.store import Student
from chalicelib.tasks.store import Task, TaskInstance

ALL_MODELS: list[type[Model]] = [Student, AuditEntry, Job, JobDedupe, Homework, Video, Incident, IncidentGroup, RateCounter]
ALL_MODELS += [Schedule, ScheduleMember, Attendance, Task, TaskInstance]
ALL_MODELS += [Customer]
ALL_MODELS += [Closure]
ALL_MODELS += [MonitorRun]
ALL_MODELS += [TimelineEntry]
ALL_MODELS += [IncidentLink]
ALL_MODELS += [Rollup]
ALL_MODELS += [Alert, AlertLog]
