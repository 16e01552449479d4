"""One loaded model version: its SavedModel signatures, card, batchers and warm-up."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelcard import CARD_FILE, ModelCard
from service import metrics, tf_modules
from service.batching import Batcher, BatcherClosed, BatchingOptions
from service.errors import InvalidInput, ServingError, summary
from service.session_runner import ArrayFn, SavedModelSession, ThreadOptions
from service.signature import TensorSpec, tensor_specs, validate_inputs

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"


def read_signature_defs(path: Path):
    """The SignatureDef protos of a SavedModel's serving MetaGraph, as TF Serving reads them
    (for tools; a loaded version has them from its session)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    for meta_graph in saved.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    return dict(saved.meta_graphs[0].signature_def)


@dataclass
class Signature:
    """A callable signature with validated specs and (if batchable) a dynamic batcher."""

    name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    method_name: str
    call: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    batcher: Batcher | None = None

    @property
    def batchable(self) -> bool:
        return all(s.batched for s in (*self.inputs.values(), *self.outputs.values()))

    def run(
        self, inputs: dict[str, np.ndarray], timeout: float | None = None
    ) -> dict[str, np.ndarray]:
        """Validate and run; rows from concurrent requests share one model call."""
        arrays = validate_inputs(self.inputs, inputs)
        if self.batcher is not None:
            try:
                return self.batcher.submit(arrays, timeout=timeout)
            except BatcherClosed:
                # Unloaded after this request resolved it: the version is still in memory
                # (we hold it), so finish the request rather than fail it mid-rollout.
                pass
        return self.call(arrays)


@dataclass
class ServedModel:
    """A loaded, warmed-up version. Immutable once published; dropped when unloaded."""

    name: str
    version: int
    path: Path
    card: ModelCard | None
    signature_defs: dict
    signatures: dict[str, Signature]
    loaded_at: float = field(default_factory=time.time)
    _session: SavedModelSession | None = None  # kept alive as long as the version
    _series: metrics.VersionSeries | None = None  # its histograms, ended with it

    def signature(self, name: str | None) -> Signature:
        name = name or DEFAULT_SIGNATURE
        try:
            return self.signatures[name]
        except KeyError:
            raise InvalidInput(
                f"signature '{name}' not found in model '{self.name}' version {self.version}; "
                f"available: {sorted(self.signatures)}"
            ) from None

    def close(self) -> None:
        """Unloaded: drain the batchers (queued requests are answered) and end the
        version's metric series."""
        for sig in self.signatures.values():
            if sig.batcher is not None:
                sig.batcher.close(drain=True)
        if self._series is not None:
            self._series.forget()


def load_version(
    name: str,
    version: int,
    path: Path,
    batching: BatchingOptions | None,
    threads: ThreadOptions | None = None,
) -> ServedModel:
    """Load, wrap and warm up one version. Raises on any failure (nothing is published)."""
    card = ModelCard.read(path) if (path / CARD_FILE).exists() else None
    session = SavedModelSession(path, threads or ThreadOptions())
    defs = dict(session.meta_graph.signature_def)  # the loader parsed saved_model.pb already
    signatures = {}
    series = metrics.VersionSeries(name, version)
    try:
        for sig_name, sig_def in defs.items():
            if sig_name.startswith("__"):  # e.g. __saved_model_init_op: not a servable signature
                continue
            run, _ = session.callable(sig_name)
            signature = Signature(
                sig_name,
                tensor_specs(sig_def.inputs),
                tensor_specs(sig_def.outputs),
                sig_def.method_name,
                _caller(run, series.observe_call),
            )
            if batching is not None and signature.batchable:
                signature.batcher = Batcher(
                    signature.call,
                    batching,
                    name=f"{name}/{version}",
                    observer=series.observe_batch,
                )
            signatures[sig_name] = signature
        if not signatures:
            raise ValueError("the SavedModel has no callable signatures")
    except BaseException:
        series.forget()
        raise
    model = ServedModel(
        name, version, path, card, defs, signatures, _session=session, _series=series
    )
    try:
        warm_up(model)
    except BaseException:
        model.close()
        raise
    return model


def freeze_long_lived_objects() -> None:
    """Take every object alive now out of the cyclic GC's scans (``gc.freeze``): called
    once, when a worker has loaded its models and before it serves (``start_serving``).

    A worker holds ~400k long-lived Python objects (TensorFlow's modules, the loaded graphs)
    and each full collection walks all of them with the GIL held: 70-250 ms per collection,
    every few hundred JSON requests under load, stalling the whole worker. Measured with
    ``python -m bench`` (REST v1, c=64): ~300-370 -> ~620 req/s, and c=1 p99 stalls of
    ~220 ms gone.

    Not again after each hot load: that needed ``gc.unfreeze()`` + a full collection (so
    versions unloaded since could be freed), 200-400 ms with the GIL held in each worker,
    which took the p99 of *other* models from 19 ms to ~400 ms while one model was being
    reloaded (tests/test_isolation.py). Versions loaded later stay in the normal
    generations: a few thousand objects each, cheap to scan, and freed once unloaded. A
    version loaded at start and unloaded later stays frozen (its graph's cycles are never
    collected: ~6 MiB for the tiny sentiment model), once per version loaded at start.
    """
    # A repository empty at start would import these later, unfrozen.
    tf_modules.import_serving_modules()

    gc.collect()
    gc.freeze()
    # The collector schedules full collections by the objects that survived the last one:
    # 400k, now frozen, would defer them until 100k new objects piled up (unloaded versions
    # with them). One more pass over the now-empty oldest generation resets that count.
    gc.collect()


def collect_unloaded() -> None:
    """Free the versions just unloaded (their graphs hold reference cycles): a full
    collection, which walks only objects made since start, the others being frozen: a few
    ms in a worker serving the four default models."""
    gc.collect()


def _caller(run: ArrayFn, observe_call: Callable[[float], None]) -> ArrayFn:
    """The signature's session callable, each call (one batch) timed into ``observe_call``."""
    from tensorflow.python.framework.errors_impl import InvalidArgumentError

    def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        try:
            outputs = run(inputs)
        except (InvalidArgumentError, ValueError, TypeError) as exc:
            raise InvalidInput(f"the model rejected the input: {summary(exc)}") from exc
        observe_call(time.perf_counter() - started)
        return outputs

    return call


def example_inputs(signature: Signature, rows: int = 1) -> dict[str, np.ndarray]:
    """A request built from the input specs (variable dims as 1): used for warm-up."""
    inputs = {}
    for name, spec in signature.inputs.items():
        shape = tuple(
            rows if i == 0 and d is None else (d or 1) for i, d in enumerate(spec.shape or (rows,))
        )
        if spec.is_string:
            inputs[name] = np.full(shape, b"warm up", dtype=object)
        else:
            inputs[name] = np.zeros(shape, dtype=spec.dtype)
    return inputs


def warm_up(model: ServedModel) -> None:
    """Run every signature once so the first client request pays no tracing or allocation."""
    for signature in model.signatures.values():
        try:
            signature.run(example_inputs(signature))
        except ServingError as exc:
            raise RuntimeError(
                f"warm-up of signature '{signature.name}' failed: {exc.message}"
            ) from exc
