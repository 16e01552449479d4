"""Threads and workers from the cgroup CPU quota, read from fake cgroup trees.

The same code also runs for real in the container tests (``podman run --cpus 1``)."""

from __future__ import annotations

import os

import pytest

from service import cpu_quota
from service.cpu_quota import available_cpus, cpu_budget


def write(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "50000 100000"}, 0.5),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "25000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            0.25,
        ),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000"}, None),  # v1 quota without its period
        ({"cpu.max": "garbage"}, None),
        ({"cpu.max": "0 100000"}, None),
        ({}, None),  # no cgroup files at all (not Linux, or not mounted)
    ],
)
def test_available_cpus_reads_v2_then_v1(tmp_path, files, expected):
    assert available_cpus(write(tmp_path, files)) == expected


def test_v2_wins_over_v1_when_both_are_present(tmp_path):
    root = write(
        tmp_path,
        {
            "cpu.max": "100000 100000",
            "cpu/cpu.cfs_quota_us": "300000",
            "cpu/cpu.cfs_period_us": "100000",
        },
    )
    assert available_cpus(root) == 1.0


def test_the_budget_is_the_quota_capped_by_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpu_budget(write(tmp_path / "a", {"cpu.max": "50000 100000"})) == 0.5
    assert cpu_budget(write(tmp_path / "b", {"cpu.max": "6400000 100000"})) == 2.0
    assert cpu_budget(write(tmp_path / "c", {"cpu.max": "max 100000"})) == 2.0


@pytest.fixture
def host(tmp_path, monkeypatch):
    """An 8-core host whose cgroup root is a fake tree: ``host("<cpu.max>")``."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("SERVING_WORKERS", raising=False)
    monkeypatch.delenv("SERVING_TF_INTRA_OP_THREADS", raising=False)

    def limit(cpu_max: str):
        monkeypatch.setattr(cpu_quota, "CGROUP_ROOT", write(tmp_path, {"cpu.max": cpu_max}))

    return limit


@pytest.mark.parametrize(
    ("cpu_max", "workers", "intra_op"),
    [
        ("50000 100000", 1, 1),  # half a CPU: one worker, one thread
        ("100000 100000", 1, 1),
        ("150000 100000", 1, 1),  # whole CPUs only: 1.5 does not fit two workers
        ("200000 100000", 2, 1),
        ("400000 100000", 2, 2),  # more CPUs: more TF threads, not more model copies
        ("max 100000", 2, 4),  # no quota: the 8 cores
    ],
)
def test_settings_derive_workers_and_tf_threads_from_the_quota(host, cpu_max, workers, intra_op):
    from service.settings import Settings

    host(cpu_max)
    settings = Settings()
    assert (settings.workers, settings.intra_op_threads()) == (workers, intra_op)


def test_explicit_settings_win_over_the_quota(host):
    from service.settings import Settings

    host("50000 100000")
    settings = Settings(workers=3, tf_intra_op_threads=4)
    assert (settings.workers, settings.intra_op_threads()) == (3, 4)
