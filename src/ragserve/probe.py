"""Probing one OpenAI-compatible endpoint the way `ragserve doctor` reports it.

Each step is one real HTTP call, and each failure is said in plain words with the setting
or server flag to change: unreachable, DNS, TLS; a base URL missing or doubling ``/v1``;
401/403 with or without a key; the instance serving the other kind (404 on the route);
the model not served; a context window smaller than the prompt budget; a server slower
than the configured timeouts.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from ragserve.errors import BackendProtocolError
from ragserve.openai_http import auth_headers, error_detail
from ragserve.sse import parse_sse_line

Role = Literal["chat", "embeddings"]


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # how the report names it: "chat endpoint vllm", "embedding endpoint"
    role: Role
    base_url: str
    api_key: str | None
    model: str | None
    setting: str  # RAGSERVE_<setting>_BASE_URL etc. ("LLM", "EMBED", or "LLM_BACKENDS")


def _is_data(line: str, url: str) -> bool:
    """Whether an SSE line carries data (well-formed or not: either way the server spoke)."""
    try:
        return parse_sse_line(line, url) is not None
    except BackendProtocolError:
        return True


def _transport_failure(exc: httpx.HTTPError, endpoint: Endpoint) -> Check:
    url = endpoint.base_url
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    lowered = text.lower()
    if isinstance(cause, ssl.SSLError) or "ssl" in lowered or "certificate" in lowered:
        if "wrong version number" in lowered or "record layer" in lowered:
            fix = "the server does not speak TLS here: use http:// instead of https://"
        else:
            fix = "the TLS certificate is not trusted: fix the certificate or set SSL_CERT_FILE"
        return Check(endpoint.name, False, f"TLS handshake with {url} failed: {text}", fix)
    if any(
        s in lowered
        for s in (
            "name or service not known",
            "name resolution",
            "nodename nor servname",
            "no address associated",
        )
    ):
        host = httpx.URL(url).host
        return Check(
            endpoint.name,
            False,
            f"cannot resolve host {host!r}",
            f"check the host name in RAGSERVE_{endpoint.setting}_BASE_URL",
        )
    if isinstance(exc, httpx.TimeoutException):
        return Check(
            endpoint.name,
            False,
            f"{url} did not answer in time ({type(exc).__name__})",
            "check the server is up and not overloaded, and that no firewall drops packets",
        )
    if isinstance(exc, httpx.ConnectError):
        return Check(
            endpoint.name,
            False,
            f"nothing is listening at {url} ({text})",
            f"start the server, or fix the host/port in RAGSERVE_{endpoint.setting}_BASE_URL",
        )
    return Check(endpoint.name, False, f"{url}: {type(exc).__name__}: {text}", None)


def _auth_failure(response: httpx.Response, endpoint: Endpoint) -> Check:
    detail = error_detail(response)
    if endpoint.api_key:
        return Check(
            endpoint.name,
            False,
            f"HTTP {response.status_code}: the server rejected the API key ({detail})",
            f"check RAGSERVE_{endpoint.setting}_API_KEY: the server does not accept this key",
        )
    return Check(
        endpoint.name,
        False,
        f"HTTP {response.status_code}: the server requires an API key and none is set ({detail})",
        f"set RAGSERVE_{endpoint.setting}_API_KEY to the key the server was started with",
    )


def _base_url_fix(client: httpx.Client, endpoint: Endpoint) -> str:
    base = endpoint.base_url.rstrip("/")
    setting = f"RAGSERVE_{endpoint.setting}_BASE_URL"
    if "/v1/v1" in base:
        return f"the base URL repeats /v1: set {setting}={base.replace('/v1/v1', '/v1')}"
    for path in ("/chat/completions", "/embeddings", "/models"):
        if base.endswith(path):
            return f"the base URL must stop before {path}: set {setting}={base[: -len(path)]}"
    if not base.endswith("/v1"):
        try:
            if client.get(f"{base}/v1/models").is_success:
                return f"the base URL is missing /v1: set {setting}={base}/v1"
        except httpx.HTTPError:
            pass
    return f"check {setting}: it should be the server's OpenAI-compatible root, ending in /v1"


def probe(
    endpoint: Endpoint,
    *,
    connect_timeout: float = 5.0,
    first_token_timeout: float = 120.0,
) -> tuple[list[Check], dict[str, Any]]:
    """Checks for one endpoint, plus what was learned (``models``, ``ttft_s``, ``dimension``)."""
    learned: dict[str, Any] = {}
    timeout = httpx.Timeout(first_token_timeout, connect=connect_timeout)
    with httpx.Client(headers=auth_headers(endpoint.api_key), timeout=timeout) as client:
        base = endpoint.base_url.rstrip("/")
        try:
            response = client.get(
                f"{base}/models", timeout=httpx.Timeout(15, connect=connect_timeout)
            )
        except httpx.HTTPError as exc:
            return [_transport_failure(exc, endpoint)], learned
        if response.status_code in (401, 403):
            return [_auth_failure(response, endpoint)], learned
        if response.status_code == 404:
            return [
                Check(
                    endpoint.name,
                    False,
                    f"{base}/models answers 404",
                    _base_url_fix(client, endpoint),
                )
            ], learned
        if not response.is_success:
            return [
                Check(
                    endpoint.name,
                    False,
                    f"{base}/models answers HTTP {response.status_code}: {error_detail(response)}",
                    "see the server's log",
                )
            ], learned
        try:
            ids = [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            return [
                Check(
                    endpoint.name,
                    False,
                    f"{base}/models is not an OpenAI model list",
                    _base_url_fix(client, endpoint),
                )
            ], learned
        learned["models"] = ids
        model = endpoint.model
        if model and model not in ids:
            return [
                Check(
                    endpoint.name,
                    False,
                    f"model {model!r} is not served at {base}; it serves: "
                    f"{', '.join(ids) or 'nothing'}",
                    f"set the model to one of those (RAGSERVE_{endpoint.setting}_MODEL)",
                )
            ], learned
        if not model:
            if len(ids) != 1:
                return [
                    Check(
                        endpoint.name,
                        False,
                        f"{base} serves {len(ids)} models: {', '.join(ids)}",
                        f"pick one with RAGSERVE_{endpoint.setting}_MODEL",
                    )
                ], learned
            model = ids[0]
        learned["model"] = model
        route = _probe_route(client, endpoint, base, model, first_token_timeout, learned)
        return [route], learned


def _probe_route(
    client: httpx.Client,
    endpoint: Endpoint,
    base: str,
    model: str,
    first_token_timeout: float,
    learned: dict[str, Any],
) -> Check:
    started = time.perf_counter()
    try:
        if endpoint.role == "embeddings":
            response = client.post(
                f"{base}/embeddings", json={"model": model, "input": ["ragserve doctor"]}
            )
        else:
            body = {
                "model": model,
                "stream": True,
                "max_tokens": 4,
                "temperature": 0,
                "messages": [{"role": "user", "content": "Say OK."}],
            }
            with client.stream("POST", f"{base}/chat/completions", json=body) as response:
                if response.is_success:
                    for line in response.iter_lines():
                        if _is_data(line, base):
                            learned["ttft_s"] = time.perf_counter() - started
                            break
                else:
                    response.read()
    except httpx.TimeoutException:
        waited = time.perf_counter() - started
        return Check(
            endpoint.name,
            False,
            f"{model} at {base} gave no first token within {waited:.1f} s",
            f"the server is slower than the first-token timeout: raise "
            f"RAGSERVE_LLM_FIRST_TOKEN_TIMEOUT_S (now {first_token_timeout:g}) or use a "
            "faster server",
        )
    except httpx.HTTPError as exc:
        return _transport_failure(exc, endpoint)
    if response.status_code == 404:
        if endpoint.role == "embeddings":
            fix = (
                "this instance does not serve embeddings: a vLLM started for generation "
                "answers 404 here; start one with `vllm serve MODEL --runner pooling` "
                "(`--task embed` is rejected since vLLM 0.13), or point "
                "RAGSERVE_EMBED_BASE_URL at TEI/Ollama"
            )
        else:
            fix = (
                "this instance does not serve chat: a vLLM started with `--runner pooling` "
                "only embeds; start a generation instance (`vllm serve MODEL`) and point "
                f"RAGSERVE_{endpoint.setting}_BASE_URL at it"
            )
        return Check(
            endpoint.name,
            False,
            f"{base}/{endpoint.role.replace('chat', 'chat/completions')} answers 404",
            fix,
        )
    if response.status_code in (401, 403):
        return _auth_failure(response, endpoint)
    if not response.is_success:
        return Check(
            endpoint.name,
            False,
            f"HTTP {response.status_code} from {base}: {error_detail(response)}",
            "see the server's log",
        )
    if endpoint.role == "embeddings":
        try:
            dimension = len(response.json()["data"][0]["embedding"])
        except (ValueError, KeyError, IndexError, TypeError):
            return Check(
                endpoint.name,
                False,
                f"{base}/embeddings did not return vectors",
                "check that this is an embedding server",
            )
        learned["dimension"] = dimension
        ms = (time.perf_counter() - started) * 1000
        return Check(endpoint.name, True, f"{model} at {base}: {dimension} dimensions, {ms:.0f} ms")
    ttft = learned.get("ttft_s")
    if ttft is None:
        return Check(
            endpoint.name,
            False,
            f"{model} at {base} streamed no tokens",
            "check the model; the server answered but produced no text",
        )
    if ttft > first_token_timeout * 0.5:
        return Check(
            endpoint.name,
            False,
            f"{model} at {base}: first token in {ttft:.1f} s, over half the first-token "
            f"timeout ({first_token_timeout:g} s)",
            "under load this server will time out: raise RAGSERVE_LLM_FIRST_TOKEN_TIMEOUT_S "
            "or use a faster server",
        )
    return Check(endpoint.name, True, f"{model} at {base}, first token in {ttft * 1000:.0f} ms")
