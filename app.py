"""Academy Ops: the Chalice application. Wiring only: capabilities live in chalicelib/."""

from chalice import Chalice

from chalicelib.alerts.routes import bp as alerts_bp
from chalicelib.console.routes import bp as console_bp
from chalicelib.core.api import register_blueprints
from chalicelib.core.middleware import correlation, flush_metrics
from chalicelib.customers.routes import bp as customers_bp
from chalicelib.incidents import capture
from chalicelib.incidents.routes import bp as incidents_bp
from chalicelib.integrity.jobs import bp as integrity_jobs_bp
from chalicelib.integrity.routes import bp as integrity_bp
from chalicelib.jobs.handlers import bp as job_handlers_bp
from chalicelib.media.routes import bp as media_bp
from chalicelib.metrics.routes import bp as metrics_bp
from chalicelib.monitors.jobs import bp as monitor_jobs_bp
from chalicelib.monitors.routes import bp as monitors_bp
from chalicelib.operations.routes import bp as operations_bp
from chalicelib.schedules.routes import bp as schedules_bp
from chalicelib.students.routes import bp as students_bp
from chalicelib.system.routes import bp as system_bp
from chalicelib.tasks.jobs import bp as task_jobs_bp
from chalicelib.tasks.routes import bp as tasks_bp

app = Chalice(app_name="academy-ops")
app.register_middleware(correlation, "http")
app.register_middleware(flush_metrics, "all")
# The order of the OpenAPI document: a new capability's routes go where its section should read.
BLUEPRINTS = (
    students_bp,
    customers_bp,
    schedules_bp,
    tasks_bp,
    console_bp,
    incidents_bp,
    integrity_bp,
    operations_bp,
    media_bp,
    metrics_bp,
    system_bp,
    monitors_bp,
    alerts_bp,
    # event handlers only: the job queues and their dead-letter queues, and the scheduled functions
    job_handlers_bp,
    task_jobs_bp,
    integrity_jobs_bp,
    monitor_jobs_bp,
)
register_blueprints(app, BLUEPRINTS)
capture.install()  # unhandled route and job errors become incidents, in every function (each one's module is this one)
