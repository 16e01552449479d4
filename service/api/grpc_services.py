"""TF Serving's gRPC services: ``PredictionService`` and ``ModelService`` (PROTOCOLS.md, 3).

Like the HTTP views, the servicers only decode the protos, call the data plane and encode
its answer. Each call goes through the one request recorder with ``api="grpc"`` (status
label: the gRPC code name; a client's ``x-request-id`` metadata is kept as its id).
``ServingError`` subclasses abort with their own ``grpc_code``; anything else is logged
with its traceback and answered INTERNAL with a generic message.
"""

from __future__ import annotations

import functools
import logging

import grpc
import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from modelcard import ClassificationTask
from service.codecs.signature_defs import signature_def_map
from service.codecs.tensor_proto import from_ndarray, to_ndarray
from service.codecs.tf_example import examples_to_batch
from service.dataplane import DataPlane, InferRequest
from service.errors import InvalidInput, ServingError, Unimplemented
from service.recorder import RequestRecord, recorder
from service.served_model import ServedModel
from service.tasks import task_of

log = logging.getLogger(__name__)

API = "grpc"
_ERROR_CODES = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type


def _rpc(endpoint: str):
    """Record a servicer method's call and map its exceptions to gRPC status codes.

    The method receives the call's :class:`RequestRecord` in place of the context.
    """

    def decorate(method):
        full_name = method.__name__

        @functools.wraps(method)
        def handler(self, request, context: grpc.ServicerContext):
            record = recorder.open(API, endpoint, _request_id(context))
            remaining = context.time_remaining()
            if remaining is not None:  # the call's deadline: no work after the client gave up
                record.expire_after(remaining)
            code, message, response = grpc.StatusCode.OK, "", None
            try:
                response = method(self, request, record)
            except ServingError as exc:
                code, message = exc.grpc_code, exc.message
                if exc.retry_after_s is not None:  # gRPC's retry pushback, in milliseconds
                    context.set_trailing_metadata(
                        (("grpc-retry-pushback-ms", str(exc.retry_after_s * 1000)),)
                    )
            except Exception:
                log.exception("unhandled error in gRPC %s", full_name)
                code, message = grpc.StatusCode.INTERNAL, "internal error; see the server log"
            recorder.close(
                record,
                code.name,
                failed=code is not grpc.StatusCode.OK,
                method=full_name,
                request_bytes=request.ByteSize(),
                response_bytes=response.ByteSize() if response is not None else None,
            )
            if code is not grpc.StatusCode.OK:
                context.abort(code, message)
            return response

        return handler

    return decorate


def _request_id(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata():
        if key == "x-request-id":
            return value
    return None


def _resolve(plane: DataPlane, spec, record: RequestRecord) -> ServedModel:
    """ModelSpec -> loaded version: ``version``, ``version_label`` or the latest."""
    if not spec.name:
        raise InvalidInput("model_spec.name is required")
    version = spec.version.value if spec.HasField("version") else None
    model = plane.model(spec.name, version, spec.version_label or None)
    record.target(model.name, model.version)
    return model


def _fill_spec(target, model: ServedModel, signature_name: str = "") -> None:
    target.name = model.name
    target.version.value = model.version
    if signature_name:
        target.signature_name = signature_name


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService``: Predict, GetModelMetadata, Classify."""

    def __init__(self, plane: DataPlane):
        self.plane = plane

    @_rpc("predict")
    def Predict(self, request, record):
        model = _resolve(self.plane, request.model_spec, record)
        signature = model.signature(request.model_spec.signature_name or None)
        inputs = {name: to_ndarray(name, proto) for name, proto in request.inputs.items()}
        result = self.plane.infer(
            InferRequest(
                model,
                inputs,
                signature.name,
                list(request.output_filter) or None,
                record.deadline,
            )
        )
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, model, signature.name)
        for name, array in result.outputs.items():
            response.outputs[name].CopyFrom(from_ndarray(array))
        return response

    @_rpc("metadata")
    def GetModelMetadata(self, request, record):
        """The SignatureDefMap packed in ``metadata["signature_def"]``, as TF Serving does."""
        fields = list(request.metadata_field)
        if not fields:
            raise InvalidInput("metadata_field must name at least one field ('signature_def')")
        unsupported = sorted(set(fields) - {"signature_def"})
        if unsupported:
            raise InvalidInput(
                f"metadata field(s) {unsupported} are not supported; supported: ['signature_def']"
            )
        model = _resolve(self.plane, request.model_spec, record)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, model)
        response.metadata["signature_def"].Pack(
            signature_def_map(self.plane.metadata(model).signature_defs)
        )
        return response

    @_rpc("classify")
    def Classify(self, request, record):
        """Classification driven by the model card, for models without a tf.Example graph.

        Each Example must carry a feature named like the card's classification input
        (``ClassificationTask.input``); see :mod:`service.codecs.tf_example`. The result
        lists, per example, every card label with its probability, highest first.
        """
        model = _resolve(self.plane, request.model_spec, record)
        task: ClassificationTask = task_of(model, ClassificationTask)
        signature = model.signature(request.model_spec.signature_name or None)
        if task.input not in signature.inputs:
            raise InvalidInput(f"signature '{signature.name}' has no input '{task.input}'")
        batch = examples_to_batch(request.input, task.input, signature.inputs[task.input])
        probabilities = self.plane.infer(
            InferRequest(model, {task.input: batch}, signature.name, [task.output], record.deadline)
        ).outputs[task.output]
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, model, signature.name)
        for row in probabilities:
            classes = response.result.classifications.add().classes
            for index in np.argsort(-row, kind="stable"):
                classes.add(label=task.labels[index], score=float(row[index]))
        return response


class ModelStatusServicer(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: GetModelStatus (config reload unimplemented)."""

    def __init__(self, plane: DataPlane):
        self.plane = plane

    @_rpc("status")
    def GetModelStatus(self, request, record):
        spec = request.model_spec
        if not spec.name:
            raise InvalidInput("model_spec.name is required")
        if spec.HasField("version") or spec.version_label:
            # as the v1 REST status: a specific version or label must resolve to a loaded one
            statuses = self.plane.status(spec.name, _resolve(self.plane, spec, record).version)
        else:
            statuses = self.plane.status(spec.name)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            entry = response.model_version_status.add(
                version=status.version,
                state=get_model_status_pb2.ModelVersionStatus.State.Value(status.state),
            )
            code = _ERROR_CODES.values_by_name.get(status.error_code)
            entry.status.error_code = code.number if code is not None else 2  # UNKNOWN
            entry.status.error_message = status.error_message
        return response

    @_rpc("reload_config")
    def HandleReloadConfigRequest(self, request, record):
        raise Unimplemented(
            "config reload over gRPC is not supported; edit the repository "
            "config file (re-read on every poll) or use the V2 repository API"
        )


def add_to_server(plane: DataPlane, server: grpc.Server) -> None:
    """Register both TF Serving services of ``plane`` on ``server``."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(plane), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelStatusServicer(plane), server)
