"""Shapes shared by every protocol's bodies: the error body and JSON tensor values.

These models only *describe* the wire format for the OpenAPI document; the views never
validate through them (tensors are parsed with simdjson straight into numpy, for speed).
Tests check real responses against the schemas generated from them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType


class Body(BaseModel):
    """Base of every body model: unknown keys are a schema violation, so a response that
    grows a field the document does not describe fails the schema tests."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Body):
    """Every failure of every HTTP endpoint (TF Serving's error shape)."""

    error: str = Field(
        description="what was wrong: which input, the expected shape and dtype, what arrived"
    )


class B64(Body):
    """A binary or string value in TF Serving's JSON: base64 in an object."""

    b64: str = Field(description="standard base64 of the value's bytes")


# A TF Serving JSON tensor: a scalar, a {"b64"} object or a nested list of them.
# (The service also accepts the non-JSON literals NaN and Infinity in numbers.)
TensorValue = TypeAliasType(
    "TensorValue",
    "float | int | bool | str | B64 | list[TensorValue]",
)
