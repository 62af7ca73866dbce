"""The Compose file: parsed, interpolated as docker compose would, validated against the
compose-spec JSON schema from the docker-compose wheel, and its profiles checked."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import ROOT, TOOLS

COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == "-" else ""

    return VARIABLE.sub(replace, text)


def load(env: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), env))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load({"QDRANT_API_KEY": "k"})


def test_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    (wheel,) = (TOOLS / "wheels").glob("docker_compose-*.whl")
    with zipfile.ZipFile(wheel) as z:
        schema = json.loads(z.read("compose/config/compose_spec.json"))
    # The file's $schema names draft 2019-09 by a URL jsonschema does not know: say it outright.
    validator = jsonschema.Draft201909Validator(schema)
    validator.validate(compose)
    broken = json.loads(json.dumps(compose))
    broken["services"]["qdrant"]["shm-size"] = "1gb"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_qdrant_key_is_required() -> None:
    with pytest.raises(KeyError, match="QDRANT_API_KEY"):
        load({})


def test_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    profiles = {name: set(s.get("profiles", [])) for name, s in services.items()}
    assert profiles["qdrant"] == set()
    assert {n for n, p in profiles.items() if "vllm" in p} == {
        "ragserve-vllm",
        "vllm-chat",
        "vllm-embedding",
    }
    assert {n for n, p in profiles.items() if "ollama" in p} == {
        "ragserve-ollama",
        "ollama",
        "ollama-pull",
    }
    for name in ("vllm-chat", "vllm-embedding"):
        service = services[name]
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
        assert service["shm_size"]
        assert "healthcheck" in service
    assert {"--runner=pooling", "--convert=embed"} <= set(services["vllm-embedding"]["command"])
    assert not {"--runner=pooling", "--convert=embed"} & set(services["vllm-chat"]["command"])
    vllm_env = services["ragserve-vllm"]["environment"]
    assert vllm_env["RAGSERVE_LLM_BASE_URL"] == "http://vllm-chat:8000/v1"
    assert vllm_env["RAGSERVE_EMBED_BASE_URL"] == "http://vllm-embedding:8000/v1"
    ollama_env = services["ragserve-ollama"]["environment"]
    (backend,) = json.loads(ollama_env["RAGSERVE_LLM_BACKENDS"])
    assert backend["kind"] == "ollama" and backend["base_url"] == "http://ollama:11434/v1"
    assert (
        services["ragserve-ollama"]["depends_on"]["ollama-pull"]["condition"]
        == "service_completed_successfully"
    )
    for name in ("ragserve-vllm", "ragserve-ollama"):
        service = services[name]
        assert service["environment"]["RAGSERVE_QDRANT_URL"] == "http://qdrant:6333"
        assert service["depends_on"]["qdrant"]["condition"] == "service_healthy"
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert (COMPOSE.parent / service["build"]["context"] / "Dockerfile").exists()
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert used <= set(compose["volumes"])


def test_env_example_names_every_required_variable() -> None:
    example = (COMPOSE.parent / ".env.example").read_text()
    required = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text()) if m.group(2) == "?"}
    assert required and all(f"{name}=" in example for name in required)
    assert Path(COMPOSE.parent / ".gitignore").read_text().split() == [".env"]


def test_scale_profile_runs_workers_on_shared_queue_database_and_uploads(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    scale = {n for n, s in services.items() if "scale" in s.get("profiles", [])}
    assert scale == {"redis", "postgres", "ragserve-scale", "worker"}
    api, worker = services["ragserve-scale"], services["worker"]
    for service in (api, worker):
        env = service["environment"]
        assert env["RAGSERVE_QUEUE_URL"] == "redis://redis:6379/0"
        assert env["RAGSERVE_DATABASE_URL"].startswith("postgresql+psycopg://ragserve:")
        assert env["RAGSERVE_DATABASE_URL"].endswith("@postgres:5432/ragserve")
        assert env["RAGSERVE_QDRANT_URL"] == "http://qdrant:6333"
        # The same volume at the same path: a worker reads the file the API stored.
        assert "ragserve-uploads:/uploads" in service["volumes"]
        assert env["RAGSERVE_UPLOADS_DIR"] == "/uploads"
        assert service["image"] == "ragserve:local"
    assert worker["command"][:2] == ["worker", "--concurrency"]
    assert worker["command"][-2:] == ["--metrics-port", "9102"]
    assert "9102/healthz" in " ".join(worker["healthcheck"]["test"])
    # `--scale worker=N` works only without a published port.
    assert "ports" not in worker
    grace = float(worker["environment"]["RAGSERVE_SHUTDOWN_GRACE_S"])
    assert float(worker["stop_grace_period"].rstrip("s")) > grace
    assert worker["depends_on"]["ragserve-scale"]["condition"] == "service_healthy"
    assert {"qdrant", "redis", "postgres"} <= set(api["depends_on"])
    # The password comes from .env, never from the file.
    password = load({"QDRANT_API_KEY": "k", "POSTGRES_PASSWORD": "s3cret"})["services"]
    assert password["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    assert ":s3cret@postgres" in password["worker"]["environment"]["RAGSERVE_DATABASE_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == ""
    assert "POSTGRES_PASSWORD=" in (COMPOSE.parent / ".env.example").read_text()
