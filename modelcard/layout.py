"""The repository layout both sides rely on: ``<root>/<model name>/<version number>/``.

TF Serving's rule, in one place for the exporter and the server: a version directory is
named by a plain decimal number (ASCII digits only: ``str.isdigit`` also accepts ``"²"``,
which ``int`` refuses); hidden directories (``.tmp-*`` exports still being written) are
never versions; a version is complete, and so servable, once it holds ``saved_model.pb``
(or ``saved_model.pbtxt``).
"""

from __future__ import annotations

import re
from pathlib import Path

_VERSION_NAME = re.compile(r"[0-9]+")
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def parse_version(text: str) -> int | None:
    """The version number ``text`` spells (plain ASCII decimal), or None."""
    return int(text) if _VERSION_NAME.fullmatch(text) else None


def version_number(path: Path) -> int | None:
    """The version a directory name stands for, or None if it is not a version directory."""
    return parse_version(Path(path).name)


def is_complete_version(path: Path) -> bool:
    """A version directory the server may load: numbered and holding a SavedModel."""
    path = Path(path)
    return (
        version_number(path) is not None
        and path.is_dir()
        and any((path / name).is_file() for name in SAVED_MODEL_FILES)
    )


def version_dirs(model_dir: Path, *, complete: bool = False) -> dict[int, Path]:
    """The version directories of one model by number (only complete ones if asked)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found = {}
    for path in model_dir.iterdir():
        number = version_number(path)
        if number is None or not path.is_dir():
            continue
        if complete and not is_complete_version(path):
            continue
        found[number] = path
    return dict(sorted(found.items()))
