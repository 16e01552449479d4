"""The data plane: everything a client can ask of the server, as one transport-neutral object.

REST v1, the Open Inference Protocol (V2), the task verbs and gRPC only decode their wire
format, call a method here and encode what it returns, so inference, status, metadata,
readiness and repository control are written once whatever the protocol (MLServer's
``DataPlane`` is the model). Below it: :class:`~service.repository.ModelRepository`
(versions, labels, hot reload) and each version's signatures and batchers.

Resolution and inference are two steps on purpose: a transport resolves the version first
(its codec needs the signature's specs to decode), then passes the resolved
:class:`~service.served_model.ServedModel` in the :class:`InferRequest`, so a version swap
between the two steps cannot change which version answers.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

import numpy as np

from service.errors import (
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    Unauthorized,
    Unavailable,
    Unimplemented,
)
from service.repository import AVAILABLE, ModelRepository, VersionStatus
from service.served_model import ServedModel, Signature


@dataclass
class InferRequest:
    """A protocol-neutral inference request on an already resolved version."""

    model: ServedModel
    inputs: dict[str, np.ndarray]
    signature: str | None = None  # None: serving_default
    outputs: list[str] | None = None  # None: every output of the signature
    deadline: float | None = None  # the client's, as time.monotonic(); None: the server's


@dataclass
class InferResult:
    model: ServedModel
    signature: Signature
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class ModelSummary:
    """One model of the repository: its versions' states and its labels."""

    name: str
    labels: dict[str, int]
    versions: list[VersionStatus]


@dataclass(frozen=True)
class ModelMetadata:
    """What the metadata endpoints of every protocol describe."""

    model: ServedModel
    signature_defs: dict  # servable SignatureDefs by name (no ``__saved_model_init_op``)
    available_versions: list[int]  # every AVAILABLE version of the model, ascending


class DataPlane:
    """Inference, status, metadata, readiness and repository control over one repository."""

    def __init__(
        self,
        repository: ModelRepository,
        request_timeout_s: float,
        admin_token: str | None = None,
        model_control: str = "token",
    ):
        self.repository = repository
        self.request_timeout_s = request_timeout_s
        self._admin_token = admin_token
        self._model_control = model_control
        self.draining = False  # set once the server began shutting down

    # ---- inference -------------------------------------------------------------------
    def model(self, name: str, version: int | None = None, label: str | None = None) -> ServedModel:
        """The loaded version a request addresses: by number, by label, or the latest."""
        return self.repository.get(name, version, label)

    def infer(self, request: InferRequest) -> InferResult:
        """Validate, batch and run ``request``; only the requested outputs come back."""
        signature = request.model.signature(request.signature)
        if request.outputs is not None:
            unknown = sorted(set(request.outputs) - set(signature.outputs))
            if unknown:
                raise InvalidInput(
                    f"unknown output(s) {unknown}; the signature has {sorted(signature.outputs)}"
                )
        timeout = self.request_timeout_s
        if request.deadline is not None:
            timeout = min(timeout, request.deadline - time.monotonic())
            if timeout <= 0:  # spend nothing on an answer nobody waits for
                raise DeadlineExceeded("the request's deadline passed before it could run")
        outputs = signature.run(request.inputs, timeout=timeout)
        if request.outputs is not None:
            outputs = {name: outputs[name] for name in request.outputs}
        return InferResult(request.model, signature, outputs)

    # ---- status and metadata ---------------------------------------------------------
    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Every version's state, newest first; with a version or label, only the one it
        resolves to (which must be loaded, as TF Serving's status answers)."""
        statuses = self.repository.status(name)
        if version is None and label is None:
            return statuses
        resolved = self.model(name, version, label).version
        return [s for s in statuses if s.version == resolved]

    def models(self) -> list[ModelSummary]:
        """Every model the repository knows, by name."""
        repository = self.repository
        return [
            ModelSummary(name, repository.labels(name), repository.status(name))
            for name in repository.model_names()
        ]

    def metadata(self, model: ServedModel) -> ModelMetadata:
        """The servable signatures of a resolved version and the model's loaded versions."""
        return ModelMetadata(
            model,
            {k: v for k, v in model.signature_defs.items() if not k.startswith("__")},
            sorted(s.version for s in self.repository.status(model.name) if s.state == AVAILABLE),
        )

    # ---- readiness -------------------------------------------------------------------
    def not_ready(self) -> dict[str, str]:
        """Why the server is not ready, by model; empty when every model can serve."""
        if self.draining:  # load balancers must stop sending before the process goes
            return {"*": "the server is shutting down"}
        return self.repository.not_ready()

    # ---- repository control ----------------------------------------------------------
    def repository_index(self, ready_only: bool = False) -> list[dict]:
        """Every model on disk with its state (V2 repository index)."""
        rows = self.repository.index()
        return [r for r in rows if r["state"] == "READY"] if ready_only else rows

    def load(self, name: str, bearer_token: str | None, parameters: dict | None = None) -> None:
        """(Re)load a model from the repository; Unavailable unless a version serves after.

        Models come from the repository directory only: a config override or uploaded
        files (the V2 repository extension's ``config`` and ``file:`` parameters) are
        refused.
        """
        self._authorize(bearer_token)
        if any(key == "config" or key.startswith("file:") for key in parameters or {}):
            raise Unimplemented(
                "loading with a config override or uploaded files is not "
                "supported; put the model in the repository directory"
            )
        self.repository.load(name)
        reason = self.repository.not_ready().get(name)
        if reason is not None:
            raise Unavailable(f"model '{name}' did not load: {reason}")

    def unload(self, name: str, bearer_token: str | None) -> None:
        """Unload every version of a model until it is loaded again (in every worker)."""
        self._authorize(bearer_token)
        self.repository.unload(name)

    def _authorize(self, bearer_token: str | None) -> None:
        """Model control is off unless configured, as Triton's is (one request could
        otherwise unload a production model): a token, or ``open`` for local use."""
        if self._model_control == "off":
            raise Forbidden("model control is disabled on this server (SERVING_MODEL_CONTROL=off)")
        if self._model_control == "open":
            return
        if self._admin_token is None:
            raise Forbidden(
                "model control is disabled: set SERVING_ADMIN_TOKEN and send "
                "'Authorization: Bearer <token>', or SERVING_MODEL_CONTROL=open for local use"
            )
        # constant-time comparison: the token must not leak through response timing
        if bearer_token is None or not hmac.compare_digest(
            bearer_token.encode(), self._admin_token.encode()
        ):
            raise Unauthorized("this operation requires 'Authorization: Bearer <admin token>'")
