"""Repository admin decisions shared by every gunicorn worker.

Each worker owns its models, so an unload or load received by one worker must reach the
others. The decision is written to a small JSON file in a directory all workers share
(created by the launcher); every worker applies it on its next repository poll.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AdminState:
    """``{"unloaded": [names], "reloads": {name: count}}`` under an exclusive file lock."""

    def __init__(self, directory: Path | None):
        self.path = Path(directory) / "repository-admin.json" if directory else None

    def read(self) -> tuple[set[str], dict[str, int]]:
        if self.path is None or not self.path.exists():
            return set(), {}
        with self._locked() as state:
            return set(state.get("unloaded", [])), dict(state.get("reloads", {}))

    def unload(self, name: str) -> None:
        with self._locked(write=True) as state:
            state["unloaded"] = sorted(set(state.get("unloaded", [])) | {name})

    def load(self, name: str) -> int:
        """Record a load request; returns the model's new reload count."""
        with self._locked(write=True) as state:
            state["unloaded"] = sorted(set(state.get("unloaded", [])) - {name})
            reloads = state.setdefault("reloads", {})
            reloads[name] = reloads.get(name, 0) + 1
            return reloads[name]

    @contextmanager
    def _locked(self, write: bool = False) -> Iterator[dict]:
        if self.path is None:  # a single process: nothing to share
            yield {}
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            text = handle.read()
            state = json.loads(text) if text.strip() else {}
            yield state
            if write:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state))
