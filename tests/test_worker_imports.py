"""What a serving worker imports: TensorFlow, and not Keras (service/gunicorn_conf.py)."""

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
