"""Every HTTP operation of the service, as data: path template, method, bodies, errors.

The OpenAPI document is built from this table and the body models of
:mod:`service.api.schemas`; the tests hold the table to the app's URL map (every Flask
rule documented, every documented path routed) and real responses to its schemas.

TF Serving's model URLs are one Flask rule (``/v1/models/<path:rest>``, because a colon
verb cannot be a rule segment); here they are the real URL templates, once per way of
addressing a version (none, ``/versions/{version}``, ``/labels/{label}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from service.api.schemas import ops, tasks, tf_serving, v2
from service.console import schemas as console


@dataclass(frozen=True)
class Content:
    """A non-JSON (or empty) response body: its media type and what it holds."""

    media_type: str
    description: str


EMPTY = Content("text/plain", "empty body")
HTML = Content("text/html", "an HTML page")


@dataclass(frozen=True)
class Operation:
    """One documented HTTP operation: what it takes, what it answers, how it fails."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    ok: type[BaseModel] | Content = EMPTY  # the 200 response
    errors: tuple[int, ...] = ()
    binary: bool = False  # Triton's binary tensor extension on request and response
    admin: bool = False  # guarded by SERVING_ADMIN_TOKEN
    extra: dict[int, type[BaseModel]] = field(default_factory=dict)  # other non-error bodies


# Which version a v1 model URL addresses: (path suffix, operationId suffix, words).
V1_ADDRESSING = (
    ("", "", "the latest version"),
    ("/versions/{version}", "Version", "one version by number"),
    ("/labels/{label}", "Label", "the version a label points to"),
)
INFER_ERRORS = (400, 404, 413, 429, 503, 504)
TASK_VERBS = (
    ("classify", tasks.ClassifyRequest, tasks.ClassifyResponse, "Top-k labels per instance"),
    ("forecast", tasks.ForecastRequest, tasks.ForecastResponse, "The next steps of each series"),
    ("detect", tasks.DetectRequest, tasks.DetectResponse, "Anomaly score, threshold, verdict"),
)


def _v1_operations() -> list[Operation]:
    found = [
        Operation(
            "get", "/v1/models", "listModels", "Every model with versions and labels",
            "TensorFlow Serving REST", ok=tf_serving.ModelListResponse,
        )
    ]  # fmt: skip
    for suffix, op_suffix, words in V1_ADDRESSING:
        base = "/v1/models/{name}" + suffix
        tag = "TensorFlow Serving REST"
        found += [
            Operation(
                "get", base, f"getModelStatus{op_suffix}",
                f"Status of {words if suffix else 'every version'}", tag,
                ok=tf_serving.StatusResponse, errors=(404, 503),
            ),
            Operation(
                "get", base + "/metadata", f"getModelMetadata{op_suffix}",
                f"SignatureDefs and card of {words}", tag,
                ok=tf_serving.MetadataResponse, errors=(404, 503),
            ),
            Operation(
                "post", base + ":predict", f"predict{op_suffix}", f"Predict with {words}", tag,
                request=tf_serving.PredictRequest, ok=tf_serving.PredictResponse,
                errors=INFER_ERRORS,
            ),
        ]  # fmt: skip
        for verb, request, response, summary in TASK_VERBS:
            found.append(
                Operation(
                    "post", f"{base}:{verb}", f"{verb}{op_suffix}", f"{summary} ({words})",
                    "Task verbs", request=request, ok=response, errors=(*INFER_ERRORS, 501),
                )
            )  # fmt: skip
    return found


def _v2_operations() -> list[Operation]:
    tag, repo = "Open Inference Protocol (V2)", "V2 model repository"
    found = [
        Operation("get", "/v2/health/live", "serverLive", "Liveness", tag),
        Operation("get", "/v2/health/ready", "serverReady", "Readiness", tag, errors=(503,)),
        Operation("get", "/v2", "serverMetadata", "Server metadata", tag, ok=v2.ServerMetadata),
    ]
    for suffix, op_suffix in (("", ""), ("/versions/{version}", "Version")):
        base = "/v2/models/{name}" + suffix
        found += [
            Operation(
                "get", base, f"modelMetadata{op_suffix}", "Model metadata", tag,
                ok=v2.ModelMetadata, errors=(404, 503),
            ),
            Operation(
                "get", base + "/ready", f"modelReady{op_suffix}", "Model readiness", tag,
                errors=(404, 503),
            ),
            Operation(
                "post", base + "/infer", f"infer{op_suffix}", "Inference (JSON or binary)", tag,
                request=v2.InferRequest, ok=v2.InferResponse,
                errors=(400, 404, 413, 429, 503, 504), binary=True,
            ),
        ]  # fmt: skip
    found += [
        Operation(
            "post", "/v2/repository/index", "repositoryIndex", "Every model and its state", repo,
            request=v2.RepositoryIndexRequest, ok=v2.RepositoryIndex, errors=(400,),
        ),
        Operation(
            "post", "/v2/repository/models/{name}/load", "repositoryLoad",
            "(Re)load a model from the repository directory", repo,
            request=v2.RepositoryControlRequest, errors=(400, 401, 403, 404, 501, 503), admin=True,
        ),
        Operation(
            "post", "/v2/repository/models/{name}/unload", "repositoryUnload",
            "Unload every version of a model", repo,
            request=v2.RepositoryControlRequest, errors=(400, 401, 403, 404), admin=True,
        ),
    ]  # fmt: skip
    return found


def _ops_and_ui_operations() -> list[Operation]:
    tag, ui = "Operations", "Console and docs"
    prometheus = Content(CONTENT_TYPE_LATEST, "Prometheus text exposition")
    return [
        Operation("get", "/healthz", "healthz", "Liveness", tag, ok=ops.Alive),
        Operation(
            "get", "/readyz", "readyz", "Readiness with reasons", tag,
            ok=ops.Ready, extra={503: ops.NotReady},
        ),
        Operation("get", "/metrics", "metrics", "Prometheus metrics", tag, ok=prometheus),
        Operation(
            "get", "/openapi.json", "openapi", "This document", ui,
            ok=Content("application/json", "the OpenAPI 3.1 document"),
        ),
        Operation("get", "/docs", "docs", "Interactive API docs (Swagger UI)", ui, ok=HTML),
        Operation(
            "get", "/docs/static/{filename}", "docsAsset", "Swagger UI's files", ui,
            ok=Content("*/*", "a static file"), errors=(404,),
        ),
        Operation("get", "/", "console", "Web console: every model", ui, ok=HTML),
        Operation(
            "get", "/console/models/{name}", "consoleModel",
            "Web console: a model's card, plots and try-it panel", ui, ok=HTML, errors=(404, 503),
        ),
        Operation(
            "get", "/console/api/stats", "consoleStats",
            "Per-model request counts and latency sums (from /metrics)", ui,
            ok=console.Stats,
        ),
        Operation(
            "get", "/console/models/{name}/versions/{version}/report/{filename}",
            "consoleReportFile", "A training plot of a loaded version", ui,
            ok=Content("image/png", "a PNG plot"), errors=(404, 503),
        ),
        Operation(
            "get", "/console/models/{name}/versions/{version}/report.html",
            "consoleReportPage", "The self-contained training report page of a loaded version",
            ui, ok=HTML, errors=(404, 503),
        ),
        Operation(
            "get", "/console/static/{filename}", "consoleAsset", "The console's files", ui,
            ok=Content("*/*", "a static file"), errors=(404,),
        ),
    ]  # fmt: skip


def operations() -> list[Operation]:
    """Every documented operation, in document order."""
    return _v1_operations() + _v2_operations() + _ops_and_ui_operations()
