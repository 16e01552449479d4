"""A servable signature's tensor specs and the validation every protocol shares.

Specs are read from the SavedModel's own SignatureDef (what TF Serving reports), so any
TF Serving-style model directory is servable with or without our model card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service import dtypes
from service.errors import InvalidInput


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a signature: numpy dtype and shape (None = any size)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None: unknown rank
    tf_dtype: int

    @property
    def is_string(self) -> bool:
        return self.dtype == np.dtype(object)

    @property
    def batched(self) -> bool:
        return self.shape is not None and len(self.shape) >= 1 and self.shape[0] is None

    def describe(self) -> str:
        dims = (
            "?"
            if self.shape is None
            else "[" + ", ".join("-1" if d is None else str(d) for d in self.shape) + "]"
        )
        return f"{dtypes.tf_name(self.tf_dtype)} {dims}"


def tensor_specs(tensor_infos) -> dict[str, TensorSpec]:
    """A SignatureDef's ``inputs`` or ``outputs`` map as TensorSpecs (unknown dims: None)."""
    specs = {}
    for name, info in tensor_infos.items():
        shape = (
            None
            if info.tensor_shape.unknown_rank
            else tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
        )
        known = dtypes.BY_TF_ENUM.get(info.dtype)
        # a dtype outside the table travels as opaque objects, like strings
        dtype = known.numpy if known is not None else np.dtype(object)
        specs[name] = TensorSpec(name, dtype, shape, info.dtype)
    return specs


def coerce(spec: TensorSpec, value: np.ndarray) -> np.ndarray:
    """Cast ``value`` to the spec's dtype and check its shape; InvalidInput names the input."""
    if spec.is_string:
        if value.dtype.kind not in "OSU":
            raise InvalidInput(
                f"input '{spec.name}' expects strings ({spec.describe()}), got {value.dtype}"
            )
        if value.dtype.kind != "O":
            value = value.astype(object)
    elif value.dtype != spec.dtype:
        # casts that lose the meaning are refused: text to numbers, fractions to integers,
        # and booleans to numbers (true would run as 1.0)
        if (
            value.dtype.kind in "OSU"
            or (value.dtype.kind == "f" and spec.dtype.kind in "iub")
            or (value.dtype.kind == "b") != (spec.dtype.kind == "b")
        ):
            raise InvalidInput(
                f"input '{spec.name}' expects {spec.describe()}, got values of type "
                f"{_kind_name(value)}"
            )
        value = value.astype(spec.dtype)
    if spec.shape is not None and (
        value.ndim != len(spec.shape)
        or any(
            want is not None and want != got
            for want, got in zip(spec.shape, value.shape, strict=False)
        )
    ):
        raise InvalidInput(
            f"input '{spec.name}' expects shape {spec.describe().split(' ', 1)[1]}, "
            f"got {list(value.shape)}"
        )
    return value


def _kind_name(value: np.ndarray) -> str:
    return {
        "f": "float",
        "i": "int",
        "u": "uint",
        "b": "bool",
        "O": "string/object",
        "S": "bytes",
        "U": "string",
    }.get(value.dtype.kind, str(value.dtype))


def validate_inputs(
    specs: dict[str, TensorSpec], inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Check names, dtypes, shapes and a shared non-empty batch size; return cast arrays."""
    missing = sorted(set(specs) - set(inputs))
    unknown = sorted(set(inputs) - set(specs))
    if unknown:
        raise InvalidInput(f"unknown input(s) {unknown}; the signature takes {sorted(specs)}")
    if missing:
        raise InvalidInput(f"missing input(s) {missing}; the signature takes {sorted(specs)}")
    out = {name: coerce(specs[name], value) for name, value in inputs.items()}
    batch_sizes = {name: v.shape[0] for name, v in out.items() if specs[name].batched}
    if batch_sizes:
        if len(set(batch_sizes.values())) > 1:
            raise InvalidInput(f"inputs disagree on the batch size: {batch_sizes}")
        if next(iter(batch_sizes.values())) == 0:
            raise InvalidInput("the request holds no instances (batch size 0)")
    return out
