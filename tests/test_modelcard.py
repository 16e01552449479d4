"""The model card package: the one contract training and serving share, and its boundary."""

from __future__ import annotations

import json
import subprocess
import sys

from modelcard import is_complete_version, json_schema, version_dirs, version_number
from tests.conftest import ROOT


def test_published_schema_is_generated_from_the_card_classes():
    published = json.loads((ROOT / "docs" / "model-card.schema.json").read_text())
    assert published == json_schema(), (
        "regenerate: python -m modelcard > docs/model-card.schema.json"
    )
    assert published["title"] == "ModelCard"
    assert {"task", "inputs", "outputs", "metrics"} <= set(published["required"])


def test_service_imports_nothing_from_training():
    """The server must install and ship without the trainer: importing every service
    module (the gRPC transport and gunicorn config included) pulls in no training code."""
    program = (
        "import importlib, pkgutil, sys, service\n"
        "for m in pkgutil.walk_packages(service.__path__, 'service.'):\n"
        "    if not m.name.endswith(('.__main__', '.gunicorn_conf')):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'training' or n.startswith('training.'))\n"
        "print(len([n for n in sys.modules if n.startswith('service.')]), bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    assert int(out[0]) > 20, "the walk imported the service's modules"
    assert out[1].strip() == "[]"


def test_the_version_directory_rule(tmp_path):
    model = tmp_path / "m"
    for name in ("1", "10", "007", "²", "1a", ".tmp-3-ab", "-2"):
        (model / name).mkdir(parents=True)
    (model / "3").write_text("a file, not a directory")
    for complete in ("1", "007"):
        (model / complete / "saved_model.pb").write_bytes(b"")
    assert [version_number(model / n) for n in ("1", "007", "²", "1a", ".tmp-3-ab")] == [
        1,
        7,
        None,
        None,
        None,
    ]
    assert list(version_dirs(model)) == [1, 7, 10]
    assert list(version_dirs(model, complete=True)) == [1, 7]
    assert is_complete_version(model / "1") and not is_complete_version(model / "10")
    assert version_dirs(tmp_path / "absent") == {}
