"""What a serving worker imports: TensorFlow's parts without its public API, and not Keras
(service/gunicorn_conf.py, service/tf_modules.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_worker_serves_a_keras_export_without_importing_keras(tiny_models, tmp_path):
    # The gunicorn config module is what the master imports before forking workers.
    code = textwrap.dedent(
        f"""
        import json, sys
        import service.gunicorn_conf
        from pathlib import Path
        from service.batching import BatchingOptions
        from service.served_model import example_inputs, load_version

        model = load_version("digits", 1, Path({str(tiny_models / "digits" / "1")!r}),
                             BatchingOptions())
        signature = model.signature(None)
        outputs = signature.run(example_inputs(signature, rows=2))
        loaded = sorted(m for m, v in sys.modules.items() if m.startswith("keras") and v)
        print(json.dumps({{"keras": loaded, "shapes": {{k: list(v.shape)
                          for k, v in outputs.items()}}}}))
        model.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "SERVING_STATE_DIR": str(tmp_path),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["keras"] == []
    assert result["shapes"] and all(shape[0] == 2 for shape in result["shapes"].values())


# Loads every tiny model and runs each signature on fixed inputs; prints the outputs and
# what was imported. Run with and without skip_public_api(), as a worker and as the tests.
_SERVE_ALL = """
import json, sys
import numpy as np
import service.gunicorn_conf
from service.tf_modules import skip_public_api
skipped = skip_public_api() if sys.argv[1] == "skip" else False
from pathlib import Path
from service.batching import BatchingOptions
from service.served_model import example_inputs, load_version, freeze_long_lived_objects

outputs = {}
for name in ("digits", "sentiment", "sunspots", "tumor-anomaly"):
    model = load_version(name, 1, Path(sys.argv[2]) / name / "1", BatchingOptions())
    for sig_name, signature in sorted(model.signatures.items()):
        rng = np.random.default_rng(len(outputs))
        inputs = example_inputs(signature, rows=3)
        for key, value in inputs.items():
            if value.dtype.kind == "f":
                inputs[key] = rng.standard_normal(value.shape).astype(value.dtype)
            elif value.dtype == object:
                words = ["a fine film", "dull and long", "nothing works here"]
                inputs[key] = np.array([w.encode() for w in words], dtype=object)
        result = signature.run(inputs)
        outputs[f"{name}/{sig_name}"] = {k: v.tolist() for k, v in sorted(result.items())}
    model.close()
freeze_long_lived_objects()
print(json.dumps({
    "skipped": skipped,
    "modules": len(sys.modules),
    "public_api": sorted(m for m in sys.modules if m.startswith("tensorflow._api")),
    "outputs": outputs,
}))
"""


def _serve_all(mode: str, models: Path, tmp_path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_ALL, mode, str(models)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "SERVING_STATE_DIR": str(tmp_path),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_tensorflows_public_api_every_model_answers_the_same(tiny_models, tmp_path):
    worker = _serve_all("skip", tiny_models, tmp_path)
    full = _serve_all("full", tiny_models, tmp_path)
    assert worker["skipped"] is True and full["skipped"] is False
    assert worker["public_api"] == [] and full["public_api"] != []
    assert worker["modules"] < full["modules"] / 2, (worker["modules"], full["modules"])
    assert worker["outputs"].keys() == full["outputs"].keys()
    assert len(worker["outputs"]) >= 4
    assert worker["outputs"] == full["outputs"]  # same kernels, same batches: the same bits


def test_skipping_the_public_api_is_a_no_op_once_tensorflow_is_imported():
    import tensorflow as tf

    from service.tf_modules import skip_public_api

    assert skip_public_api() is False
    assert sys.modules["tensorflow"] is tf and hasattr(tf, "compat")
