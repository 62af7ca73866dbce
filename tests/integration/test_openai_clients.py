"""Clients nobody here wrote, pointed at /v1: the official openai SDK and langchain-openai."""

from __future__ import annotations

import httpx
import numpy as np
import openai
import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from ragserve.embed.base import EmbeddingBackend


def _v1(api: httpx.Client) -> str:
    return str(api.base_url).rstrip("/") + "/v1"


QUESTION = "How many vacation days do Northwind employees get?"
EMBED_MODEL = "all-MiniLM-L6-v2-int8"


@pytest.fixture
def client(api: httpx.Client) -> openai.OpenAI:
    return openai.OpenAI(base_url=_v1(api), api_key="unused", max_retries=0)


def test_models_list_collections_and_the_embedding_model(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "rag:samples" in ids and EMBED_MODEL in ids


def test_chat_non_stream_has_answer_sources_and_citations(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="rag:samples", messages=[{"role": "user", "content": QUESTION}]
    )
    text = reply.choices[0].message.content or ""
    assert "25" in text
    assert "Sources:\n[1] northwind-handbook.md" in text
    citations = (reply.model_extra or {})["citations"]
    assert citations[0]["source"] == "northwind-handbook.md"
    assert reply.choices[0].finish_reason == "stop"


def test_chat_stream_yields_deltas_and_a_final_citations_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="rag:samples",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": QUESTION},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "25" in text and "Sources:" in text
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert (final.model_extra or {})["citations"][0]["source"] == "northwind-handbook.md"
    usage = chunks[-1].usage  # llama.cpp reports none in streams: counted by ragserve
    assert usage is not None and usage.completion_tokens > 0
    assert usage.prompt_tokens > 50  # the packed sources, not 0


def test_chat_errors_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="rag:nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert "nope" in str(missing.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="rag:samples", messages=[{"role": "assistant", "content": "hi"}]
        )


def test_embeddings_match_the_in_process_model(
    client: openai.OpenAI, embedder: EmbeddingBackend
) -> None:
    texts = ["VPN setup on a new laptop", "vacation days", "x" * 3000]
    # The SDK asks for base64 by default; float is the other encoding.
    b64 = client.embeddings.create(model=EMBED_MODEL, input=texts)
    floats = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float")
    expected = embedder.embed_passages(texts)
    for response in (b64, floats):
        got = np.array([d.embedding for d in sorted(response.data, key=lambda d: d.index)])
        assert got.shape == (3, 384)
        assert np.allclose(got, expected, atol=1e-4)
    assert b64.usage.prompt_tokens > 3
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    with pytest.raises(openai.BadRequestError) as tokens:
        client.embeddings.create(model=EMBED_MODEL, input=[[1, 2, 3]])
    assert "check_embedding_ctx_length" in str(tokens.value)


def test_langchain_chat_openai_invoke_and_stream(api: httpx.Client) -> None:
    llm = ChatOpenAI(base_url=_v1(api), api_key="unused", model="rag:samples", max_retries=0)
    assert "25" in str(llm.invoke(QUESTION).content)
    streamed = "".join(str(chunk.content) for chunk in llm.stream(QUESTION))
    assert "25" in streamed and "northwind-handbook.md" in streamed


def test_langchain_openai_embeddings(api: httpx.Client, embedder: EmbeddingBackend) -> None:
    emb = OpenAIEmbeddings(
        base_url=_v1(api),
        api_key="unused",
        model=EMBED_MODEL,
        check_embedding_ctx_length=False,  # else it sends tiktoken ids, not text
    )
    docs = emb.embed_documents(["one", "two"])
    query = emb.embed_query("VPN")
    assert len(docs) == 2 and len(query) == 384
    assert np.allclose(query, embedder.embed_passages(["VPN"])[0], atol=1e-4)
