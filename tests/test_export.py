"""Atomic, versioned export and the retrain gate's comparison rule."""

from __future__ import annotations

import pytest

from training.export import export_version, list_versions, prune_versions
from training.retrain import is_no_worse


def _write(files: dict[str, str]):
    def write(tmp, version):
        for name, text in files.items():
            (tmp / name).write_text(text.format(version=version))

    return write


def test_versions_increase_and_are_published_complete(tmp_path):
    v1, _ = export_version(tmp_path / "m", _write({"saved_model.pb": "v{version}"}))
    v2, p2 = export_version(tmp_path / "m", _write({"saved_model.pb": "v{version}"}))
    assert (v1, v2) == (1, 2)
    assert p2.name == "2" and (p2 / "saved_model.pb").read_text() == "v2"
    assert list_versions(tmp_path / "m") == [1, 2]


def test_failed_export_leaves_no_version_and_no_temporary(tmp_path):
    export_version(tmp_path / "m", _write({"saved_model.pb": "ok"}))

    def half_written(tmp, version):
        (tmp / "saved_model.pb").write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export_version(tmp_path / "m", half_written)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]
    # the failed number is not burnt: the next export takes it
    version, _ = export_version(tmp_path / "m", _write({"saved_model.pb": "ok"}))
    assert version == 2


def test_hidden_temporaries_are_not_versions(tmp_path):
    (tmp_path / "m" / ".tmp-3-abcd").mkdir(parents=True)
    (tmp_path / "m" / "notes").mkdir()
    assert list_versions(tmp_path / "m") == []


def test_keep_prunes_oldest_versions(tmp_path):
    for _ in range(4):
        export_version(tmp_path / "m", _write({"f": "x"}), keep=2)
    assert list_versions(tmp_path / "m") == [3, 4]
    assert prune_versions(tmp_path / "m", 1) == [3]
    with pytest.raises(ValueError):
        prune_versions(tmp_path / "m", 0)


@pytest.mark.parametrize(
    ("challenger", "current", "higher", "tolerance", "expected"),
    [
        (0.95, 0.95, True, 0.0, True),
        (0.94, 0.95, True, 0.0, False),
        (0.94, 0.95, True, 0.02, True),
        (10.0, 12.0, False, 0.0, True),
        (12.5, 12.0, False, 0.0, False),
        (12.5, 12.0, False, 1.0, True),
    ],
)
def test_no_worse_rule(challenger, current, higher, tolerance, expected):
    assert is_no_worse(challenger, current, higher, tolerance) is expected
