"""The deployment files: hadolint on the Dockerfile, and every kustomization rendered by
``kubectl kustomize`` and validated offline by ``kubernetes-validate --strict``, plus the
properties the manifests promise (probes, draining, non-root, shared repository...)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.repository_config import read_repository_config
from service.settings import Settings
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
KUSTOMIZATIONS = ["k8s", "k8s/overlays/production", "k8s/jobs/distributed-training"]


def test_hadolint_passes_on_the_dockerfile():
    proc = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def render(path: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    proc = subprocess.run(
        [kubectl, "kustomize", str(ROOT / path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def objects(path: str) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(render(path)) if o}


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_kustomization_renders_and_validates_strictly(path, tmp_path):
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(render(path))
    proc = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kinds = {o["kind"] for o in yaml.safe_load_all(rendered.read_text()) if o}
    assert kinds, "nothing rendered"
    for obj in yaml.safe_load_all(rendered.read_text()):
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "keras-serving", obj["metadata"]["name"]


@pytest.fixture(scope="module")
def base():
    return objects("k8s")


def serving_container(base) -> dict:
    return base["Deployment", "serving"]["spec"]["template"]["spec"]["containers"][0]


def test_the_deployment_is_replicated_probed_and_sized(base):
    deployment = base["Deployment", "serving"]
    assert deployment["spec"]["replicas"] >= 2
    container = serving_container(base)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    # model loading and warm-up of the default models take well under this
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}


def test_the_deployment_runs_non_root_on_a_read_only_root(base):
    pod = base["Deployment", "serving"]["spec"]["template"]["spec"]
    container = serving_container(base)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = base["ConfigMap", next(n for k, n in base if n.startswith("serving-settings"))]["data"]
    for path in ("/tmp", env["SERVING_METRICS_DIR"]):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    assert mounts["/models"]["readOnly"] is True
    claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert base["PersistentVolumeClaim", claim]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_termination_grace_covers_pre_stop_and_gunicorn_drain(base):
    pod = base["Deployment", "serving"]["spec"]["template"]["spec"]
    pre_stop = serving_container(base)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    conf = (ROOT / "service" / "gunicorn_conf.py").read_text()
    graceful = int(re.search(r"^graceful_timeout = (\d+)", conf, re.M).group(1))
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + graceful


def test_settings_configmap_holds_valid_serving_settings(base):
    name = next(n for k, n in base if k == "ConfigMap" and n.startswith("serving-settings"))
    data = base["ConfigMap", name]["data"]
    assert all(key.startswith("SERVING_") for key in data)
    settings = Settings(**{k[len("SERVING_") :].lower(): v for k, v in data.items()})
    assert str(settings.model_repository) == "/models"
    assert str(settings.repository_config).startswith("/etc/keras-serving/")


def test_repository_configmap_is_the_committed_default_and_parses(base, tmp_path):
    data = base["ConfigMap", "repository-config"]["data"]["repository.json"]
    assert json.loads(data) == json.loads((ROOT / "models" / "repository.json").read_text())
    (tmp_path / "repository.json").write_text(data)
    assert read_repository_config(tmp_path / "repository.json").for_model("digits").batching


def test_service_hpa_pdb_and_scrape_annotations(base):
    ports = {p["name"]: p["port"] for p in base["Service", "serving"]["spec"]["ports"]}
    assert ports == {"http": 8501, "grpc": 8500}
    hpa = base["HorizontalPodAutoscaler", "serving"]["spec"]
    assert hpa["minReplicas"] >= 2 and hpa["scaleTargetRef"]["name"] == "serving"
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert base["PodDisruptionBudget", "serving"]["spec"]["minAvailable"] >= 1
    annotations = base["Deployment", "serving"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8501"


def test_production_autoscales_on_the_request_rate_the_adapter_rule_serves():
    hpa = objects("k8s/overlays/production")["HorizontalPodAutoscaler", "serving"]["spec"]
    pods = [m["pods"]["metric"]["name"] for m in hpa["metrics"] if m["type"] == "Pods"]
    rules = yaml.safe_load((ROOT / "k8s" / "prometheus-adapter-rules.yaml").read_text())
    rule = rules["rules"]["custom"][0]
    assert rule["seriesQuery"].startswith("serving_requests_total{")
    assert pods == [rule["name"]["as"]]


def test_network_policies_admit_the_api_ports_only(base):
    policy = base["NetworkPolicy", "serving"]["spec"]
    ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ports == {8500, 8501}
    assert base["NetworkPolicy", "default-deny-ingress"]["spec"]["podSelector"] == {}


def test_retrain_cronjob_writes_the_shared_repository(base):
    spec = base["CronJob", "retrain"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["args"][:4] == ["retrain", "--all", "--models-dir", "/models"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/models")
    assert not mount.get("readOnly", False)
    claim = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert claim["persistentVolumeClaim"]["claimName"] == "models"


def test_distributed_training_is_an_indexed_job_behind_a_headless_service():
    rendered = objects("k8s/jobs/distributed-training")
    job = rendered["Job", "train"]["spec"]
    service = rendered["Service", "train-workers"]["spec"]
    pod = job["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == int(env["TRAINING_WORKERS"])
    assert service["clusterIP"] == "None" and pod["subdomain"] == "train-workers"
    # Kubernetes names Indexed Job pods' hosts <job name>-<index>: the pattern must match.
    assert env["TRAINING_WORKER_HOSTS_PATTERN"] == "train-{index}.train-workers:2222"
    assert container["args"][:2] == ["distributed", "digits"]
    assert "--models-dir" in container["args"]
    selector = service["selector"].items()
    assert selector <= job["template"]["metadata"]["labels"].items()
