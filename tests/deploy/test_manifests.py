"""k3s (kustomize), KServe and KubeRay manifests against the schemas that ship in packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    KSERVE_PYTHON,
    KUBECTL,
    ROOT,
    Manifest,
    builtin_errors,
    by_kind,
    containers,
    env_of,
    load_all,
    load_file,
    require_tools,
    run,
)

K3S = ROOT / "deploy" / "k3s"
KSERVE = ROOT / "deploy" / "kserve"
KUBERAY = ROOT / "deploy" / "kuberay"


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    require_tools()


def kustomize(path: Path) -> list[Manifest]:
    result = run([KUBECTL, "kustomize", path])
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


@pytest.fixture(scope="module")
def single_gpu() -> list[Manifest]:
    return kustomize(K3S / "overlays" / "single-gpu")


@pytest.mark.parametrize(
    "path", [K3S / "base", K3S / "overlays" / "single-gpu"], ids=["base", "single-gpu"]
)
def test_kustomize_builds_valid_objects(path: Path) -> None:
    assert builtin_errors(kustomize(path)) == []


def test_gpu_check_pod_is_valid() -> None:
    (pod,) = load_file(K3S / "gpu-check-pod.yaml")
    assert builtin_errors([pod]) == []
    assert pod["spec"]["runtimeClassName"] == "nvidia"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_single_gpu_overlay(single_gpu: list[Manifest]) -> None:
    (runtime,) = by_kind(single_gpu, "RuntimeClass").values()
    assert runtime["handler"] == "nvidia"
    plugin = by_kind(single_gpu, "DaemonSet")["nvidia-device-plugin"]
    assert plugin["metadata"]["namespace"] == "kube-system"
    assert plugin["spec"]["template"]["spec"]["runtimeClassName"] == "nvidia"
    config = yaml.safe_load(
        by_kind(single_gpu, "ConfigMap")["nvidia-device-plugin-config"]["data"]["config.yaml"]
    )
    assert config["sharing"]["timeSlicing"]["resources"] == [
        {"name": "nvidia.com/gpu", "replicas": 2}
    ]
    deployments = by_kind(single_gpu, "Deployment")
    utilisation = 0.0
    for role in ("chat", "embedding"):
        d = deployments[f"vllm-{role}"]
        pod = d["spec"]["template"]["spec"]
        (vllm,) = containers(d)
        assert d["metadata"]["namespace"] == "ragserve"
        assert d["spec"]["strategy"] == {"type": "Recreate"}
        assert pod["runtimeClassName"] == "nvidia"
        assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
        shm = {v["name"]: v for v in pod["volumes"]}["shm"]["emptyDir"]
        assert shm["medium"] == "Memory" and shm["sizeLimit"]
        assert vllm["startupProbe"]["httpGet"]["path"] == "/health"
        assert vllm["livenessProbe"]["httpGet"]["path"] == "/health"
        assert "value" not in env_of(vllm)["HF_TOKEN"]
        args = vllm["args"]
        assert ({"--runner=pooling", "--convert=embed"} <= set(args)) == (role == "embedding")
        assert not any("--task" in a for a in args)
        utilisation += float(
            next(a for a in args if a.startswith("--gpu-memory-utilization=")).split("=")[1]
        )
    assert utilisation <= 0.9, "the two engines share one GPU"
    api = deployments["ragserve"]
    assert api["spec"]["strategy"] == {"type": "Recreate"} and api["spec"]["replicas"] == 1
    (container,) = containers(api)
    env = env_of(container)
    services = by_kind(single_gpu, "Service")
    for var, service in (
        ("RAGSERVE_LLM_BASE_URL", "vllm-chat"),
        ("RAGSERVE_EMBED_BASE_URL", "vllm-embedding"),
    ):
        assert env[var]["value"] == f"http://{service}:8000/v1" and service in services
    for var in ("RAGSERVE_API_KEY", "RAGSERVE_ADMIN_KEY", "RAGSERVE_QDRANT_API_KEY"):
        assert "secretKeyRef" in env[var]["valueFrom"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "Secret" not in {m["kind"] for m in single_gpu}, (
        "keys are created by hand, not committed"
    )


def kserve_errors(*paths: Path) -> list[str]:
    result = run([KSERVE_PYTHON, ROOT / "tests" / "deploy" / "kserve_models.py", *paths])
    assert result.returncode == 0, result.stderr
    errors: list[str] = json.loads(result.stdout)
    return errors


def test_kserve_inference_services_match_the_sdk_models() -> None:
    files = sorted(KSERVE.glob("*.yaml"))
    assert kserve_errors(*files) == []
    others = [m for f in files for m in load_file(f) if m["kind"] != "InferenceService"]
    assert builtin_errors(others) == []


def test_kserve_check_is_not_vacuous(tmp_path: Path) -> None:
    (isvc,) = load_file(KSERVE / "chat-inferenceservice.yaml")
    isvc["spec"]["predictor"]["minReplica"] = 2
    isvc["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] = 8
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(isvc))
    errors = kserve_errors(broken)
    assert any("minReplica: no such field" in e for e in errors)
    assert any("nvidia.com/gpu: expected str" in e for e in errors)


def test_kserve_chat_is_two_replicas_of_tensor_parallel_8() -> None:
    (isvc,) = load_file(KSERVE / "chat-inferenceservice.yaml")
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 2
    assert model["modelFormat"]["name"] == "huggingface"
    assert "--backend=vllm" in model["args"] and "--tensor-parallel-size=8" in model["args"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert model["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "hf-token"
    assert model["readinessProbe"] and model["livenessProbe"] and model["startupProbe"]
    volumes = {v["name"]: v for v in predictor["volumes"]}
    (pvc,) = load_file(KSERVE / "hf-cache-pvc.yaml")
    assert volumes["hf-cache"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    anti = predictor["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    (embed,) = load_file(KSERVE / "embedding-inferenceservice.yaml")
    assert "--task=text_embedding" in embed["spec"]["predictor"]["model"]["args"]


def _pod_template(template: dict[str, Any], name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name},
        "template": template,
    }


def test_kuberay_rayservice() -> None:
    """No PyPI or npm package carries KubeRay's CRD (see deploy/README.md): the pod templates
    are checked as Kubernetes PodTemplates, the Serve config's shape and TP 16 asserted."""
    (service,) = load_file(KUBERAY / "rayservice.yaml")
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    cluster = service["spec"]["rayClusterConfig"]
    templates = [_pod_template(cluster["headGroupSpec"]["template"], "head")]
    templates += [_pod_template(g["template"], g["groupName"]) for g in cluster["workerGroupSpecs"]]
    assert builtin_errors(templates) == []
    (workers,) = cluster["workerGroupSpecs"]
    (worker,) = workers["template"]["spec"]["containers"]
    gpus = workers["replicas"] * int(worker["resources"]["limits"]["nvidia.com/gpu"])
    serve = yaml.safe_load(service["spec"]["serveConfigV2"])
    (app,) = serve["applications"]
    assert app["import_path"] == "ray.serve.llm:build_openai_app"
    (llm,) = app["args"]["llm_configs"]
    assert llm["engine_kwargs"]["tensor_parallel_size"] == gpus == 16
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    volumes = {v["name"]: v for v in workers["template"]["spec"]["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    assert "secretKeyRef" in worker["env"][0]["valueFrom"]
