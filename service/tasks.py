"""Task adapters: classification, forecasting and anomaly detection on top of inference.

Driven by the model card's task section, never by the architecture: any model whose card
says ``classification`` gets top-k labels, whatever network produced the probabilities.
Every adapter takes a list of instances and returns one result object per instance.
"""

from __future__ import annotations

import base64
import binascii
import io
import math

import numpy as np

from modelcard import AnomalyTask, ClassificationTask, ForecastingTask, ImageSpec
from service.codecs.json_body import refuse_unknown_keys
from service.dataplane import DataPlane, InferRequest
from service.errors import InvalidInput, Unimplemented
from service.served_model import ServedModel

# Largest image a client may send for the server to decode and resize (a 4096x4096 photo):
# Image.open reads only the header, so a decompression bomb is refused before decoding.
MAX_IMAGE_PIXELS = 4096 * 4096


def task_of(model: ServedModel, kind: type):
    task = model.card.task if model.card is not None else None
    if not isinstance(task, kind):
        have = task.kind if task is not None else "no model card"
        raise Unimplemented(
            f"model '{model.name}' version {model.version} is not a "
            f"{kind.model_fields['kind'].default} model ({have})"
        )
    return task


def _only(body: dict, *options: str) -> None:
    """Refuse keys the verb does not take: a misspelt option must not be ignored."""
    refuse_unknown_keys(body, {"instances", *options}, "this verb's body")


def _instances(body: dict) -> list | np.ndarray:
    instances = body.get("instances")
    if isinstance(instances, np.ndarray):  # numbers parsed straight to numpy: never empty
        return instances
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list with one entry per example")
    return instances


def _int_param(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"'{name}' must be an integer in [{low}, {high}], got {value!r}")
    return value


def classify(
    plane: DataPlane, model: ServedModel, body: dict, deadline: float | None = None
) -> list:
    """Top-k ``[label, score]`` pairs per instance (TF Serving's ``results`` shape)."""
    task: ClassificationTask = task_of(model, ClassificationTask)
    _only(body, "k")
    k = _int_param(body, "k", min(5, len(task.labels)), 1, len(task.labels))
    instances = _instances(body)
    if task.input_kind == "text":
        if not all(isinstance(x, str) for x in instances):
            raise InvalidInput("instances of a text model must be strings")
        inputs = np.array([x.encode("utf-8") for x in instances], dtype=object)
    elif task.input_kind == "image" and task.image is not None:
        inputs = np.stack([_image(x, task.image, i) for i, x in enumerate(instances)])
    else:
        inputs = np.asarray(instances, dtype=np.float32)
    probs = plane.infer(
        InferRequest(model, {task.input: inputs}, outputs=[task.output], deadline=deadline)
    ).outputs[task.output]
    top = np.argsort(-probs, axis=1)[:, :k]
    return [
        [[task.labels[j], float(row[j])] for j in idx] for row, idx in zip(probs, top, strict=False)
    ]


def _image(value: object, spec: ImageSpec, index: int) -> np.ndarray:
    """A raw pixel array, or ``{"b64": PNG/JPEG}`` decoded and resized to the model input."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        from PIL import Image, UnidentifiedImageError

        if not isinstance(value["b64"], str):
            raise InvalidInput(f"instance {index}: 'b64' must be a base64 string")
        try:
            image = Image.open(io.BytesIO(base64.b64decode(value["b64"], validate=True)))
            if image.width * image.height > MAX_IMAGE_PIXELS:  # known before decoding
                raise InvalidInput(
                    f"instance {index}: an image of {image.width}x{image.height} pixels "
                    f"exceeds the limit of {MAX_IMAGE_PIXELS} pixels"
                )
            image = image.convert("L" if spec.channels == 1 else "RGB")
        except Image.DecompressionBombError:  # PIL's own, larger limit, hit at open
            raise InvalidInput(
                f"instance {index}: the image exceeds the limit of {MAX_IMAGE_PIXELS} pixels"
            ) from None
        except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
            raise InvalidInput(f"instance {index}: b64 data is not a PNG or JPEG image") from None
        image = image.resize((spec.width, spec.height), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32).reshape(spec.height, spec.width, spec.channels)
        return 255.0 - pixels if spec.invert else pixels
    try:
        pixels = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(f"instance {index} is neither a pixel array nor a b64 image") from None
    want = (spec.height, spec.width, spec.channels)
    if pixels.shape == want[:2] and spec.channels == 1:
        pixels = pixels[..., None]
    if pixels.shape != want:
        raise InvalidInput(
            f"instance {index}: expected pixels of shape {list(want)}, got {list(pixels.shape)}"
        )
    return pixels


def forecast(
    plane: DataPlane, model: ServedModel, body: dict, deadline: float | None = None
) -> list:
    """The next ``steps`` values (1..horizon) after each history window."""
    task: ForecastingTask = task_of(model, ForecastingTask)
    _only(body, "steps")
    steps = _int_param(body, "steps", task.horizon, 1, task.horizon)
    histories = []
    for i, history in enumerate(_instances(body)):
        try:
            values = np.asarray(history, dtype=np.float32)
        except (ValueError, TypeError):
            raise InvalidInput(f"instance {i}: history must be a list of numbers") from None
        if values.ndim != 1 or len(values) < task.window:
            raise InvalidInput(
                f"instance {i}: history must hold at least {task.window} values "
                f"(the model's window), got shape {list(values.shape)}"
            )
        histories.append(values[-task.window :])
    out = plane.infer(
        InferRequest(
            model, {task.input: np.stack(histories)}, outputs=[task.output], deadline=deadline
        )
    ).outputs[task.output]
    return [{"forecast": row[:steps].tolist(), "steps": steps} for row in out]


def detect(plane: DataPlane, model: ServedModel, body: dict, deadline: float | None = None) -> list:
    """Per instance: anomaly score, threshold (overridable), verdict, optional explanation."""
    task: AnomalyTask = task_of(model, AnomalyTask)
    _only(body, "threshold", "explain")
    threshold = body.get("threshold", task.threshold)
    if (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not math.isfinite(threshold)
    ):
        raise InvalidInput(f"'threshold' must be a finite number, got {threshold!r}")
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidInput("'explain' must be true or false")
    rows = []
    for i, x in enumerate(_instances(body)):
        if isinstance(x, dict):  # named features, in any order
            missing = [f for f in task.feature_names if f not in x]
            if missing:
                raise InvalidInput(f"instance {i} lacks features {missing[:5]}")
            x = [x[f] for f in task.feature_names]
        rows.append(x)
    try:
        features = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInput(
            "instances must be lists of numbers (or objects keyed by feature name) of equal length"
        ) from None
    wanted = [task.score_output] + ([task.contributions_output] if explain else [])
    out = plane.infer(
        InferRequest(model, {task.input: features}, outputs=wanted, deadline=deadline)
    ).outputs
    results = []
    for i, score in enumerate(out[task.score_output]):
        item = {
            "score": float(score),
            "threshold": float(threshold),
            "anomaly": bool(score > threshold),
        }
        if explain:
            shares = out[task.contributions_output][i]
            order = np.argsort(-shares)
            item["contributions"] = {task.feature_names[j]: float(shares[j]) for j in order}
        results.append(item)
    return results
