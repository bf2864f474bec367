"""Academy Ops: the Chalice application. Wiring only: capabilities live in chalicelib/."""

from chalice import Chalice

# isort: off
# The OpenAPI document lists routes in the order their modules are imported: students, schedules and tasks first.
from chalicelib.students.routes import bp as students_bp
from chalicelib.schedules.routes import bp as schedules_bp
from chalicelib.tasks.routes import bp as tasks_bp

# isort: on
from chalicelib.console.routes import bp as console_bp
from chalicelib.core.middleware import correlation, flush_metrics
from chalicelib.incidents.routes import bp as incidents_bp
from chalicelib.integrity.routes import bp as integrity_bp
from chalicelib.jobs.handlers import bp as job_handlers_bp
from chalicelib.jobs.routes import bp as jobs_bp
from chalicelib.media.routes import bp as media_bp
from chalicelib.system.routes import bp as system_bp
from chalicelib.tasks.jobs import bp as task_jobs_bp

app = Chalice(app_name="academy-ops")
app.register_middleware(correlation, "http")
app.register_middleware(flush_metrics, "all")
BLUEPRINTS = (
    system_bp,
    students_bp,
    schedules_bp,
    tasks_bp,
    task_jobs_bp,
    media_bp,
    incidents_bp,
    jobs_bp,
    job_handlers_bp,
    console_bp,
)
for blueprint in (*BLUEPRINTS, integrity_bp):
    app.register_blueprint(blueprint)
