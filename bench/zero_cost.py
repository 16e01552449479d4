"""A zero-cost stand-in for the benchmarked model, served beside it by the same service.

The stand-in has the real model's ``serving_default`` signature (input names, dtypes and
shapes; output names and shapes) and computes nothing: it answers zeros. REST v1 on it goes
through everything the real request does (routing, validation, JSON to numpy, the batcher,
a session call, metrics, logs, the JSON answer) except the model's own compute. So, at the
same concurrency and in the same run:

- stand-in vs the bare echo is what the serving stack costs beyond parsing the request;
- real model vs stand-in is what the model's compute costs under load.

The service is pointed at a repository of symlinks to the benchmarked repository's entries
plus the stand-in, so the real model is served exactly as before. The stand-in gets the
real model's batching settings from the repository's own ``repository.json``, if there is
one (a config elsewhere, given by ``SERVING_REPOSITORY_CONFIG``, leaves it on defaults).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = "_zero_cost"
CONFIG_FILE = "repository.json"  # the service's default config name inside a repository


@dataclass(frozen=True)
class ZeroCostRepository:
    """A repository serving the benchmarked models plus ``model``, the stand-in."""

    repo: Path
    model: str


def export_zero_cost_model(version_dir: Path, target_dir: Path) -> str | None:
    """Export the stand-in of the SavedModel in ``version_dir`` to ``target_dir``.

    Returns None on success, else why the signature admits no stand-in (an unbatched
    input or output, an output with an unknown non-batch dimension, a string output).
    """
    import tensorflow as tf

    from service.served_model import DEFAULT_SIGNATURE, read_signature_defs
    from service.signature import tensor_specs

    signature_def = read_signature_defs(version_dir).get(DEFAULT_SIGNATURE)
    if signature_def is None:
        return f"no '{DEFAULT_SIGNATURE}' signature"
    inputs, outputs = tensor_specs(signature_def.inputs), tensor_specs(signature_def.outputs)
    for spec in (*inputs.values(), *outputs.values()):
        if not spec.batched:
            return f"'{spec.name}' has no batch dimension"
    for spec in outputs.values():
        if any(d is None for d in spec.shape[1:]):
            return f"output '{spec.name}' has an unknown dimension: {list(spec.shape)}"
        if spec.is_string:
            return f"output '{spec.name}' is a string tensor"
    names = sorted(inputs)
    input_signature = [
        tf.TensorSpec(inputs[n].shape, tf.dtypes.as_dtype(inputs[n].tf_dtype), name=n)
        for n in names
    ]

    class ZeroCost(tf.Module):
        @tf.function(input_signature=input_signature, autograph=False)
        def serve(self, *args):
            rows = tf.shape(args[0])[:1]
            return {
                name: tf.zeros(
                    tf.concat([rows, list(spec.shape[1:])], 0),
                    tf.dtypes.as_dtype(spec.tf_dtype),
                )
                for name, spec in outputs.items()
            }

    module = ZeroCost()
    try:
        tf.saved_model.save(module, str(target_dir), signatures={DEFAULT_SIGNATURE: module.serve})
    except Exception as exc:  # a diagnostic row must not stop the benchmark: report why
        return f"export failed: {type(exc).__name__}: {exc}"
    return None


def build_repository(
    repo: Path, model: str, version_dir: Path, workdir: Path
) -> ZeroCostRepository | str:
    """``workdir/zero-cost-repo``: ``repo``'s entries as symlinks plus the stand-in of
    ``model`` as ``<model>_zero_cost/1``. Returns why not if the model admits no stand-in."""
    served = workdir / "zero-cost-repo"
    served.mkdir()
    name = model + SUFFIX
    reason = export_zero_cost_model(version_dir, served / name / "1")
    if reason is not None:
        return reason
    for entry in repo.iterdir():
        if entry.name != CONFIG_FILE and entry.name != name:
            (served / entry.name).symlink_to(entry.resolve())
    config_path = repo / CONFIG_FILE
    if config_path.is_file():
        # The stand-in batches like the real model; a broken config stays broken for the
        # service to report, rather than be fixed up here.
        try:
            config = json.loads(config_path.read_text())
            batching = config.get("models", {}).get(model, {}).get("batching")
            if batching is not None:
                config["models"][name] = {"batching": batching}
        except (ValueError, AttributeError):
            log.warning("%s is not a JSON object; copied as is", config_path)
        else:
            (served / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        if not (served / CONFIG_FILE).exists():
            (served / CONFIG_FILE).symlink_to(config_path.resolve())
    return ZeroCostRepository(served, name)
