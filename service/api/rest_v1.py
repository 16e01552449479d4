"""TensorFlow Serving REST API v1: status, metadata and predict (see shared PROTOCOLS.md)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request
from google.protobuf import json_format

from service.api.tasks import TASK_VERBS
from service.api.urls import parse_model_url
from service.codecs.tensor_json import parse_tensor_json
from service.codecs.tf_rest import decode_predict, encode_outputs
from service.errors import InvalidInput, MethodNotAllowed, NotFound
from service.http import json_response
from service.inference import InferRequest

bp = Blueprint("rest_v1", __name__)


def serving():
    return current_app.extensions["serving"]


@bp.get("/v1/models")
def list_models():
    """Every model in the repository with its versions' states and its labels."""
    repo = serving().repository
    return json_response(
        {
            "models": [
                {
                    "name": name,
                    "labels": repo.labels(name),
                    "model_version_status": [_status_json(s) for s in repo.status(name)],
                }
                for name in repo.model_names()
            ]
        }
    )


@bp.route("/v1/models/<path:rest>", methods=["GET", "POST"])
def model_url(rest: str):
    """Dispatch TF Serving's model URLs (a colon verb cannot be a Flask rule segment)."""
    url = parse_model_url(rest, request.method)
    if request.method == "GET":
        if url.verb is not None:
            raise MethodNotAllowed(f"{url.verb} requires POST")
        g.endpoint = "metadata" if url.metadata else "status"
        return metadata(url) if url.metadata else status(url)
    if url.verb is None or url.metadata:
        raise MethodNotAllowed(f"POST is not allowed on /v1/models/{rest}")
    g.endpoint = url.verb
    if url.verb == "predict":
        return predict(url)
    if url.verb in TASK_VERBS:
        g.api = "task"
        return TASK_VERBS[url.verb](url)
    raise NotFound(
        f"unknown verb ':{url.verb}'; supported: predict, " + ", ".join(sorted(TASK_VERBS))
    )


def status(url):
    repo = serving().repository
    if url.version is not None or url.label is not None:
        model = serving().inference.resolve(url.name, url.version, url.label)
        versions = [s for s in repo.status(url.name) if s.version == model.version]
    else:
        versions = repo.status(url.name)
    return json_response({"model_version_status": [_status_json(s) for s in versions]})


def _status_json(s) -> dict:
    return {
        "version": str(s.version),
        "state": s.state,
        "status": {"error_code": s.error_code, "error_message": s.error_message},
    }


def metadata(url):
    from tensorflow_serving.apis import get_model_metadata_pb2

    model = serving().inference.resolve(url.name, url.version, url.label)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for name, sig_def in model.signature_defs.items():
        if not name.startswith("__"):
            sig_map.signature_def[name].CopyFrom(sig_def)
    body = {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {
            "signature_def": json_format.MessageToDict(sig_map, preserving_proto_field_name=True)
        },
    }
    if model.card is not None:
        body["card"] = model.card.model_dump(
            mode="json", include={"task", "description", "architecture", "metrics"}
        )
    return json_response(body)


def predict(url):
    body = parse_tensor_json(request.get_data())
    model = serving().inference.resolve(url.name, url.version, url.label)
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise InvalidInput("'signature_name' must be a string")
    signature = model.signature(signature_name)
    inputs, row_format = decode_predict(body, signature.inputs)
    result = serving().inference.infer(
        InferRequest(model=url.name, signature=signature.name, inputs=inputs), model
    )
    return json_response(encode_outputs(result.outputs, row_format))
