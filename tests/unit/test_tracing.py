"""Tracing is off unless the environment names a destination, and costs nothing when off."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ragserve.observability import tracing
from ragserve.observability.tracing import Tracing


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"LANGFUSE_PUBLIC_KEY": "pk"},  # half a key pair is not a destination
        {"LANGFUSE_HOST": "http://127.0.0.1:3000"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    ],
)
def test_off_unless_a_destination_is_named(env: dict[str, str]) -> None:
    assert Tracing.from_env(env) is None


def test_each_destination_gets_its_own_exporter(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk",
        "LANGFUSE_HOST": "http://127.0.0.1:3000",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        traces = Tracing.from_env(env)
    assert traces is not None
    try:
        assert traces.destinations == [
            "Langfuse at http://127.0.0.1:3000", "OTLP at http://127.0.0.1:4318"
        ]  # fmt: skip
        assert len(traces.exporters) == 2
        assert "not over gRPC" in caplog.text  # said, not silently misrouted
    finally:
        traces.shutdown(timeout_s=1)


async def _items() -> AsyncIterator[int]:
    for i in range(3):
        yield i


@pytest.mark.anyio
async def test_off_a_traced_stream_passes_through_and_records_nothing() -> None:
    spans = InMemorySpanExporter()
    Tracing.to(spans, batch=False)  # built, not installed
    assert not tracing.enabled()
    stream = tracing.traced_question(_items)
    assert [i async for i in stream()] == [0, 1, 2]
    gen = tracing.generation("b", "m", "http://127.0.0.1:1/v1")
    gen.first_token()
    gen.add("x")
    gen.finish("m", 1, 1)
    assert gen.span is None and spans.get_finished_spans() == ()


@pytest.mark.anyio
async def test_content_can_be_kept_out_of_traces() -> None:
    spans = InMemorySpanExporter()
    traces = Tracing.to(spans, batch=False, content=False)
    traces.install()
    try:
        gen = tracing.generation(
            "b", "m", "http://127.0.0.1:1/v1", [{"role": "user", "content": "secret"}]
        )
        gen.add("private answer")
        gen.finish("m", 3, 2)
    finally:
        traces.shutdown()
    [span] = spans.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == 3 and attrs["gen_ai.request.model"] == "m"
    assert "langfuse.observation.input" not in attrs and "langfuse.observation.output" not in attrs
    assert not tracing.enabled()  # shutdown uninstalls
