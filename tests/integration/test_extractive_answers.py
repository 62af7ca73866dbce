"""Extractive answers through the real API: real embedder, real collections (English and
Korean), and a chat backend that is down — nothing listens on its port, as when a user's
vLLM is not started — so ``auto`` has to answer from the passages."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragserve.config import Settings
from ragserve.embed.base import EmbeddingBackend
from ragserve.runtime import Runtime
from tests.apiserver import running_app, sse_events, wait_for_documents
from tests.conftest import SAMPLES

KOREAN = """# 환불 규정

구매 후 14일 이내에는 전액 환불을 받을 수 있습니다. 환불은 구매한 계정에서 신청해야 합니다.
사용한 쿠폰은 환불되지 않으며, 환불 금액은 결제한 수단으로 돌려받습니다.

# 배송

주문한 상품은 보통 3일 안에 도착합니다. 제주도와 섬 지역은 배송에 이틀이 더 걸립니다.
"""


def _dead_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, embedder: EmbeddingBackend
) -> Iterator[httpx.Client]:
    """A server whose chat backend is down, with `samples` (English) and `ko` (Korean)."""
    root = tmp_path_factory.mktemp("extractive")
    settings = Settings(
        data_dir=root / "data",
        llm_base_url=f"http://127.0.0.1:{_dead_port()}/v1",
        llm_model="gone",
        llm_connect_timeout_s=2.0,
    )
    korean = root / "refunds.md"
    korean.write_text(KOREAN)
    runtime = Runtime(settings, embedder=embedder)
    with running_app(settings, runtime) as url, httpx.Client(base_url=url, timeout=120) as client:
        handbook = Path(SAMPLES) / "northwind-handbook.md"
        for collection, path in (("samples", handbook), ("ko", korean)):
            files = [("files", (path.name, path.read_bytes()))]
            response = client.post(f"/api/collections/{collection}/documents", files=files)
            assert response.status_code == 202, response.text
            docs = wait_for_documents(client, collection, 1)
            assert {d["status"] for d in docs} == {"ready"}, docs
        yield client
    runtime.close()


def _chat(client: httpx.Client, body: dict[str, object]) -> dict[str, object]:
    """The SSE events of one /api/chat answer: the streamed text and the last events."""
    with client.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200
        events = sse_events(response)
    out: dict[str, object] = {"text": ""}
    for name, data in events:
        payload = json.loads(data)
        if name == "token":
            out["text"] = str(out["text"]) + payload["text"]
        else:
            out[name] = payload
    return out


def _marked(answer: str, highlights: list[dict[str, int]]) -> list[str]:
    return [answer[h["start"] : h["end"]] for h in highlights]


def test_english_extractive_answer_quotes_the_passage_with_its_citation(
    api: httpx.Client,
) -> None:
    chat = _chat(
        api,
        {
            "message": "How many paid vacation days does an employee get?",
            "collection": "samples",
            "answer_mode": "extractive",
        },
    )
    done = chat["done"]
    assert isinstance(done, dict)
    assert done["answer_mode"] == "extractive"
    assert done["attribution"] == "quoted"
    assert "25 paid vacation days" in done["answer"]
    assert chat["text"] == done["answer"]  # streamed as it is stored
    assert [c["source"] for c in done["citations"]] == ["northwind-handbook.md"] * len(
        done["citations"]
    )
    assert f"[{done['citations'][0]['n']}]" in done["answer"]
    marked = {w.lower() for w in _marked(done["answer"], done["highlights"])}
    assert {"paid", "vacation", "days"} <= marked
    citations = chat["citations"]
    assert isinstance(citations, dict) and citations["answer_mode"] == "extractive"


def test_korean_extractive_answer_marks_words_with_their_particles(api: httpx.Client) -> None:
    chat = _chat(
        api,
        {
            "message": "환불은 며칠 안에 받을 수 있나요?",
            "collection": "ko",
            "answer_mode": "extractive",
        },
    )
    done = chat["done"]
    assert isinstance(done, dict)
    assert "14일 이내에는 전액 환불을" in done["answer"]
    assert done["citations"][0]["source"] == "refunds.md"
    # "환불은" in the question and "환불을" in the passage share the term "환불".
    assert "환불을" in _marked(done["answer"], done["highlights"])


def test_auto_answers_from_the_passages_when_the_backend_is_down(api: httpx.Client) -> None:
    response = api.post(
        "/v1/chat/completions",
        json={
            "model": "rag:samples",
            "messages": [{"role": "user", "content": "How many paid vacation days do we get?"}],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ragserve_answer_mode"] == "extractive"
    content = body["choices"][0]["message"]["content"]
    assert "25 paid vacation days" in content
    assert "Extractive answer" in content and "Sources:" in content


def test_v1_stream_says_the_mode_on_its_last_chunk(api: httpx.Client) -> None:
    with api.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "rag:samples",
            "stream": True,
            "answer_mode": "extractive",
            "messages": [{"role": "user", "content": "How many paid vacation days do we get?"}],
        },
    ) as response:
        chunks = [json.loads(d) for _, d in sse_events(response) if d != "[DONE]"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["ragserve_answer_mode"] == "extractive"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert "25 paid vacation days" in text and "Extractive answer" in text


def test_generate_asked_for_reports_the_backend_failure(api: httpx.Client) -> None:
    chat = _chat(
        api,
        {"message": "How many vacation days?", "collection": "samples", "answer_mode": "generate"},
    )
    assert "error" in chat and "done" not in chat
