"""The one inference path every protocol goes through.

Transports decode their wire format into an :class:`InferRequest` of numpy arrays, call
:meth:`InferenceService.infer`, and encode the :class:`InferResult`. Resolution of
model/version/label, validation, dynamic batching, deadlines and output filtering happen
here once, for REST v1, Open Inference Protocol, gRPC and the task endpoints alike.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

import numpy as np

from service.errors import InvalidInput
from service.repository import ModelRepository
from service.served_model import ServedModel, Signature

# (model name, version) of the request being served on this thread, read by the metrics
# and logging layer after the transport has answered.
CURRENT_MODEL: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
    "current_model", default=("", "")
)


@dataclass
class InferRequest:
    """A protocol-neutral inference request."""

    model: str
    inputs: dict[str, np.ndarray]
    version: int | None = None
    label: str | None = None
    signature: str | None = None
    outputs: list[str] | None = None  # None: every output of the signature
    parameters: dict = field(default_factory=dict)


@dataclass
class InferResult:
    model: ServedModel
    signature: Signature
    outputs: dict[str, np.ndarray]


class InferenceService:
    """Resolves the target version and runs the request through its batcher."""

    def __init__(self, repository: ModelRepository, request_timeout_s: float):
        self.repository = repository
        self.request_timeout_s = request_timeout_s

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> ServedModel:
        model = self.repository.get(name, version, label)
        CURRENT_MODEL.set((model.name, str(model.version)))
        return model

    def infer(self, request: InferRequest, model: ServedModel | None = None) -> InferResult:
        """Run ``request``; ``model`` skips resolution when the transport already did it
        (so a version swap between the two steps cannot change the target)."""
        if model is None:
            model = self.resolve(request.model, request.version, request.label)
        signature = model.signature(request.signature)
        if request.outputs is not None:
            unknown = sorted(set(request.outputs) - set(signature.outputs))
            if unknown:
                raise InvalidInput(
                    f"unknown output(s) {unknown}; the signature has {sorted(signature.outputs)}"
                )
        outputs = signature.run(request.inputs, timeout=self.request_timeout_s)
        if request.outputs is not None:
            outputs = {name: outputs[name] for name in request.outputs}
        return InferResult(model, signature, outputs)
