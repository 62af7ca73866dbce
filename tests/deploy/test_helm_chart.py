"""The Helm chart: lint, render every example, validate against Kubernetes and CRD schemas,
and assert the fields a GPU deployment lives or dies by."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    CHART,
    EXAMPLES,
    HELM,
    ROOT,
    Manifest,
    builtin_errors,
    by_kind,
    containers,
    custom_errors,
    env_of,
    helm_template,
    render,
    require_tools,
    run,
)

EXAMPLE_IDS = [p.stem for p in EXAMPLES]
SECRET_ENV = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL|QUEUE_URL)$")


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    require_tools()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {p.stem: render([p]) for p in EXAMPLES}


def example(name: str) -> Path:
    return CHART / "examples" / f"{name}.yaml"


def test_examples_are_the_documented_set() -> None:
    assert set(EXAMPLE_IDS) == {
        "laptop-external-vllm",
        "single-gpu-node",
        "kserve-large-model",
        "multi-gpu-keda",
        "scale-out-external-stores",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_helm_lint_strict(path: Path) -> None:
    result = run([HELM, "lint", CHART, "--strict", "-f", path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout
    # NOTES.txt renders only on install; a client-side dry run needs no cluster.
    notes = run([HELM, "install", "rag", CHART, "--dry-run=client", "-f", path])
    assert notes.returncode == 0, notes.stderr
    assert "Chat backend:" in notes.stdout.split("NOTES:", 1)[1]


@pytest.mark.parametrize("name", EXAMPLE_IDS)
def test_every_rendered_object_is_valid(rendered: dict[str, list[Manifest]], name: str) -> None:
    manifests = rendered[name]
    assert builtin_errors(manifests) == []
    assert custom_errors(manifests) == []


def test_validation_catches_a_broken_object(rendered: dict[str, list[Manifest]]) -> None:
    """The validators are not vacuous: a wrong field fails each of them."""
    deployment = dict(by_kind(rendered["single-gpu-node"], "Deployment")["rag-ragserve"])
    deployment["spec"] = {**deployment["spec"], "replica": 1}
    assert builtin_errors([deployment])
    scaled = json.loads(json.dumps(by_kind(rendered["multi-gpu-keda"], "ScaledObject")))
    broken = next(iter(scaled.values()))
    broken["spec"]["maxReplicaCount"] = "four"
    assert custom_errors([broken])


def test_single_gpu_engines(rendered: dict[str, list[Manifest]]) -> None:
    deployments = by_kind(rendered["single-gpu-node"], "Deployment")
    services = by_kind(rendered["single-gpu-node"], "Service")
    for role in ("chat", "embedding"):
        d = deployments[f"rag-ragserve-vllm-{role}"]
        pod = d["spec"]["template"]["spec"]
        (vllm,) = containers(d)
        assert d["spec"]["strategy"] == {"type": "Recreate"}
        assert pod["runtimeClassName"] == "nvidia"
        assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert vllm["resources"]["requests"]["nvidia.com/gpu"] == 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
        assert volumes["shm"]["emptyDir"]["sizeLimit"] in {"4Gi", "1Gi"}
        assert {"name": "shm", "mountPath": "/dev/shm"} in vllm["volumeMounts"]
        assert (
            volumes["cache"]["persistentVolumeClaim"]["claimName"]
            == f"{d['metadata']['name']}-cache"
        )
        assert vllm["startupProbe"]["httpGet"]["path"] == "/health"
        assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
        assert vllm["livenessProbe"]["httpGet"]["path"] == "/health"
        assert env_of(vllm)["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "hf-token",
            "key": "token",
        }
        assert "--enforce-eager" in vllm["args"]
        pooling = {"--runner=pooling", "--convert=embed"}
        if role == "embedding":
            assert pooling <= set(vllm["args"])
            assert "--gpu-memory-utilization=0.2" in vllm["args"]
        else:
            assert not pooling & set(vllm["args"])
            assert "--max-model-len=8192" in vllm["args"]
            assert "--gpu-memory-utilization=0.7" in vllm["args"]
        assert not any("--task" in a for a in vllm["args"]), "vLLM 0.33 has no --task"
        assert f"rag-ragserve-vllm-{role}" in services
    # ragserve is wired to both engines' Services.
    (api,) = containers(deployments["rag-ragserve"])
    env = env_of(api)
    assert env["RAGSERVE_LLM_BASE_URL"]["value"] == "http://rag-ragserve-vllm-chat:8000/v1"
    assert env["RAGSERVE_LLM_MODEL"]["value"] == "qwen2.5-7b-instruct"
    assert env["RAGSERVE_EMBED_BASE_URL"]["value"] == "http://rag-ragserve-vllm-embedding:8000/v1"
    assert env["RAGSERVE_EMBED_MODEL"]["value"] == "BAAI/bge-small-en-v1.5"


@pytest.mark.parametrize("name", EXAMPLE_IDS)
def test_ragserve_pod(rendered: dict[str, list[Manifest]], name: str) -> None:
    deployment = by_kind(rendered[name], "Deployment")["rag-ragserve"]
    (api,) = containers(deployment)
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    scale_out = name == "scale-out-external-stores"
    assert deployment["spec"]["strategy"]["type"] == ("RollingUpdate" if scale_out else "Recreate")
    if not scale_out:
        assert deployment["spec"]["replicas"] == 1
        assert "HorizontalPodAutoscaler" not in {m["kind"] for m in rendered[name]}


@pytest.mark.parametrize("name", EXAMPLE_IDS)
def test_secrets_are_never_inlined(rendered: dict[str, list[Manifest]], name: str) -> None:
    for m in rendered[name]:
        if m["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        for c in containers(m):
            for var in c.get("env", []):
                if SECRET_ENV.search(var["name"]):
                    assert "value" not in var, f"{m['metadata']['name']}: {var['name']} inlined"
                    assert "secretKeyRef" in var["valueFrom"]


def test_qdrant_statefulset_reads_its_key_from_a_secret(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["laptop-external-vllm"]
    qdrant = by_kind(manifests, "StatefulSet")["rag-ragserve-qdrant"]
    (container,) = containers(qdrant)
    ref = env_of(container)["QDRANT__SERVICE__API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] in by_kind(manifests, "Secret")
    (api,) = containers(by_kind(manifests, "Deployment")["rag-ragserve"])
    assert env_of(api)["RAGSERVE_QDRANT_API_KEY"]["valueFrom"]["secretKeyRef"] == ref
    assert env_of(api)["RAGSERVE_QDRANT_URL"]["value"] == "http://rag-ragserve-qdrant:6333"
    assert (
        qdrant["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        == "5Gi"
    )


def test_keda_scales_the_chat_engine_on_waiting_requests(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["multi-gpu-keda"]
    (scaled,) = by_kind(manifests, "ScaledObject").values()
    target = scaled["spec"]["scaleTargetRef"]["name"]
    deployment = by_kind(manifests, "Deployment")[target]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert f'service="{target}"' in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == "5"
    assert scaled["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 1}
    (vllm,) = containers(deployment)
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert "--tensor-parallel-size=2" in vllm["args"]


def test_service_monitors_select_existing_services(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["single-gpu-node"]
    monitors = by_kind(manifests, "ServiceMonitor")
    assert set(monitors) == {
        "rag-ragserve",
        "rag-ragserve-vllm-chat",
        "rag-ragserve-vllm-embedding",
    }
    services = by_kind(manifests, "Service")
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        wanted = monitor["spec"]["selector"]["matchLabels"]
        matches = [
            s for s in services.values() if wanted.items() <= s["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, monitor["metadata"]["name"]
        assert monitor["spec"]["endpoints"][0]["port"] in {
            p["name"] for p in matches[0]["spec"]["ports"]
        }
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_dashboards_and_rules_come_from_deploy_grafana_and_prometheus(
    rendered: dict[str, list[Manifest]],
) -> None:
    """The other half of the monitoring work fills deploy/grafana and deploy/prometheus; the
    chart ships exactly what is there (today possibly nothing)."""
    manifests = rendered["single-gpu-node"]
    dashboards = {
        key: value
        for m in by_kind(manifests, "ConfigMap").values()
        if m["metadata"]["labels"].get("grafana_dashboard") == "1"
        for key, value in m["data"].items()
    }
    files = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
    assert sorted(dashboards) == [f.name for f in files]
    for f in files:
        assert json.loads(dashboards[f.name]) == json.loads(f.read_text())
    groups: list[Any] = []
    for f in sorted((ROOT / "deploy" / "prometheus").glob("*.y*ml")):
        doc = yaml.safe_load(f.read_text())
        if isinstance(doc, dict) and "groups" in doc:
            groups += doc["groups"]
    rules = by_kind(manifests, "PrometheusRule")
    if groups:
        assert [r["spec"]["groups"] for r in rules.values()] == [groups]
    else:
        assert rules == {}


@pytest.mark.parametrize(
    "sets",
    [
        ["replicaCount=2"],
        ["autoscaling.enabled=true"],
        ["podDisruptionBudget.enabled=true"],
        # External Qdrant and PostgreSQL are not enough: Redis too.
        ["replicaCount=2", "externalDatabase.urlSecret.name=pg", "persistence.enabled=false"],
    ],
    ids=["replicas", "hpa", "pdb", "no-redis"],
)
def test_schema_refuses_several_replicas_with_embedded_stores(sets: list[str]) -> None:
    result = helm_template([example("laptop-external-vllm")], sets)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


def test_several_replicas_with_external_stores(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["scale-out-external-stores"]
    (api,) = containers(by_kind(manifests, "Deployment")["rag-ragserve"])
    env = env_of(api)
    assert env["RAGSERVE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "ragserve-postgres"
    assert env["RAGSERVE_QUEUE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "ragserve-redis"
    assert env["RAGSERVE_QDRANT_URL"]["value"] == "http://qdrant.vector.svc:6333"
    assert by_kind(manifests, "HorizontalPodAutoscaler")["rag-ragserve"]["spec"]["minReplicas"] == 3
    assert by_kind(manifests, "PodDisruptionBudget")["rag-ragserve"]["spec"]["minAvailable"] == 2
    assert "StatefulSet" not in {m["kind"] for m in manifests}
    assert "PersistentVolumeClaim" not in {m["kind"] for m in manifests}


@pytest.mark.parametrize(
    "sets",
    [
        ["vllm.chat.gpu=1"],  # a typo of gpus
        ["config.RAGSERVE_API_KEY=hunter2"],
        ["config.RAGSERVE_DATABASE_URL=postgresql://u:p@db/rag"],
        ["llm.backends[0].kind=openai", "llm.backends[0].api_key=sk-1"],
        ["vllm.chat.strategy=Rolling"],
        ["vllm.chat.gpuMemoryUtilization=1.5"],
    ],
    ids=["typo", "inline-api-key", "inline-db-url", "backend-key", "strategy", "gpu-util"],
)
def test_schema_refuses_typos_and_inline_secrets(sets: list[str]) -> None:
    result = helm_template([example("single-gpu-node")], sets)
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_without_any_backend_the_slim_image_is_refused() -> None:
    result = helm_template()
    assert result.returncode != 0
    assert "no chat backend" in result.stderr
    embedded = render(sets=["embeddedModels=true"])
    (api,) = containers(by_kind(embedded, "Deployment")["rag-ragserve"])
    assert "RAGSERVE_LLM_BASE_URL" not in env_of(api)
    assert builtin_errors(embedded) == []


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if sub.get("additionalProperties") is False:
            paths |= _schema_paths(sub, path + ".")
    return paths


def _value_paths(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.add(path)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and sub.get("additionalProperties") is False:
            paths |= _value_paths(value, sub, path + ".")
    return paths


def test_values_schema_is_in_step_with_values_yaml() -> None:
    """Every key in values.yaml is typed in the schema and every closed schema object lists
    only keys that values.yaml has: a key added to one and not the other fails here."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _value_paths(values, schema) == _schema_paths(schema)
    readme = (CHART / "README.md").read_text()
    undocumented = [p for p in _schema_paths(schema) if f"`{p}`" not in readme]
    assert undocumented == [], "keys missing from the README's values reference"


