"""Reading request instances from files or stdin: JSON, CSV, PNG/JPEG images or text.

Every reader returns a :class:`Payload`: the instances (one per row, image or line) and,
for JSON that already is a request body (``{"instances": ...}`` / ``{"inputs": ...}``),
that body unchanged. Nothing here decodes images: they travel as ``{"b64": ...}`` and the
server resizes them (its :classify verb does), so the client needs no image stack.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

FORMATS = ("auto", "json", "csv", "image", "text")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
_BY_SUFFIX = {
    ".json": "json",
    ".csv": "csv",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".txt": "text",
}


@dataclass
class Payload:
    """What the files said: instances, or a whole request body given as JSON."""

    instances: list = field(default_factory=list)
    body: dict | None = None
    formats: set[str] = field(default_factory=set)

    def request(self, **options) -> dict:
        """The REST request body: the given body, or ``{"instances": ...}``, plus options
        that were set (``None`` ones are left out)."""
        body = dict(self.body) if self.body is not None else {"instances": self.instances}
        body.update({k: v for k, v in options.items() if v is not None})
        return body


def read(sources: tuple[str, ...], fmt: str = "auto") -> Payload:
    """Read every source (a path, or ``-`` for stdin; none means stdin) into one payload."""
    payload = Payload()
    for source in sources or ("-",):
        data = _read_bytes(source)
        kind = fmt if fmt != "auto" else _detect(source, data)
        payload.formats.add(kind)
        if kind == "json":
            parsed = _json(source, data)
            if isinstance(parsed, dict):
                if len(sources) > 1:
                    raise click.UsageError(f"{source}: a request body must be the only input")
                if not {"instances", "inputs"} & set(parsed):
                    raise click.UsageError(
                        f"{source}: a JSON object must have 'instances' or 'inputs'"
                    )
                payload.body = parsed
            elif isinstance(parsed, list):
                payload.instances.extend(parsed)
            else:
                raise click.UsageError(f"{source}: expected a JSON list or request object")
        elif kind == "csv":
            payload.instances.extend(_csv(source, data))
        elif kind == "image":
            payload.instances.append({"b64": base64.b64encode(data).decode("ascii")})
        else:
            payload.instances.extend(_text(source, data))
    if payload.body is None and not payload.instances:
        raise click.UsageError("the input has no instances")
    return payload


def _read_bytes(source: str) -> bytes:
    if source == "-":
        if sys.stdin.isatty():  # nothing piped in: waiting would look like a hang
            raise click.UsageError("no INPUT: name a file, or pipe the input into stdin")
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from exc


def _detect(source: str, data: bytes) -> str:
    """By suffix for files; by content for stdin (and files with other suffixes)."""
    suffix = Path(source).suffix.lower() if source != "-" else ""
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    if data.startswith(_IMAGE_MAGIC):
        return "image"
    text = _decode(source, data).strip()
    if text[:1] in "[{":
        return "json"
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and all(_numbers(line.split(",")) is not None for line in lines):
        return "csv"
    return "text"


def _decode(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"{source}: not UTF-8 text (use --format image?)") from exc


def _json(source: str, data: bytes):
    try:
        return json.loads(_decode(source, data))
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{source}: invalid JSON: {exc}") from exc


def _numbers(cells: list[str]) -> list[float] | None:
    try:
        return [float(cell) for cell in cells]
    except ValueError:
        return None


def _csv(source: str, data: bytes) -> list[list[float]]:
    """One instance per row of numbers; a first row that is not numbers is a header."""
    rows = [row for row in csv.reader(io.StringIO(_decode(source, data))) if row]
    instances = []
    for number, row in enumerate(rows, start=1):
        values = _numbers(row)
        if values is None:
            if number == 1:
                continue
            raise click.UsageError(f"{source}: row {number} is not all numbers: {row}")
        instances.append(values)
    return instances


def _text(source: str, data: bytes) -> list[str]:
    return [line.strip() for line in _decode(source, data).splitlines() if line.strip()]
