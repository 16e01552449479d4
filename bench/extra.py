"""The workloads beside the benchmark model's: large tensors and a compute-heavy model.

- ``large_tensor``: one 224x224x3 float image per request to a small CNN
  (``bench.image_model``), over every wire format the service speaks; the service alone,
  since the question is how its formats compare (V2 binary vs V2 JSON).
- ``compute_heavy``: the ``sentiment`` Transformer with raw strings in, where the model's
  compute and so the quality of batching decide throughput; the service and the peers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bench import image_model
from bench.targets import JSON, Target, build_targets, peer_targets
from bench.workload import build_workload

log = logging.getLogger(__name__)

COMPUTE_MODEL = "sentiment"
LARGE_LEVELS = [1, 16]  # the target compares V2 binary with V2 JSON at c=16
COMPUTE_LEVELS = [16, 64]  # the target compares with the best peer at c=64


@dataclass
class ExtraWorkload:
    """Models to serve and the (target, model) pairs to load, for us and for peers."""

    description: str
    models: list[tuple[str, Path]]
    levels: list[int]
    ours: list[tuple[Target, str]]
    peer_apis: dict[str, tuple[str, ...]] = field(default_factory=dict)  # peer -> API keys
    workload: object = None

    def peer_targets(self, peer) -> list[tuple[Target, str]]:
        if self.workload is None or not (apis := self.peer_apis.get(peer.name)):
            return []
        return [(t, self.workload.model) for t in peer_targets(self.workload, apis)]

    def describe(self) -> dict:
        return {"description": self.description, "models": [name for name, _ in self.models]}


def large_tensor(workdir: Path) -> ExtraWorkload:
    """cnn224 over V2 JSON, V2 binary, REST v1 JSON and gRPC; cnn224_jpeg over REST v1 b64."""
    repo = workdir / "image-models"
    image_model.export_models(repo)
    float_dir = repo / image_model.FLOAT_MODEL / "1"
    w = image_model.float_workload(float_dir)
    by_key = {t.key: t for t in build_targets(w)}
    jpeg = Target(
        "rest_v1_b64_jpeg",
        "REST v1 JSON, image as b64 JPEG",
        "http",
        f"/v1/models/{image_model.JPEG_MODEL}:predict",
        image_model.jpeg_b64_body(),
        JSON,
    )
    ours = [(by_key[k], w.model) for k in ("v2_json", "v2_binary", "rest_v1", "grpc")]
    ours.append((jpeg, image_model.JPEG_MODEL))
    return ExtraWorkload(
        "one 224x224x3 float32 image per request (602 KB raw) to a 3-conv CNN",
        [
            (image_model.FLOAT_MODEL, float_dir),
            (image_model.JPEG_MODEL, repo / image_model.JPEG_MODEL / "1"),
        ],
        LARGE_LEVELS,
        ours,
    )


def compute_heavy(version_dir: Path) -> ExtraWorkload:
    """sentiment (a Transformer, raw strings in) over REST v1 for us, JSON REST for peers."""
    w = build_workload(COMPUTE_MODEL, version_dir)
    rest = next(t for t in build_targets(w) if t.key == "rest_v1")
    return ExtraWorkload(
        "the sentiment Transformer, one raw sentence per request",
        [(COMPUTE_MODEL, version_dir)],
        COMPUTE_LEVELS,
        [(rest, COMPUTE_MODEL)],
        {"mlserver": ("v2_json",), "kserve": ("rest_v1",)},
        w,
    )


def extra_workloads(options, model, workdir: Path) -> dict[str, ExtraWorkload]:
    """The extra workloads ``options.workloads`` asks for, by name."""
    from bench.model import latest_version_dir
    from bench.run import default_models_repository

    out: dict[str, ExtraWorkload] = {}
    if "large_tensor" in options.workloads:
        log.info("exporting the large-tensor CNNs")
        out["large_tensor"] = large_tensor(workdir)
    if "compute_heavy" in options.workloads:
        version_dir = latest_version_dir(default_models_repository(model, options) / COMPUTE_MODEL)
        if version_dir is None:
            log.warning("no %s model: the compute-heavy workload is skipped", COMPUTE_MODEL)
        else:
            out["compute_heavy"] = compute_heavy(version_dir)
    return out
