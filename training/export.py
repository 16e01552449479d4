"""Atomic, versioned export into a TF Serving-style model directory.

A version is written to a hidden temporary directory beside its final place (same
filesystem) and renamed into ``<root>/<name>/<version>`` only once complete, so a watcher
polling the repository never sees a half-written version. Hidden directories are ignored
by the server and by version numbering.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from modelcard import version_dirs

log = logging.getLogger(__name__)


def list_versions(model_dir: Path) -> list[int]:
    """Version numbers of one model, ascending: complete or not, so that a number in use
    (even by a version still arriving) is never handed out twice."""
    return list(version_dirs(model_dir))


def next_version(model_dir: Path) -> int:
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def export_version(
    model_dir: Path, write: Callable[[Path, int], None], keep: int | None = None
) -> tuple[int, Path]:
    """Write a new version with ``write(tmp_dir, version)`` and publish it atomically.

    If ``write`` raises, the temporary directory is removed and no version appears.
    ``keep`` (if set) prunes the oldest versions beyond that count after publishing.
    Returns the new version number and its directory.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(model_dir)
    tmp = model_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        write(tmp, version)
        _fsync_tree(tmp)
        final = model_dir / str(version)
        # os.rename fails if the target exists (another exporter won the race), which is
        # what we want: never overwrite a published version.
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep is not None:
        prune_versions(model_dir, keep)
    log.info("exported %s version %d", model_dir.name, version)
    return version, final


def prune_versions(model_dir: Path, keep: int) -> list[int]:
    """Delete all but the newest ``keep`` versions; returns the removed version numbers."""
    if keep < 1:
        raise ValueError("keep must be >= 1")
    versions = list_versions(model_dir)
    removed = versions[:-keep]
    for version in removed:
        shutil.rmtree(model_dir / str(version), ignore_errors=True)
    return removed


def _fsync_tree(root: Path) -> None:
    # Flush file contents before the rename publishes them, so a crash cannot leave a
    # published version with truncated files.
    for dirpath, _, filenames in os.walk(root):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
