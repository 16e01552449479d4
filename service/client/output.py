"""Printing answers: aligned tables for people, the answer's JSON for ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import click


def table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    """Left-aligned columns separated by two spaces, a header line first."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(_rounded(value), separators=(",", ":"))
    return "" if value is None else str(value)


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def emit(answer: dict, as_json: bool, render) -> None:
    """Print ``answer`` as JSON, or as ``render(answer)`` (a string)."""
    click.echo(json.dumps(answer, indent=2) if as_json else render(answer))


def status(answer: dict) -> str:
    """One model's versions (``/v1/models/<name>``), or every model (``/v1/models``)."""
    if "models" in answer:
        rows = [
            (
                m["name"],
                s["version"],
                s["state"],
                _labels(m.get("labels"), s["version"]),
                s["status"].get("error_message", ""),
            )
            for m in answer["models"]
            for s in m["model_version_status"]
        ]
        return table(("MODEL", "VERSION", "STATE", "LABELS", "ERROR"), rows)
    rows = [
        (
            s["version"],
            s["state"],
            s["status"].get("error_code", ""),
            s["status"].get("error_message", ""),
        )
        for s in answer["model_version_status"]
    ]
    return table(("VERSION", "STATE", "CODE", "ERROR"), rows)


def _labels(labels: dict | None, version: str) -> str:
    return ",".join(sorted(k for k, v in (labels or {}).items() if str(v) == version))


def metadata(answer: dict) -> str:
    """Each signature's inputs and outputs: name, dtype, shape."""
    spec = answer.get("model_spec", {})
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    rows = []
    for signature, definition in sorted(signatures.items()):
        for kind in ("inputs", "outputs"):
            for name, tensor in sorted(definition.get(kind, {}).items()):
                dims = tensor.get("tensor_shape", {}).get("dim", [])
                shape = "[" + ", ".join(str(d.get("size", "?")) for d in dims) + "]"
                rows.append((signature, kind[:-1], name, tensor.get("dtype", ""), shape))
    head = f"model {spec.get('name', '?')} version {spec.get('version', '?')}\n"
    task = answer.get("card", {}).get("task")  # the model card (REST only)
    if task:
        head += "task " + _cell(task) + "\n"
    return head + table(("SIGNATURE", "KIND", "NAME", "DTYPE", "SHAPE"), rows)


def predictions(answer: dict) -> str:
    """Row format: one line per instance (and output); columnar: one line per output."""
    if "predictions" in answer:
        rows = []
        for index, prediction in enumerate(answer["predictions"]):
            if isinstance(prediction, dict):
                rows += [(index, name, value) for name, value in prediction.items()]
            else:
                rows.append((index, "", prediction))
        return table(("INSTANCE", "OUTPUT", "VALUE"), rows)
    outputs = answer["outputs"]
    items = outputs.items() if isinstance(outputs, dict) else [("", outputs)]
    return table(("OUTPUT", "VALUE"), list(items))


def _spec(answer: dict) -> str:
    spec = answer.get("model_spec", {})
    return f"model {spec.get('name', '?')} version {spec.get('version', '?')}\n"


def classifications(answer: dict) -> str:
    rows = [
        (index, rank, label, score)
        for index, result in enumerate(answer["results"])
        for rank, (label, score) in enumerate(result, start=1)
    ]
    return _spec(answer) + table(("INSTANCE", "RANK", "LABEL", "SCORE"), rows)


def forecasts(answer: dict) -> str:
    rows = [
        (index, step, value)
        for index, result in enumerate(answer["results"])
        for step, value in enumerate(result["forecast"], start=1)
    ]
    return _spec(answer) + table(("INSTANCE", "STEP", "FORECAST"), rows)


def detections(answer: dict) -> str:
    rows = []
    for index, result in enumerate(answer["results"]):
        # {feature: share}, largest share first (the server orders it)
        top = list(result.get("contributions", {}).items())[:3]
        shares = ", ".join(f"{feature}={share:.2f}" for feature, share in top)
        rows.append((index, result["score"], result["threshold"], result["anomaly"], shares))
    headers = ("INSTANCE", "SCORE", "THRESHOLD", "ANOMALY", "TOP FEATURES")
    return _spec(answer) + table(headers, rows)
