"""Schemathesis against the service's own OpenAPI document: generated requests, valid and
invalid, for every operation; none may crash the server (500, or any undocumented status),
and every answer must match the document (status, content type, schema). 501 and 503 are
documented answers (a verb a model's task lacks; a model not loaded), not crashes.

Driven through Hypothesis directly, one operation at a time on the started in-process app
(schemathesis' pytest plugin does not run under this pytest version)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)


@schemathesis.check
def no_crash(ctx, response, case):
    """An internal error (500) or a gateway-style 502 is a crash; every answer is JSON."""
    if response.status_code in (500, 502):
        raise AssertionError(f"{response.status_code}: {response.text[:300]}")


CHECKS = [
    no_crash,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation; derandomized, so every run sends the same cases


def operations(app) -> dict:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


@pytest.fixture(scope="module")
def ready_app(tiny_models):
    """Every model loads (no deliberately broken one: /readyz answers 200 here)."""
    from service.settings import Settings
    from tests.conftest import serving_app

    settings = Settings(model_repository=tiny_models, poll_interval_s=0, grpc_port=0)
    with serving_app(settings) as app:
        yield app


def test_every_operation_survives_generated_requests(ready_app):
    app = ready_app
    failures = {}
    found = operations(app)
    assert len(found) >= 20, sorted(found)
    for label, operation in sorted(found.items()):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collected, reported together below
            failures[label] = str(exc)[:1500]
    if failures:
        pytest.fail("\n\n".join(f"{k}:\n{v}" for k, v in failures.items()))
