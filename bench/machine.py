"""What the numbers were measured on: machine, software versions and source revision."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "tensorflow",
    "keras",
    "numpy",
    "flask",
    "gunicorn",
    "grpcio",
    "orjson",
    "tensorflow-serving-api",
)


def machine_info() -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])  # MemTotal comes first
        memory_gib = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def software_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        versions["wrk"] = (out.stdout or out.stderr).splitlines()[0].split(" [")[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        versions["wrk"] = None
    return versions


def git_commit(root: Path = ROOT) -> str | None:
    """HEAD's commit read from ``.git`` directly (no git process), or None. In a linked
    worktree ``.git`` is a file naming the worktree's git dir, which holds HEAD, while the
    branch refs live in the common dir it points to."""
    git = root / ".git"
    try:
        if git.is_file():
            git = Path(git.read_text().split("gitdir:", 1)[1].strip())
        common = (
            git / (git / "commondir").read_text().strip() if (git / "commondir").is_file() else git
        )
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (common / ref).is_file():
            return (common / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None
