"""Open Inference Protocol (KServe V2) bodies, with Triton's binary and classification
extensions and the model repository extension."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, RootModel

from service import dtypes
from service.api.schemas.common import Body

Datatype = Literal[dtypes.V2_DATATYPES]  # the protocol's datatype names
# Row-major data, flat or nested: numbers, booleans or strings (BYTES).
TensorData = list[float | int | bool | str | list]


class ServerMetadata(Body):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(Body):
    name: str
    datatype: Datatype
    shape: list[int] = Field(description="-1 for a variable dimension")


class ModelMetadata(Body):
    name: str
    versions: list[str] = Field(description="every loaded version")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class InputParameters(Body):
    model_config = ConfigDict(extra="allow")  # clients send parameters of their own

    binary_data_size: int | None = Field(
        None, description="binary extension: this input's bytes follow the JSON header"
    )


class InferInput(Body):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: InputParameters | None = None
    data: TensorData | None = Field(None, description="absent when the input is binary")


class OutputParameters(Body):
    model_config = ConfigDict(extra="allow")  # clients send parameters of their own

    binary_data: bool | None = Field(None, description="return this output as raw bytes")
    classification: int | None = Field(
        None, ge=1, description="classification extension: top k as '<score>:<index>:<label>'"
    )


class RequestedOutput(Body):
    name: str
    parameters: OutputParameters | None = None


class RequestParameters(Body):
    model_config = ConfigDict(extra="allow")  # clients send parameters of their own

    binary_data_output: bool | None = Field(None, description="every output as raw bytes")


class InferRequest(Body):
    """The JSON body, or with the binary extension the JSON header of the body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": "text",
                            "shape": [1],
                            "datatype": "BYTES",
                            "data": ["so happy with @united"],
                        }
                    ],
                    "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}],
                }
            ]
        },
    )

    id: str | None = None
    parameters: RequestParameters | None = None
    inputs: list[InferInput] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = Field(None, description="default: every output")


class OutputTensorParameters(Body):
    binary_data_size: int | None = Field(
        None, description="binary extension: this output's bytes follow the JSON header"
    )


class InferOutput(Body):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: OutputTensorParameters | None = None
    data: TensorData | None = Field(None, description="absent when the output is binary")


class InferResponse(Body):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, object] | None = None
    outputs: list[InferOutput]


class RepositoryIndexRequest(Body):
    ready: bool | None = Field(None, description="only models that are ready")


class RepositoryIndexEntry(Body):
    name: str
    version: str = Field(description="the newest loaded version, empty when none")
    state: Literal["READY", "UNAVAILABLE"]
    reason: str


class RepositoryIndex(RootModel[list[RepositoryIndexEntry]]):
    """``POST /v2/repository/index``: one entry per model on disk."""


class RepositoryControlRequest(Body):
    parameters: dict[str, object] | None = Field(
        None, description="'config' and 'file:' parameters are refused (501)"
    )
