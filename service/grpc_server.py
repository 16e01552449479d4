"""gRPC front end: TF Serving's PredictionService and ModelService, plus grpc.health.v1.

One ``grpc.server`` per gunicorn worker, bound to ``host:grpc_port`` with the
``grpc.so_reuseport`` option so every worker listens on the same port and the kernel
balances incoming connections between them. Each worker thus serves REST and gRPC through
its own in-process :class:`InferenceService` and batchers: there is no proxy hop and no
second model copy in a separate process, and gRPC requests batch together with REST ones.
(gRPC balances per connection, not per call: one long-lived client channel stays on one
worker, so spread load with several channels or a client-side balancer.)

Like the REST views, the servicers only parse and shape; resolution, validation, batching
and errors live below. ``ServingError`` subclasses abort with their own ``grpc_code``;
anything else is logged with its traceback and answered INTERNAL with a generic message.
Each call is counted and timed with ``api="grpc"`` (status label: the gRPC code name).
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
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
from service import metrics
from service.codecs.tensor_proto import from_ndarray, to_ndarray
from service.errors import InvalidInput, ServingError, Unimplemented
from service.inference import CURRENT_MODEL, InferenceService, InferRequest
from service.logs import access_log
from service.served_model import ServedModel
from service.signature import TensorSpec
from service.tasks import task_of

if TYPE_CHECKING:
    from service.app import Serving

log = logging.getLogger(__name__)

API = "grpc"
HEALTH_POLL_S = 0.5
STOP_GRACE_S = 10.0
SERVICES = ("", "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")
_ERROR_CODES = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type


def _rpc(endpoint: str):
    """Instrument a servicer method and map its exceptions to gRPC status codes."""

    def decorate(method):
        full_name = method.__name__

        @functools.wraps(method)
        def handler(self, request, context: grpc.ServicerContext):
            started = time.perf_counter()
            CURRENT_MODEL.set(("", ""))  # pool threads are reused across calls
            metrics.in_flight(API).inc()
            code, message, response = grpc.StatusCode.OK, "", None
            try:
                response = method(self, request, context)
            except ServingError as exc:
                code, message = exc.grpc_code, exc.message
            except Exception:
                log.exception("unhandled error in gRPC %s", full_name)
                code, message = grpc.StatusCode.INTERNAL, "internal error; see the server log"
            finally:
                metrics.in_flight(API).dec()
            elapsed = time.perf_counter() - started
            model, version = CURRENT_MODEL.get()
            metrics.observe_request(
                API,
                endpoint,
                code.name,
                model,
                version,
                elapsed,
                request.ByteSize(),
                response.ByteSize() if response is not None else None,
            )
            access_log.record(
                method=full_name,
                status=code.name,
                model=model,
                version=version,
                api=API,
                endpoint=endpoint,
                latency_ms=round(elapsed * 1000, 3),
            )
            if code is not grpc.StatusCode.OK:
                context.abort(code, message)
            return response

        return handler

    return decorate


def _resolve(inference: InferenceService, spec) -> ServedModel:
    """ModelSpec -> loaded version: ``version``, ``version_label`` or the latest."""
    if not spec.name:
        raise InvalidInput("model_spec.name is required")
    version = spec.version.value if spec.HasField("version") else None
    return inference.resolve(spec.name, version, spec.version_label or None)


def _fill_spec(target, model: ServedModel, signature_name: str = "") -> None:
    target.name = model.name
    target.version.value = model.version
    if signature_name:
        target.signature_name = signature_name


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService``: Predict, GetModelMetadata, Classify."""

    def __init__(self, inference: InferenceService):
        self.inference = inference

    @_rpc("predict")
    def Predict(self, request, context):
        model = _resolve(self.inference, request.model_spec)
        signature = model.signature(request.model_spec.signature_name or None)
        inputs = {name: to_ndarray(name, proto) for name, proto in request.inputs.items()}
        result = self.inference.infer(
            InferRequest(
                model.name,
                inputs,
                signature=signature.name,
                outputs=list(request.output_filter) or None,
            ),
            model,
        )
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, model, signature.name)
        for name, array in result.outputs.items():
            response.outputs[name].CopyFrom(from_ndarray(array))
        return response

    @_rpc("metadata")
    def GetModelMetadata(self, request, context):
        """The SignatureDefMap packed in ``metadata["signature_def"]``, as TF Serving does."""
        fields = list(request.metadata_field)
        if not fields:
            raise InvalidInput("metadata_field must name at least one field ('signature_def')")
        unsupported = sorted(set(fields) - {"signature_def"})
        if unsupported:
            raise InvalidInput(
                f"metadata field(s) {unsupported} are not supported; supported: ['signature_def']"
            )
        model = _resolve(self.inference, request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in model.signature_defs.items():
            if not name.startswith("__"):  # internal init ops, as the v1 REST metadata
                signature_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, model)
        response.metadata["signature_def"].Pack(signature_map)
        return response

    @_rpc("classify")
    def Classify(self, request, context):
        """Classification driven by the model card, for models without a tf.Example graph.

        TF Serving's Classify feeds serialized ``tf.Example`` protos to a classify
        signature. Keras models exported here have no Example-parsing graph, so the
        Example is decoded here instead: each Example must carry a feature named like the
        card's classification input (``ClassificationTask.input``) — ``float_list`` (or
        ``int64_list``) holding the example's values flattened row-major to the input's
        per-example shape (e.g. 784 pixels for ``[-1, 28, 28, 1]``), or ``bytes_list``
        with one string for text inputs. Context features of ``example_list_with_context``
        apply to every example. The result lists, per example, every card label with its
        probability, highest first.
        """
        model = _resolve(self.inference, request.model_spec)
        task: ClassificationTask = task_of(model, ClassificationTask)
        signature = model.signature(request.model_spec.signature_name or None)
        if task.input not in signature.inputs:
            raise InvalidInput(f"signature '{signature.name}' has no input '{task.input}'")
        batch = examples_to_batch(request.input, task.input, signature.inputs[task.input])
        probabilities = self.inference.infer(
            InferRequest(
                model.name, {task.input: batch}, signature=signature.name, outputs=[task.output]
            ),
            model,
        ).outputs[task.output]
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, model, signature.name)
        for row in probabilities:
            classes = response.result.classifications.add().classes
            for index in np.argsort(-row, kind="stable"):
                classes.add(label=task.labels[index], score=float(row[index]))
        return response


