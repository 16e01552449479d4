"""The live model repository: discovery, version policy, labels, hot reload.

A background thread scans ``<repository>/<name>/<version>/`` every ``poll_interval_s``.
New versions the policy wants are loaded, validated and warmed up *before* they are
published; the published map is replaced atomically (readers never lock). Versions that
leave the policy or whose directory disappears are unpublished and their batchers drained,
so requests already holding them finish. A version that fails to load is reported in its
status and never displaces a healthy one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcard import version_dirs
from service import metrics
from service.admin_state import AdminState
from service.batching import BatchingOptions
from service.errors import ModelNotFound, Unavailable, VersionNotFound, summary
from service.load_turns import LoadTurns
from service.repository_config import RepositoryConfig, read_repository_config
from service.served_model import ServedModel, collect_unloaded, load_version
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
        load_turns: LoadTurns | None = None,
    ):
        self.root = Path(root)
        self.config_path = config_path
        self.batching = batching
        self.poll_interval_s = poll_interval_s
        self.threads = threads or ThreadOptions()
        self._turns = load_turns or LoadTurns(None)
        self._models: dict[str, ModelState] = {}
        self._status: dict[str, dict[int, VersionStatus]] = {}
        self._failed: dict[tuple[str, int], float] = {}  # (model, version) -> mtime that failed
        self._unloaded_by_request: set[str] = set()
        self._admin = admin_state or AdminState(None)
        self._reloads_seen: dict[str, int] = {}
        self._config = RepositoryConfig()
        self.config_error: str | None = None  # why the config file was refused, if it is
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
            self._apply_admin_state()
            on_disk = self._discover()
            self._config = self._next_config(on_disk)
            for name in sorted(set(on_disk) | set(self._models) | set(self._status)):
                if name in self._unloaded_by_request:
                    continue
                self._reconcile(name, on_disk.get(name, {}))

    def _next_config(self, on_disk: dict[str, dict[int, Path]]) -> RepositoryConfig:
        """The config file if it is valid as a whole, else the last good one.

        A label must point at a version that serves once this scan is done (loaded, or on
        disk and picked by the new policy), as TF Serving refuses a label on a version it
        has not loaded: a config that breaks this is refused whole, so a typo in one label
        cannot leave clients of every other label on a dangling name. A refusal is logged
        and counted once per distinct error (the file is re-read on every poll).
        """
        try:
            config = read_repository_config(self.config_path)
            dangling = self._dangling_labels(config, on_disk)
            if dangling:
                raise ValueError(f"invalid repository config {self.config_path}: {dangling}")
        except ValueError as exc:
            if str(exc) != self.config_error:
                log.error("%s; keeping the previous repository config", exc)
                metrics.CONFIG_ERRORS.inc()
            self.config_error = str(exc)
            return self._config
        self.config_error = None
        return config

    def _dangling_labels(
        self, config: RepositoryConfig, on_disk: dict[str, dict[int, Path]]
    ) -> str:
        """Labels of ``config`` that would point at no serving version ('' if none)."""
        problems = []
        for name, own in sorted(config.models.items()):
            loadable = self._loadable(name, on_disk.get(name, {}))
            serving = set(config.for_model(name).version_policy.select(loadable))
            problems += [
                f"label '{label}' of model '{name}' points to version {version}, which is "
                "not loaded (not on disk, failed to load, or outside the version policy)"
                for label, version in sorted(own.labels.items())
                if version not in serving
            ]
        return "; ".join(problems)

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
        current = self._models.get(name, ModelState(name))
        loaded = dict(current.versions)
        attempted: set[int] = set()
        # A version that fails gives its place to the next one the policy would pick, in
        # this scan: at start, latest 1 with a broken newest version serves the one before
        # it at once, instead of no version until the next poll.
        while todo := sorted(
            set(cfg.version_policy.select(self._loadable(name, on_disk))) - set(loaded) - attempted
        ):
            for version in todo:
                attempted.add(version)
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
        if removed:
            collect_unloaded()
        metrics.VERSIONS_LOADED.labels(name).set(len(loaded))

    def _loadable(self, name: str, on_disk: dict[int, Path]) -> list[int]:
        """Versions on disk but those that failed to load and have not changed since."""
        return [
            v
            for v, path in on_disk.items()
            if (name, v) not in self._failed or self._failed[(name, v)] != _mtime(path)
        ]

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
            # After the first scan, requests are being served: a hot load waits its turn
            # among the workers and yields the GIL often (service/load_turns.py).
            hot = self.scanned.is_set()
            with self._turns.hot_load() if hot else contextlib.nullcontext():
                model = load_version(name, version, path, batching, self.threads)
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
    """The newest modification time in a version's tree: a failed version is retried when
    any file of it changes, such as ``variables/`` filling in after a half-copied version
    failed (writing into a subdirectory does not touch the version directory's mtime)."""
    newest = 0.0
    for directory, _, files in os.walk(path):
        for entry in (directory, *(os.path.join(directory, f) for f in files)):
            with contextlib.suppress(OSError):  # deleted while we walk: the next scan sees it
                newest = max(newest, os.stat(entry).st_mtime)
    return newest
