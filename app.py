"""Academy Ops: the Chalice application. Wiring only: capabilities live in chalicelib/."""

from chalice import Chalice

from chalicelib.academic.routes import bp as academic_bp
from chalicelib.middleware import correlation
from chalicelib.system import bp as system_bp

app = Chalice(app_name="academy-ops")
app.api.cors = False
app.register_middleware(correlation, "http")
app.register_blueprint(system_bp)
app.register_blueprint(academic_bp)