def examples_to_batch(request_input, feature: str, spec: TensorSpec) -> np.ndarray:
    """The ``feature`` of every Example in a ClassificationRequest input, as one batch."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples, context = request_input.example_list.examples, None
    elif kind == "example_list_with_context":
        examples = request_input.example_list_with_context.examples
        context = request_input.example_list_with_context.context.features.feature
    else:
        raise InvalidInput("the request input holds no examples")
    if not examples:
        raise InvalidInput("the request input holds no examples")
    row_shape = tuple(spec.shape[1:]) if spec.shape else ()
    rows = []
    for index, example in enumerate(examples):
        features = example.features.feature
        if feature in features:
            value = features[feature]
        elif context is not None and feature in context:
            value = context[feature]
        else:
            raise InvalidInput(
                f"example {index} lacks the feature '{feature}' (the model's classification input)"
            )
        rows.append(_feature_row(value, spec, row_shape, index))
    if spec.is_string:
        batch = np.empty(len(rows), dtype=object)
        batch[:] = rows
        return batch
    return np.stack(rows)


def _feature_row(value, spec: TensorSpec, row_shape: tuple, index: int):
    kind = value.WhichOneof("kind")
    if spec.is_string:
        if kind != "bytes_list" or len(value.bytes_list.value) != 1:
            raise InvalidInput(
                f"example {index}: feature '{spec.name}' must be a bytes_list with one value"
            )
        return value.bytes_list.value[0]
    if kind not in ("float_list", "int64_list"):
        raise InvalidInput(
            f"example {index}: feature '{spec.name}' must be a float_list or int64_list, got {kind}"
        )
    values = np.asarray(getattr(value, kind).value, dtype=spec.dtype)
    if any(d is None for d in row_shape):
        if len(row_shape) != 1:
            raise InvalidInput(
                f"example {index}: input '{spec.name}' has a variable "
                "per-example shape; cannot unflatten it"
            )
        return values
    need = int(np.prod(row_shape))
    if values.size != need:
        raise InvalidInput(
            f"example {index}: feature '{spec.name}' has {values.size} values; "
            f"the input needs {need} (shape {list(row_shape)} flattened)"
        )
    return values.reshape(row_shape)


class ModelStatusServicer(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: GetModelStatus (config reload unimplemented)."""

    def __init__(self, inference: InferenceService):
        self.inference = inference

    @_rpc("status")
    def GetModelStatus(self, request, context):
        spec = request.model_spec
        if not spec.name:
            raise InvalidInput("model_spec.name is required")
        statuses = self.inference.repository.status(spec.name)
        if spec.HasField("version") or spec.version_label:
            # as the v1 REST status: a specific version or label must resolve to a loaded one
            model = _resolve(self.inference, spec)
            statuses = [s for s in statuses if s.version == model.version]
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
    def HandleReloadConfigRequest(self, request, context):
        raise Unimplemented(
            "config reload over gRPC is not supported; edit the repository "
            "config file (re-read on every poll) or use the V2 repository API"
        )


@dataclass
class GrpcServer:
    """A running gRPC server of this worker; :meth:`stop` is idempotent."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    stopped: threading.Event

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Refuse new calls, let running ones finish within ``grace_s``, then close."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait(grace_s + 1)
        log.info("gRPC server on port %d stopped", self.port)


def start(serving: Serving) -> GrpcServer:
    """Bind ``settings.host:settings.grpc_port`` (shared by all workers) and serve."""
    settings = serving.settings
    limit = settings.max_request_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.so_reuseport", 1),  # every worker binds the same port
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(serving.inference), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelStatusServicer(serving.inference), server
    )
    health_servicer = health.HealthServicer()
    for service in SERVICES:
        health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = server.add_insecure_port(f"{host}:{settings.grpc_port}")  # raises if it cannot bind
    server.start()
    handle = GrpcServer(server, port, health_servicer, threading.Event())
    threading.Thread(
        target=_track_readiness, args=(serving, handle), name="grpc-health", daemon=True
    ).start()
    # threading's exit hooks run before concurrent.futures shuts its pools down (atexit
    # runs after), so the server drains while its thread pool still accepts work.
    getattr(threading, "_register_atexit", atexit.register)(handle.stop)
    log.info("gRPC server listening on %s:%d", settings.host, port)
    return handle


def _track_readiness(serving: Serving, handle: GrpcServer) -> None:
    """Report SERVING while every model is ready (the same rule as /v2/health/ready)."""
    current = None
    while not handle.stopped.is_set():
        ready = not serving.repository.not_ready()
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        if status != current:
            for service in SERVICES:
                handle.health.set(service, status)
            current = status
        handle.stopped.wait(HEALTH_POLL_S)
