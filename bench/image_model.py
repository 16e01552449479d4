"""The large-tensor workload: a small CNN on one 224x224x3 float image per request.

A request carries 150,528 floats, so the wire format, not the model, decides the cost:
V2 JSON (text numbers) vs V2 binary tensors vs gRPC ``tensor_content`` vs REST v1 with
the image as a base64 JPEG that the graph decodes. Two SavedModels with the same
deterministic weights are exported once per run: ``cnn224`` takes the float image,
``cnn224_jpeg`` the JPEG bytes (``tf.io.decode_jpeg`` inside the graph, as an image model
taking TF Serving's ``{"b64": ...}`` strings does).
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import orjson

from bench import workload as wl

FLOAT_MODEL = "cnn224"
JPEG_MODEL = "cnn224_jpeg"
SIDE = 224
# A few strided convolutions and a classifier: ~0.1 GFLOP per image, small next to
# parsing 150k JSON numbers, so the row shows the wire format.
FILTERS = (16, 32, 64)
CLASSES = 10
SEED = 0


def export_models(repo: Path) -> None:
    """``repo/cnn224/1`` and ``repo/cnn224_jpeg/1`` with the same seeded weights."""
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    kernels, channels = [], 3
    for filters in FILTERS:
        scale = np.sqrt(2.0 / (9 * channels))  # He init keeps activations in range
        kernels.append(
            tf.constant(rng.normal(0, scale, (3, 3, channels, filters)).astype(np.float32))
        )
        channels = filters
    dense = tf.constant(rng.normal(0, 0.1, (channels, CLASSES)).astype(np.float32))

    def logits(images: tf.Tensor) -> tf.Tensor:
        x = images / 255.0
        for kernel in kernels:
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
        return tf.matmul(tf.reduce_mean(x, axis=[1, 2]), dense)

    class FloatModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, SIDE, SIDE, 3], tf.float32)])
        def serve(self, image):
            return {"probabilities": tf.nn.softmax(logits(image))}

    class JpegModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, image_bytes):
            def decode(data):
                # The service warms a string input up with a placeholder that is no JPEG:
                # such an input gets a black image instead of failing the load.
                return tf.cond(
                    tf.io.is_jpeg(data),
                    lambda: tf.cast(
                        tf.reshape(tf.io.decode_jpeg(data, channels=3), [SIDE, SIDE, 3]),
                        tf.float32,
                    ),
                    lambda: tf.zeros([SIDE, SIDE, 3]),
                )

            images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.float32)
            return {"probabilities": tf.nn.softmax(logits(images))}

    for name, module in ((FLOAT_MODEL, FloatModel()), (JPEG_MODEL, JpegModel())):
        tf.saved_model.save(
            module, str(repo / name / "1"), signatures={"serving_default": module.serve}
        )


def sample_image() -> np.ndarray:
    """One smooth seeded image, (1, 224, 224, 3) float32 in 0..255: smooth so that its
    JPEG is of a realistic size (a noise image would not compress)."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    rng = np.random.default_rng(SEED)
    channels = [np.sin(6 * x * rng.random() + 4 * y * rng.random()) for _ in range(3)]
    image = 127.5 * (1 + np.stack(channels, axis=-1))
    return image.round().astype(np.float32)[None]


def float_workload(version_dir: Path) -> wl.Workload:
    """``cnn224``'s workload with :func:`sample_image` as its input."""
    w = wl.build_workload(FLOAT_MODEL, version_dir)
    (only,) = w.inputs
    return wl.Workload(
        w.model, [wl.Input(only.name, only.tf_dtype, sample_image())], w.outputs, None, None
    )


def jpeg_b64_body() -> bytes:
    """REST v1 for ``cnn224_jpeg``: ``{"instances": [{"b64": <the image as JPEG>}]}``."""
    import tensorflow as tf

    jpeg = tf.io.encode_jpeg(sample_image()[0].astype(np.uint8), quality=90).numpy()
    return orjson.dumps({"instances": [{"b64": base64.b64encode(jpeg).decode()}]})
