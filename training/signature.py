"""The card's input/output specs, read from the exported SavedModel itself.

The serving graph is the one authority on tensor names, dtypes and shapes; writing them
a second time by hand in each pipeline let the card and the graph drift apart. A pipeline
adds only what the graph cannot say: what each tensor means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcard import TensorDescription


def _describe(spec: Any, name: str, descriptions: dict[str, str]) -> TensorDescription:
    return TensorDescription(
        name=name,
        dtype=spec.dtype.name,  # TensorFlow's own names: float32, int64, string
        # -1 marks a variable dimension, as TF Serving's metadata and the card's schema say
        shape=[-1 if d is None else int(d) for d in spec.shape.as_list()],
        description=descriptions.get(name, ""),
    )


def describe_signature(
    saved_model_dir: Path, descriptions: dict[str, str], signature: str = "serving_default"
) -> tuple[list[TensorDescription], list[TensorDescription]]:
    """Inputs and outputs of ``signature`` in the SavedModel at ``saved_model_dir``, each
    with its description from ``descriptions`` (tensor name -> meaning).

    Tensors come in the order ``descriptions`` names them, then any undescribed ones by
    name. Raises ``ValueError`` if ``descriptions`` names a tensor the signature lacks (a
    renamed or removed tensor must not leave a stale description behind).
    """
    import tensorflow as tf

    fn = tf.saved_model.load(str(saved_model_dir)).signatures[signature]
    input_specs = fn.structured_input_signature[1]
    output_specs = fn.structured_outputs
    unknown = set(descriptions) - set(input_specs) - set(output_specs)
    if unknown:
        raise ValueError(
            f"descriptions for tensors the {signature!r} signature does not have: "
            f"{sorted(unknown)}; it has inputs {sorted(input_specs)} and outputs "
            f"{sorted(output_specs)}"
        )
    order = {name: i for i, name in enumerate(descriptions)}

    def ordered(specs: dict[str, Any]) -> list[TensorDescription]:
        names = sorted(specs, key=lambda n: (order.get(n, len(order)), n))
        return [_describe(specs[n], n, descriptions) for n in names]

    return ordered(input_specs), ordered(output_specs)