# -- ingestion workers ----------------------------------------------------------------------

# Workers on the embedded vector store: the API process keeps it and takes their vectors.
EMBEDDED_STORE_WORKERS = [
    "embeddedModels=true",
    "qdrant.enabled=false",
    "worker.enabled=true",
    "redis.urlSecret.name=ragserve-redis",
    "externalDatabase.urlSecret.name=ragserve-postgres",
    "uploads.storageClass=nfs-client",
]


def _uploads_claim(deployment: Manifest) -> str:
    (container,) = containers(deployment)
    assert {"name": "uploads", "mountPath": "/uploads"} in container["volumeMounts"]
    assert env_of(container)["RAGSERVE_UPLOADS_DIR"]["value"] == "/uploads"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    return str(volumes["uploads"]["persistentVolumeClaim"]["claimName"])


def test_workers_scale_on_the_queue_backlog(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["scale-out-external-stores"]
    deployments = by_kind(manifests, "Deployment")
    worker_deployment = deployments["rag-ragserve-worker"]
    (worker,) = containers(worker_deployment)
    assert worker["args"] == ["worker", "--concurrency", "4", "--metrics-port", "9102"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in worker["ports"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert worker[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    grace = float(env_of(worker)["RAGSERVE_SHUTDOWN_GRACE_S"]["value"])
    pod = worker_deployment["spec"]["template"]["spec"]
    assert grace == 120 and pod["terminationGracePeriodSeconds"] > grace
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    # The same queue, database, vector store and image as the API, from the same Secrets.
    (api,) = containers(deployments["rag-ragserve"])
    shared = ("RAGSERVE_QUEUE_URL", "RAGSERVE_DATABASE_URL", "RAGSERVE_QDRANT_URL")
    shared += ("RAGSERVE_QDRANT_API_KEY", "RAGSERVE_EMBED_BASE_URL", "RAGSERVE_EMBED_MODEL")
    for name in shared:
        assert env_of(worker)[name] == env_of(api)[name], name
    assert worker["image"] == api["image"]
    assert _uploads_claim(worker_deployment) == _uploads_claim(deployments["rag-ragserve"])
    assert "PersistentVolumeClaim" not in {m["kind"] for m in manifests}, "existingClaim used"
    # KEDA owns the worker count, on both priority streams' undelivered backlog.
    assert "replicas" not in worker_deployment["spec"]
    scaled = by_kind(manifests, "ScaledObject")["rag-ragserve-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "rag-ragserve-worker"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (1, 20)
    triggers = scaled["spec"]["triggers"]
    assert [t["metadata"]["stream"] for t in triggers] == [
        "ragserve:ingest:urgent",
        "ragserve:ingest:bulk",
    ]
    for trigger in triggers:
        assert trigger["type"] == "redis-streams"
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == "workers"
        assert meta["lagCount"] == "20" and "pendingEntriesCount" not in meta
        assert meta["address"] == "redis-master.queue.svc:6379"
        auth = by_kind(manifests, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        assert auth["spec"]["secretTargetRef"] == [
            {"parameter": "password", "name": "ragserve-redis", "key": "password"}
        ]
    # Prometheus finds the workers' metrics port.
    monitor = by_kind(manifests, "PodMonitor")["rag-ragserve-worker"]
    labels = worker_deployment["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert "ServiceMonitor" in {m["kind"] for m in manifests}


def test_workers_with_the_embedded_store_keep_one_api_replica() -> None:
    manifests = render(sets=EMBEDDED_STORE_WORKERS)
    assert builtin_errors(manifests) == []
    deployments = by_kind(manifests, "Deployment")
    api = deployments["rag-ragserve"]
    assert api["spec"]["replicas"] == 1 and api["spec"]["strategy"]["type"] == "Recreate"
    assert deployments["rag-ragserve-worker"]["spec"]["replicas"] == 2
    (worker,) = containers(deployments["rag-ragserve-worker"])
    assert "RAGSERVE_QDRANT_URL" not in env_of(worker)
    claim = _uploads_claim(api)
    assert claim == _uploads_claim(deployments["rag-ragserve-worker"]) == "rag-ragserve-uploads"
    pvc = by_kind(manifests, "PersistentVolumeClaim")[claim]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "nfs-client"
    assert "ScaledObject" not in {m["kind"] for m in manifests}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["redis.urlSecret.name="], "worker.enabled needs redis.urlSecret.name"),
        (["externalDatabase.urlSecret.name="], "worker.enabled needs externalDatabase.urlSecret"),
        (["worker.autoscaling.keda.enabled=true"], "needs worker.autoscaling.keda.address"),
        # The schema refuses it too (test below); without the schema the template says why.
        (["replicaCount=2"], "workers without a Qdrant server hand their vectors"),
        (["autoscaling.enabled=true"], "set replicaCount=1 and autoscaling.enabled=false"),
    ],
    ids=["no-redis", "no-database", "keda-no-address", "two-api-replicas", "api-hpa"],
)
def test_worker_guards_name_what_is_missing(sets: list[str], message: str) -> None:
    result = helm_template(sets=EMBEDDED_STORE_WORKERS + sets, flags=["--skip-schema-validation"])
    assert result.returncode != 0
    assert message in result.stderr


def test_schema_refuses_two_api_replicas_for_workers_on_the_embedded_store() -> None:
    result = helm_template(sets=[*EMBEDDED_STORE_WORKERS, "replicaCount=2"])
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert "/qdrant/enabled" in result.stderr
    keda_url = "worker.autoscaling.keda.address=redis://:pw@redis:6379"
    result = helm_template(sets=[*EMBEDDED_STORE_WORKERS, keda_url])
    assert result.returncode != 0 and "/worker/autoscaling/keda/address" in result.stderr
