"""Parsing of TF Serving's model URLs: ``{name}[/versions/{n}|/labels/{l}][/metadata|:verb]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import NotFound

_MODEL_URL = re.compile(
    r"^(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>-?\d+)|/labels/(?P<label>[A-Za-z0-9_]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[a-z]+))?$"
)


@dataclass(frozen=True)
class ModelUrl:
    name: str
    version: int | None
    label: str | None
    metadata: bool
    verb: str | None


def parse_model_url(rest: str, method: str) -> ModelUrl:
    match = _MODEL_URL.match(rest)
    if match is None:
        raise NotFound(f"malformed request: {method} /v1/models/{rest}")
    version = match["version"]
    return ModelUrl(
        match["name"],
        int(version) if version is not None else None,
        match["label"],
        bool(match["metadata"]),
        match["verb"],
    )
