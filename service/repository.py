"""The live model repository: discovery, version policy, labels, hot reload.

A background thread scans ``<repository>/<name>/<version>/`` every ``poll_interval_s``.
New versions the policy wants are loaded, validated and warmed up *before* they are
published; the published map is replaced atomically (readers never lock). Versions that
leave the policy or whose directory disappears are unpublished and their batchers drained,
so requests already holding them finish. A version that fails to load is reported in its
status and never displaces a healthy one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcard import version_dirs
from service import metrics
from service.admin_state import AdminState
from service.batching import BatchingOptions
from service.errors import ModelNotFound, Unavailable, VersionNotFound, summary
from service.repository_config import RepositoryConfig, read_repository_config
from service.served_model import ServedModel, load_version
from service.session_runner import ThreadOptions

log = logging.getLogger(__name__)

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass
class VersionStatus:
    """TF Serving's ModelVersionStatus: state plus an error for failed loads."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


@dataclass
class ModelState:
    """Published view of one model; replaced (never mutated) when anything changes."""

    name: str
    versions: dict[int, ServedModel] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    @property
    def latest(self) -> ServedModel | None:
        return self.versions[max(self.versions)] if self.versions else None


class ModelRepository:
    """Discovers, loads and serves model versions; all public reads are lock-free."""

    def __init__(
        self,
        root: Path,
        config_path: Path | None,
        batching: BatchingOptions | None,
        poll_interval_s: float = 2.0,
        admin_state: AdminState | None = None,
        threads: ThreadOptions | None = None,
    ):
        self.root = Path(root)
        self.config_path = config_path
        self.batching = batching
        self.poll_interval_s = poll_interval_s
        self.threads = threads or ThreadOptions()
        self._models: dict[str, ModelState] = {}
        self._status: dict[str, dict[int, VersionStatus]] = {}
        self._failed: dict[tuple[str, int], float] = {}  # (model, version) -> mtime that failed
        self._unloaded_by_request: set[str] = set()
        self._admin = admin_state or AdminState(None)
        self._reloads_seen: dict[str, int] = {}
        self._config = RepositoryConfig()
        self._lock = threading.RLock()  # serialises scans, loads and admin operations
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.scanned = threading.Event()  # set after the first complete scan

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Scan in the background now and then every poll interval."""
        self._thread = threading.Thread(
            target=self._poll_loop, name="model-repository", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for state in self._models.values():
            for model in state.versions.values():
                model.close()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception:  # a bad scan must never kill the poller
                log.exception("repository scan failed")
            self.scanned.set()
            if self.poll_interval_s <= 0:
                return
            self._stop.wait(self.poll_interval_s)

    # ---- reads (lock-free) -----------------------------------------------------------
    def model_names(self) -> list[str]:
        return sorted(set(self._models) | set(self._status))

    def get(self, name: str, version: int | None = None, label: str | None = None) -> ServedModel:
        """Resolve a model, optionally by version or label; latest loaded otherwise."""
        state = self._models.get(name)
        if state is None:
            if name in self._status:
                raise Unavailable(f"model '{name}' has no available version yet")
            raise ModelNotFound(f"model '{name}' not found")
        if label is not None:
            if label not in state.labels:
                raise VersionNotFound(f"label '{label}' not found for model '{name}'")
            version = state.labels[label]
            if version not in state.versions:
                raise VersionNotFound(
                    f"label '{label}' of model '{name}' points to version {version}, "
                    "which is not loaded"
                )
        if version is not None:
            model = state.versions.get(version)
            if model is None:
                raise VersionNotFound(f"version {version} of model '{name}' is not available")
            return model
        if not state.versions:
            raise Unavailable(f"model '{name}' has no available version")
        return state.latest

    def status(self, name: str) -> list[VersionStatus]:
        if name not in self._status:
            raise ModelNotFound(f"model '{name}' not found")
        return [self._status[name][v] for v in sorted(self._status[name], reverse=True)]

    def labels(self, name: str) -> dict[str, int]:
        state = self._models.get(name)
        return dict(state.labels) if state else {}

    def not_ready(self) -> dict[str, str]:
        """Models without an AVAILABLE version, with the reason; empty when all are ready."""
        if not self.scanned.is_set():
            return {"*": "the model repository has not been scanned yet"}
        reasons = {}
        for name in self.model_names():
            if name in self._unloaded_by_request:
                continue
            state = self._models.get(name)
            if state is None or not state.versions:
                errors = [
                    s.error_message for s in self._status.get(name, {}).values() if s.error_message
                ]
                reasons[name] = errors[-1] if errors else "no version loaded yet"
        return reasons

    # ---- scanning and loading (under the lock) ---------------------------------------
    def scan(self) -> None:
        """Reconcile loaded versions with the directory tree and the config file once."""
        with self._lock:
            try:
                self._config = read_repository_config(self.config_path)
            except ValueError as exc:
                log.error("%s; keeping the previous repository config", exc)
            self._apply_admin_state()
            on_disk = self._discover()
            for name in sorted(set(on_disk) | set(self._models) | set(self._status)):
                if name in self._unloaded_by_request:
                    continue
                self._reconcile(name, on_disk.get(name, {}))

    def _discover(self) -> dict[str, dict[int, Path]]:
        found: dict[str, dict[int, Path]] = {}
        if not self.root.is_dir():
            return found
        for model_dir in self.root.iterdir():
            if not model_dir.is_dir() or model_dir.name.startswith("."):
                continue
            found[model_dir.name] = version_dirs(model_dir, complete=True)
        return found

    def _reconcile(self, name: str, on_disk: dict[int, Path]) -> None:
        cfg = self._config.for_model(name)
        if name not in self._status:
            metrics.model_discovered(name)
        statuses = self._status.setdefault(name, {})
        loadable = [v for v, p in on_disk.items() if self._failed.get((name, v)) != _mtime(p)]
        wanted = set(cfg.version_policy.select(loadable))
        current = self._models.get(name, ModelState(name))
        loaded = dict(current.versions)
        for version in sorted(wanted - set(loaded)):
            model = self._load(name, version, on_disk[version], statuses)
            if model is not None:
                loaded[version] = model
        # The policy is re-applied over what actually loaded: if the newest version failed,
        # the version it would have replaced is still the policy's pick and keeps serving.
        keep = set(cfg.version_policy.select([v for v in loaded if v in on_disk]))
        removed = [loaded.pop(v) for v in sorted(set(loaded) - keep)]
        for version, status in list(statuses.items()):
            gone = version not in on_disk and version not in loaded
            if gone and status.state != END:
                statuses[version] = VersionStatus(version, END)
        self._publish(ModelState(name, loaded, dict(cfg.labels)))
        for model in removed:
            statuses[model.version] = VersionStatus(model.version, UNLOADING)
            model.close()  # drains queued requests; in-flight callers hold their reference
            statuses[model.version] = VersionStatus(model.version, END)
            log.info("unloaded %s version %d", name, model.version)
        metrics.VERSIONS_LOADED.labels(name).set(len(loaded))

    def _load(
        self, name: str, version: int, path: Path, statuses: dict[int, VersionStatus]
    ) -> ServedModel | None:
        statuses[version] = VersionStatus(version, LOADING)
        metrics.MODEL_LOADS.labels(name).inc()
        started = time.perf_counter()
        try:
            batching = (
                self._config.batching_options(name, self.batching)
                if self.batching is not None
                else None
            )
            model = load_version(
                name, version, path, batching, metrics.batch_observer, self.threads
            )
        except Exception as exc:
            message = f"failed to load {name} version {version}: {summary(exc)}"
            log.error(message)
            metrics.MODEL_LOAD_FAILURES.labels(name).inc()
            self._failed[(name, version)] = _mtime(path)
            public = self._without_paths(message)  # clients see no server filesystem
            statuses[version] = VersionStatus(version, END, "UNKNOWN", public[:500])
            return None
        metrics.MODEL_LOAD_LATENCY.labels(name).observe(time.perf_counter() - started)
        statuses[version] = VersionStatus(version, AVAILABLE)
        log.info("loaded %s version %d in %.2fs", name, version, time.perf_counter() - started)
        return model

    def _without_paths(self, text: str) -> str:
        """``text`` with the repository's location replaced by ``<repository>``."""
        forms = {str(self.root), str(self.root.absolute()), str(self.root.resolve())}
        for root in sorted(forms, key=len, reverse=True):  # longest first: no partial match
            text = text.replace(root.rstrip("/") + "/", "<repository>/")
        return text

    def _publish(self, state: ModelState) -> None:
        models = dict(self._models)
        models[state.name] = state
        self._models = models  # one reference swap: readers see old or new, never half

    # ---- model repository extension --------------------------------------------------
    def index(self) -> list[dict]:
        """Every model known on disk with its state (V2 repository index)."""
        rows = []
        for name in self.model_names():
            state = self._models.get(name)
            ready = bool(state and state.versions) and name not in self._unloaded_by_request
            rows.append(
                {
                    "name": name,
                    "version": str(max(state.versions)) if state and state.versions else "",
                    "state": "READY" if ready else "UNAVAILABLE",
                    "reason": ""
                    if ready
                    else "unloaded"
                    if name in self._unloaded_by_request
                    else "not loaded",
                }
            )
        return rows

    def load(self, name: str) -> None:
        """(Re)load a model now, as the poller would; other workers follow on their next
        poll. Versions that failed before are retried."""
        with self._lock:
            # A client's name is only ever matched against the directory's own entries,
            # never joined into a path: '..', 'a/b' or a hidden directory name nothing.
            on_disk = self._discover()
            if name not in on_disk:
                raise ModelNotFound(f"model '{name}' not found in the repository")
            self._reloads_seen[name] = self._admin.load(name)
            self._unloaded_by_request.discard(name)
            self._failed = {k: v for k, v in self._failed.items() if k[0] != name}
            self._reconcile(name, on_disk[name])

    def unload(self, name: str) -> None:
        """Unload every version of a model until it is loaded again (in every worker)."""
        with self._lock:
            if self._models.get(name) is None and name not in self._status:
                raise ModelNotFound(f"model '{name}' not found")
            self._admin.unload(name)
            self._unload_locally(name)

    def _apply_admin_state(self) -> None:
        """Follow load/unload decisions another worker received."""
        if self._admin.path is None:  # one process: the local set is the whole truth
            return
        unloaded, reloads = self._admin.read()
        for name in unloaded - self._unloaded_by_request:
            self._unload_locally(name)
        self._unloaded_by_request &= unloaded
        for name, count in reloads.items():
            if count != self._reloads_seen.get(name):  # a load request: retry failures
                self._reloads_seen[name] = count
                self._failed = {k: v for k, v in self._failed.items() if k[0] != name}

    def _unload_locally(self, name: str) -> None:
        with self._lock:
            state = self._models.get(name)
            self._unloaded_by_request.add(name)
            models = dict(self._models)
            models.pop(name, None)
            self._models = models
            for model in state.versions.values() if state else ():
                self._status[name][model.version] = VersionStatus(model.version, END)
                model.close()
            metrics.VERSIONS_LOADED.labels(name).set(0)


def _mtime(path: Path) -> float:
    try:
        return max(path.stat().st_mtime, (path / "saved_model.pb").stat().st_mtime)
    except OSError:
        return 0.0
