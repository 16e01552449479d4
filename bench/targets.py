"""The APIs under test ("targets") and the probe that says whether each one answers yet.

A target is one protocol's request for the same example. A target whose endpoint does not
answer correctly (not implemented yet, not listening) is reported as unavailable with the
reason, and the run goes on with the others.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import workload as wl


@dataclass(frozen=True)
class Target:
    """One API: ``kind`` "http" (driven by wrk) or "grpc" (driven by h2load: bench.grpc_load)."""

    key: str
    label: str
    kind: str
    path: str  # URL path (http) or RPC method (grpc)
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    skip_reason: str | None = None  # not applicable to this model at all

    def write_body(self, directory: Path) -> Path:
        path = directory / f"{self.key}.body"
        path.write_bytes(self.body)
        return path


JSON = {"Content-Type": "application/json"}
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"


def build_targets(w: wl.Workload) -> list[Target]:
    """Every API in the order they are reported."""
    binary, binary_headers = wl.v2_binary(w)
    model = w.model
    if w.task_verb:
        task = Target(
            "task",
            f"task :{w.task_verb} (JSON)",
            "http",
            f"/v1/models/{model}:{w.task_verb}",
            wl.task_json(w),
            JSON,
        )
    else:
        task = Target(
            "task",
            "task endpoint",
            "http",
            "",
            b"",
            JSON,
            skip_reason="the model has no card with a task",
        )
    return [
        Target(
            "rest_v1",
            "REST v1 JSON (:predict)",
            "http",
            f"/v1/models/{model}:predict",
            wl.v1_json(w),
            JSON,
        ),
        task,
        Target(
            "v2_json", "V2 JSON (/infer)", "http", f"/v2/models/{model}/infer", wl.v2_json(w), JSON
        ),
        Target(
            "v2_binary",
            "V2 binary tensors (/infer)",
            "http",
            f"/v2/models/{model}/infer",
            binary,
            binary_headers,
        ),
        Target("grpc", "gRPC Predict", "grpc", PREDICT_METHOD, wl.grpc_predict_request(w)),
    ]


def grpc_v2_target(w: wl.Workload) -> Target:
    """V2 gRPC ``ModelInfer`` with the same example (MLServer's gRPC API)."""
    return Target(
        "grpc_v2", "gRPC V2 ModelInfer", "grpc", MODEL_INFER_METHOD, wl.grpc_model_infer_request(w)
    )


def peer_targets(w: wl.Workload, apis: tuple[str, ...]) -> list[Target]:
    """The targets a peer answers (``apis``: keys of :func:`build_targets` or "grpc_v2"),
    with exactly the bodies the service gets."""
    ours = {t.key: t for t in build_targets(w)}
    return [grpc_v2_target(w) if key == "grpc_v2" else ours[key] for key in apis]


def probe_http(base_url: str, target: Target, timeout: float = 10.0) -> str | None:
    """None if one request gets a 200, else why the target is unavailable."""
    request = urllib.request.Request(
        base_url + target.path, data=target.body, headers=target.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace")
        return f"HTTP {exc.code} from POST {target.path}: {detail}"
    except (urllib.error.URLError, OSError) as exc:
        return f"POST {target.path} failed: {exc}"


def probe_grpc(address: str, target: Target, model: str, timeout: float = 10.0) -> str | None:
    """None if a real TF Serving client (the stubs) gets outputs from Predict, else why not
    (for ``ModelInfer``: a real V2 client, ``tritonclient``'s stubs)."""
    if target.path == MODEL_INFER_METHOD:
        return _probe_model_infer(address, target, timeout)
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest.FromString(target.body)
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return f"nothing accepts gRPC connections on {address}"
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as exc:
            return f"Predict failed: {exc.code().name}: {exc.details()}"
    if not response.outputs:
        return "Predict answered without outputs"
    if response.model_spec.name not in ("", model):
        return f"Predict answered for model '{response.model_spec.name}'"
    return None


def _probe_model_infer(address: str, target: Target, timeout: float) -> str | None:
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest.FromString(target.body)
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return f"nothing accepts gRPC connections on {address}"
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            response = stub.ModelInfer(request, timeout=timeout)
        except grpc.RpcError as exc:
            return f"ModelInfer failed: {exc.code().name}: {exc.details()}"
    if not response.outputs:
        return "ModelInfer answered without outputs"
    return None
