"""Open Inference Protocol (KServe V2) over REST: health, metadata, infer, repository.

Speaks what ``tritonclient.http`` and KServe clients expect (see shared PROTOCOLS.md,
section 2): binary tensors and classification from Triton's extensions, and the model
repository extension (load/unload guarded by the admin token when one is configured).
Versions are the repository's numeric versions; labels are a TF Serving (v1/gRPC) notion.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import metadata as package_metadata
from pathlib import Path

from flask import Blueprint, Response, request

from modelcard import ClassificationTask, parse_version
from service.codecs import v2
from service.codecs.json_body import parse_json_object, refuse_unknown_keys
from service.dataplane import InferRequest
from service.errors import InvalidInput, Unavailable, VersionNotFound
from service.http import current_record, dataplane, json_response, request_body, resolve
from service.served_model import ServedModel

bp = Blueprint("rest_v2", __name__)

SERVER_NAME = "keras-serving"
# Only what this server really implements.
EXTENSIONS = ["binary_tensor_data", "classification", "model_repository"]
PLATFORM = "tensorflow_savedmodel"


@functools.cache
def server_version() -> str:
    try:
        return package_metadata.version(SERVER_NAME)
    except package_metadata.PackageNotFoundError:  # run from a source checkout
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _version(name: str, version: str | None) -> int | None:
    if version is None:
        return None
    number = parse_version(version)
    if number is None:
        raise VersionNotFound(f"version '{version}' of model '{name}' is not available")
    return number


def _resolve(name: str, version: str | None) -> ServedModel:
    return resolve(name, _version(name, version))


# ---- health and metadata ---------------------------------------------------------------
@bp.get("/v2/health/live")
def server_live():
    """200 while the process serves (empty body, as the protocol asks)."""
    return _empty()


@bp.get("/v2/health/ready")
def server_ready():
    """200 when every model of the repository has a loaded version, else 503."""
    reasons = dataplane().not_ready()
    if reasons:
        raise Unavailable("not ready: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    return _empty()


@bp.get("/v2")
def server_metadata():
    """Server name, version and the protocol extensions it supports."""
    return json_response(
        {"name": SERVER_NAME, "version": server_version(), "extensions": EXTENSIONS}
    )


@bp.get("/v2/models/<name>")
@bp.get("/v2/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None):
    """Inputs and outputs of the default signature, and every loaded version."""
    model = _resolve(name, version)
    signature = model.signature(None)
    meta = dataplane().metadata(model)
    return json_response(
        {
            "name": model.name,
            "versions": [str(v) for v in meta.available_versions],
            "platform": PLATFORM,
            "inputs": [v2.tensor_metadata(s) for s in signature.inputs.values()],
            "outputs": [v2.tensor_metadata(s) for s in signature.outputs.values()],
        }
    )


@bp.get("/v2/models/<name>/ready")
@bp.get("/v2/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None):
    """200 when the model (version) can serve; 404 unknown, 503 not loaded."""
    _resolve(name, version)
    return _empty()


# ---- inference -------------------------------------------------------------------------
@bp.post("/v2/models/<name>/infer")
@bp.post("/v2/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None):
    """Run the default signature; JSON or binary tensors in and out."""
    model = _resolve(name, version)
    signature = model.signature(None)
    decoded = v2.decode_request(
        request_body(), request.headers.get(v2.HEADER_LENGTH), signature.inputs
    )
    result = dataplane().infer(
        InferRequest(
            model, decoded.inputs, signature.name, decoded.output_names, current_record().deadline
        )
    )
    body, header_length = v2.encode_response(
        model.name, str(model.version), decoded, result.outputs, _labels(model)
    )
    if header_length is None:
        return Response(body, mimetype="application/json")
    return Response(
        body, mimetype="application/octet-stream", headers={v2.HEADER_LENGTH: str(header_length)}
    )


def _labels(model: ServedModel):
    """Labels for the classification extension: the card's, on the card's output only."""
    task = model.card.task if model.card is not None else None

    def labels_of(output: str) -> list[str] | None:
        if isinstance(task, ClassificationTask) and output == task.output:
            return task.labels
        return None

    return labels_of


# ---- model repository extension ---------------------------------------------------------
@bp.post("/v2/repository/index")
def repository_index():
    """Every model in the repository with its state; ``{"ready": true}`` keeps ready ones."""
    data = request_body()
    body = parse_json_object(data) if data.strip() else {}
    refuse_unknown_keys(body, {"ready"}, "the repository index body")
    ready_only = body.get("ready", False)
    if not isinstance(ready_only, bool):
        raise InvalidInput("'ready' must be true or false")
    return json_response(dataplane().repository_index(ready_only))


@bp.post("/v2/repository/models/<name>/load")
def repository_load(name: str):
    """(Re)load a model from the repository directory; 200 once a version serves."""
    dataplane().load(name, _bearer_token(), _admin_parameters())
    return _empty()


@bp.post("/v2/repository/models/<name>/unload")
def repository_unload(name: str):
    """Unload every version of a model until it is loaded again (readiness ignores it)."""
    _admin_parameters()
    dataplane().unload(name, _bearer_token())
    return _empty()


def _bearer_token() -> str | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else None


def _admin_parameters() -> dict:
    data = request_body()
    if not data.strip():
        return {}
    body = parse_json_object(data)
    refuse_unknown_keys(body, {"parameters"}, "the repository load/unload body")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    return parameters


def _empty() -> Response:
    """200 with an empty body: the protocol's answer for health and repository calls."""
    return Response(b"", status=200, mimetype="text/plain")
