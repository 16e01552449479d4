"""TF Serving's model metadata: a model's SignatureDefs as the ``SignatureDefMap`` proto that
both its REST metadata (as JSON) and its gRPC ``GetModelMetadata`` (packed in an ``Any``)
carry."""

from __future__ import annotations


def signature_def_map(signature_defs: dict):
    """``tensorflow.serving.SignatureDefMap`` of ``{name: SignatureDef}``."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    return signature_map
