"""``/openapi.json`` and ``/docs``: the API description and Swagger UI, served locally.

Swagger UI's files come from the ``swagger-ui-py`` wheel (its ``static/`` directory), so
nothing is vendored here and no CDN is asked; the page is our own small template so that
Swagger UI's online validator badge (a request to an outside host) stays off.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, render_template

from service.api.rest_v2 import server_version
from service.http import json_response
from service.openapi.document import document

SWAGGER_UI_FILES = Path(swagger_ui.__file__).resolve().parent / "static"

bp = Blueprint(
    "docs",
    __name__,
    template_folder="templates",
    static_folder=str(SWAGGER_UI_FILES),
    static_url_path="/docs/static",
)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 description of every HTTP route."""
    return json_response(document(server_version()))


@bp.get("/docs")
def docs() -> str:
    """Swagger UI on ``/openapi.json``."""
    return render_template("openapi/swagger.html")
