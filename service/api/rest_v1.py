"""TensorFlow Serving REST API v1: status, metadata and predict (see shared PROTOCOLS.md)."""

from __future__ import annotations

from flask import Blueprint, request
from google.protobuf import json_format

from service.api.tasks import TASK_VERBS
from service.api.urls import ModelUrl, parse_model_url
from service.codecs.signature_defs import signature_def_map
from service.codecs.tensor_json import parse_tensor_json
from service.codecs.tf_rest import decode_predict, encode_outputs
from service.dataplane import DataPlane, InferRequest
from service.errors import InvalidInput, MethodNotAllowed, NotFound
from service.http import current_record, dataplane, json_response, request_body, resolve
from service.recorder import RequestRecord
from service.repository import VersionStatus

bp = Blueprint("rest_v1", __name__)


@bp.get("/v1/models")
def list_models():
    """Every model in the repository with its versions' states and its labels."""
    return json_response(
        {
            "models": [
                {
                    "name": summary.name,
                    "labels": summary.labels,
                    "model_version_status": [_status_json(s) for s in summary.versions],
                }
                for summary in dataplane().models()
            ]
        }
    )


@bp.route("/v1/models/<path:rest>", methods=["GET", "POST"])
def model_url(rest: str):
    """Dispatch TF Serving's model URLs (a colon verb cannot be a Flask rule segment)."""
    url = parse_model_url(rest, request.method)
    record = current_record()
    if request.method == "GET":
        if url.verb is not None:
            raise MethodNotAllowed(f"{url.verb} requires POST")
        record.relabel(endpoint="metadata" if url.metadata else "status")
        return metadata(url) if url.metadata else status(url)
    if url.verb is None or url.metadata:
        raise MethodNotAllowed(f"POST is not allowed on /v1/models/{rest}")
    if url.verb == "predict":
        record.relabel(endpoint="predict")
        return predict(url)
    if url.verb in TASK_VERBS:
        record.relabel(api="task", endpoint=url.verb)
        return TASK_VERBS[url.verb](url)
    # Not the verb itself: a label value per verb a client makes up would grow every scrape.
    record.relabel(endpoint="unknown")
    raise NotFound(
        f"unknown verb ':{url.verb}'; supported: predict, " + ", ".join(sorted(TASK_VERBS))
    )


def status(url: ModelUrl):
    if url.version is not None or url.label is not None:
        model = resolve(url.name, url.version, url.label)
        versions = dataplane().status(url.name, model.version)
    else:
        versions = dataplane().status(url.name)
    return json_response({"model_version_status": [_status_json(s) for s in versions]})


def _status_json(s: VersionStatus) -> dict:
    return {
        "version": str(s.version),
        "state": s.state,
        "status": {"error_code": s.error_code, "error_message": s.error_message},
    }


def metadata(url: ModelUrl):
    model = resolve(url.name, url.version, url.label)
    meta = dataplane().metadata(model)
    body = {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {
            "signature_def": json_format.MessageToDict(
                signature_def_map(meta.signature_defs), preserving_proto_field_name=True
            )
        },
    }
    if model.card is not None:
        body["card"] = model.card.model_dump(
            mode="json", include={"task", "description", "architecture", "metrics"}
        )
    return json_response(body)


def predict(url: ModelUrl):
    return json_response(run_predict(dataplane(), url, request_body(), current_record()))


def run_predict(plane: DataPlane, url: ModelUrl, body_bytes: bytes, record: RequestRecord) -> dict:
    """``:predict`` on a request body: the answer as JSON-ready data. Shared by the Flask
    view and the WSGI fast path (service/api/fast_predict.py), which differ only in how
    the body arrives and the answer leaves."""
    body = parse_tensor_json(body_bytes)
    model = plane.model(url.name, url.version, url.label)
    record.target(model.name, model.version)
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise InvalidInput("'signature_name' must be a string")
    signature = model.signature(signature_name)
    inputs, row_format = decode_predict(body, signature.inputs)
    result = plane.infer(InferRequest(model, inputs, signature.name, deadline=record.deadline))
    return encode_outputs(result.outputs, row_format)
