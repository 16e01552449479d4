"""TensorFlow Serving REST (v1) bodies: status, model list, metadata, predict."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from modelcard import Metrics, Task
from service.api.schemas.common import Body, TensorValue

VersionState = Literal["START", "LOADING", "AVAILABLE", "UNLOADING", "END", "UNKNOWN"]


class StatusDetail(Body):
    error_code: str = Field(description="OK, or the canonical error of a failed load")
    error_message: str = Field(description="empty unless the version failed")


class ModelVersionStatus(Body):
    version: str = Field(description="the version number, as a string (TF Serving's JSON)")
    state: VersionState
    status: StatusDetail


class StatusResponse(Body):
    """``GET /v1/models/{name}``: every version newest first, or the addressed one."""

    model_version_status: list[ModelVersionStatus]


class ModelListEntry(Body):
    name: str
    labels: dict[str, int] = Field(description="version label -> version number")
    model_version_status: list[ModelVersionStatus]


class ModelListResponse(Body):
    """``GET /v1/models``: every model of the repository (an extension of TF Serving)."""

    models: list[ModelListEntry]


class ModelSpec(Body):
    name: str
    signature_name: str = Field(description="always empty in metadata, as TF Serving answers")
    version: str


class Dim(Body):
    size: str = Field(description="the dimension's size as a string; -1 when variable")
    name: str | None = None


class TensorShape(Body):
    dim: list[Dim] | None = Field(None, description="absent for a scalar")
    unknown_rank: bool | None = None


class TensorInfo(Body):
    dtype: str = Field(description="TensorFlow DataType enum name, e.g. DT_FLOAT, DT_STRING")
    tensor_shape: TensorShape
    name: str = Field(description="graph tensor name, e.g. serving_default_image:0")


class SignatureDef(Body):
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str
    defaults: dict[str, object] | None = None


class SignatureDefMap(Body):
    # The doubled key is TF Serving's own (a SignatureDefMap inside "signature_def").
    signature_def: dict[str, SignatureDef]


class MetadataDetail(Body):
    signature_def: SignatureDefMap


class CardSummary(Body):
    """The parts of the model card that metadata carries (only for models with a card)."""

    task: Task
    description: str
    architecture: str
    metrics: Metrics


class MetadataResponse(Body):
    """``GET /v1/models/{name}/metadata``: TF Serving's SignatureDef JSON plus our card."""

    model_spec: ModelSpec
    metadata: MetadataDetail
    card: CardSummary | None = Field(None, description="present when the version has a card")


Instance = TensorValue | dict[str, TensorValue]


class PredictRequest(Body):
    """Exactly one of ``instances`` (row format) or ``inputs`` (columnar format)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
            "examples": [
                {"instances": ["@united thanks, great flight!", "@united lost my bag again"]}
            ],
        },
    )

    signature_name: str | None = Field(None, description="default: serving_default")
    instances: list[Instance] | None = Field(
        None,
        description="one entry per example: the input's value, or an object keyed by input "
        "name when the signature has several inputs",
    )
    inputs: TensorValue | dict[str, TensorValue] | None = Field(
        None, description="one tensor, or an object of tensors keyed by input name"
    )


class PredictResponse(Body):
    """``predictions`` for a row request, ``outputs`` for a columnar one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["predictions"]}, {"required": ["outputs"]}]},
    )

    predictions: list[Instance] | None = Field(
        None, description="one entry per example; objects keyed by output name if several"
    )
    outputs: TensorValue | dict[str, TensorValue] | None = None
