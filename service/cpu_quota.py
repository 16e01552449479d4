"""How many CPUs this process may use: the cgroup CPU quota, not the host's core count.

In a container ``os.cpu_count()`` reports the host's cores, so a pod limited to one CPU on
a 32-core node would start 32 TensorFlow threads per worker and spend its quota on
contention. The limit is the cgroup's CPU bandwidth quota: ``cpu.max`` in cgroup v2
(``"<quota> <period>"`` or ``"max <period>"``), ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
in cgroup v1 (quota -1 means unlimited). Inside a container ``/sys/fs/cgroup`` is the
container's own cgroup (cgroup namespace in v2, bind mounts in v1), so reading it at the
root is enough there; on a host without a quota nothing is found and the core count rules.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 mounts the cpu controller alone or together with cpuacct, depending on the host.
_V1_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def available_cpus(root: Path | str | None = None) -> float | None:
    """CPUs granted by the cgroup CPU quota under ``root`` (default ``/sys/fs/cgroup``),
    e.g. 1.5, or None when there is no quota (unlimited) or no cgroup file can be read."""
    root = Path(CGROUP_ROOT if root is None else root)
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else _ratio(quota, period)
    for name in _V1_DIRS:
        quota = _read(root / name / "cpu.cfs_quota_us")
        period = _read(root / name / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return None if quota.strip() == "-1" else _ratio(quota, period)
    return None


def cpu_budget(root: Path | str | None = None) -> float:
    """The CPUs to size workers and thread pools by: the quota if there is one, else the
    cores this process may run on (its affinity mask), never more than either."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = available_cpus(root)
    return float(cores) if quota is None else min(quota, float(cores))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us
