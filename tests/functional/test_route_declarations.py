"""What ``route(audit=, ids=)`` promises every capability: one audit entry per admin write, whatever
the outcome, and one answer (404) for a malformed path id. Checked on a blueprint of its own, so the
behaviour is the platform's, not one capability's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client

from chalicelib.core import api, audit
from chalicelib.core.api import Audit, Req, route
from chalicelib.core.errors import Conflict, Missing


def _widgets_blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @route(
        bp,
        "/admin/widgets/{widget_id}",
        "POST",
        auth="admin",
        audit=Audit("widget.poke", target="widget:{widget_id}"),
        ids=("widget_id",),
    )
    def poke(req: Req[None, None], widget_id: str) -> dict[str, Any]:
        """Answers by the widget's name: a success, a refusal, a domain error or a crash."""
        assert req.audit is not None
        if widget_id == "busy":
            raise Conflict("busy", code="widget_busy")
        if widget_id == "gone":
            raise Missing("Widget gone does not exist.", code="widget_not_found", details={"widget_id": widget_id})
        if widget_id == "boom":
            raise RuntimeError("kaput")
        req.audit.result["pokes"] = 1
        return {"id": widget_id}

    @route(bp, "/admin/widgets", "POST", auth="admin", audit="widget.create", status=201)
    def create(req: Req[None, None]) -> dict[str, Any]:
        """The view names the new id as the target."""
        assert req.audit is not None
        req.audit.target = "widget:w-new"
        return {"id": "w-new"}

    return bp


@pytest.fixture
def widgets(aws):
    declared = len(api.ROUTES)
    app = Chalice(app_name="route-declarations")
    app.register_blueprint(_widgets_blueprint())
    try:
        with Client(app) as c:
            yield c
    finally:
        del api.ROUTES[declared:]  # the product's OpenAPI document never sees these


def _entries() -> list[dict[str, Any]]:
    items, _ = audit.list_entries(50, None, action=None)
    return [audit.to_dict(e) for e in items if e.action.startswith("widget.")]


def _post(client: Client, path: str, token: str) -> Any:
    return client.http.post(
        path, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body=json.dumps({})
    )


def test_each_outcome_records_one_entry_with_its_status(widgets, tokens):
    assert _post(widgets, "/admin/widgets/w1", tokens.admin).status_code == 200
    assert _post(widgets, "/admin/widgets/busy", tokens.admin).status_code == 409
    missing = _post(widgets, "/admin/widgets/gone", tokens.admin)
    assert missing.status_code == 404 and missing.json_body["error"]["code"] == "widget_not_found"
    assert _post(widgets, "/admin/widgets/boom", tokens.admin).status_code == 500
    assert _post(widgets, "/admin/widgets", tokens.admin).status_code == 201
    got = {e["target"]: e["result"] for e in _entries()}
    assert got == {
        "widget:w1": {"status": 200, "pokes": 1},
        "widget:busy": {"status": 409, "code": "widget_busy"},
        "widget:gone": {"status": 404, "code": "widget_not_found"},
        "widget:boom": {"status": 500, "error": "RuntimeError"},
        "widget:w-new": {"status": 201},
    }
    assert all(e["actor"] == {"role": "admin", "id": "admin-1"} for e in _entries())


def test_a_malformed_id_is_404_and_the_view_never_runs(widgets, tokens):
    r = _post(widgets, "/admin/widgets/bad!id", tokens.admin)
    assert r.status_code == 404
    assert r.json_body["error"]["code"] == "widget_not_found"
    assert r.json_body["error"]["details"] == {"widget_id": "bad!id"}
    assert [e["result"] for e in _entries()] == [{"status": 404, "code": "widget_not_found"}]  # a refused write is recorded too


def test_a_refused_caller_is_not_recorded(widgets, tokens):
    assert _post(widgets, "/admin/widgets/w1", tokens.customer_a).status_code == 403
    assert _entries() == []


def test_ids_must_name_path_parameters():
    with pytest.raises(ValueError, match="not path parameters"):  # refused before it is declared
        route(Blueprint("x"), "/admin/things", "GET", auth="admin", ids=("thing_id",))


def test_the_document_follows_registration_order_not_import_order():
    """Sorting app.py's imports (ruff does) must not reorder openapi.json: it lists blueprints as app.py registers them."""
    import subprocess
    import sys

    import app  # noqa: F401 - every route declared

    script = (
        "import importlib, json, sys\n"
        "for m in sys.argv[1:]: importlib.import_module(m)\n"
        "import app\n"
        "from chalicelib.core.api import openapi_document\n"
        "print(json.dumps(openapi_document(), default=str))\n"
    )
    modules = sorted({spec.module for spec in api.ROUTES if spec.module.startswith("chalicelib.")})
    assert len(modules) > 5
    docs = {
        subprocess.run([sys.executable, "-c", script, *order], capture_output=True, text=True, check=True).stdout
        for order in (modules, modules[::-1])
    }
    assert len(docs) == 1
