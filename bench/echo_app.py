"""The bare-echo HTTP ceiling: Flask under gunicorn gthread that only parses the body.

Its POST endpoint accepts any path (so the same wrk script and body as the service's
``:predict`` target apply), parses the JSON body with orjson - the work every JSON request
costs before any model runs - and returns a constant prediction-sized answer. Whatever the
service does beyond this (routing, validation, numpy, batching, the model, metrics, logs)
is what separates it from this ceiling.
"""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

# Shaped like the digits model's answer, so response sizes match the real endpoint.
ANSWER = orjson.dumps({"predictions": [[0.1] * 10]})


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status": "alive"}', mimetype="application/json")

    @app.post("/<path:_path>")
    def echo(_path: str) -> Response:
        """Parse the JSON body and answer a constant."""
        orjson.loads(request.get_data())
        return Response(ANSWER, mimetype="application/json")

    return app
