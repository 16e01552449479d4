"""``tf.Example`` protos of a ClassificationRequest -> one numpy batch for a model input.

TF Serving's Classify feeds serialized Examples to a classify signature with an
Example-parsing graph; Keras models exported here have none, so the Examples are decoded
here instead. Each Example carries the input as one feature: ``float_list`` (or
``int64_list``) holding the example's values flattened row-major to the input's
per-example shape (e.g. 784 pixels for ``[-1, 28, 28, 1]``), or ``bytes_list`` with one
string for text inputs. Context features of ``example_list_with_context`` apply to every
example.
"""

from __future__ import annotations

import numpy as np

from service.errors import InvalidInput
from service.signature import TensorSpec


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
