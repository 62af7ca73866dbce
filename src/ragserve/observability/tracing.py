"""Traces: one per question, exported in the background to Langfuse and/or any OTLP collector.

Off unless the environment names a destination (both may be set; each gets its own exporter):

    LANGFUSE_PUBLIC_KEY + LANGFUSE_SECRET_KEY [+ LANGFUSE_HOST]  → Langfuse's OTLP endpoint
    OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)  → that collector

Plain OpenTelemetry rather than the Langfuse SDK: Langfuse's own SDK (v3 and later) is an
OpenTelemetry tracer underneath, and its server takes OTLP at ``/api/public/otel`` and maps
``gen_ai.*`` and ``langfuse.*`` attributes onto traces, generations and sessions. So one set of
spans, built with the vendor-neutral API, goes to Langfuse and to Jaeger/Tempo/an OTel
collector alike; tests capture it with the SDK's in-memory exporter; and the Langfuse SDK's
process-wide client, its own batching thread and its pins stay out of the install.

A trace::

    question            session.id = conversation id; langfuse.trace.input / output
      ├─ rewrite        follow-ups only; its LLM call is a generation inside it
      ├─ retrieval      langfuse.observation.type = retriever; top_k, hits
      └─ generation     type generation; model, backend, gen_ai.usage.*, time to first token
                        (one per backend tried: a failover shows as a failed one first)

``ragserve query`` and ``ragserve batch`` make one trace per request (``query`` / ``batch
request``) holding one generation.

The request path only ever appends finished spans to the ``BatchSpanProcessor``'s bounded
in-memory queue (full: the span is dropped, never waited for); a background thread exports
them. A missing, slow or unreachable collector therefore costs a request nothing, and at exit
:meth:`Tracing.shutdown` waits a bounded time before giving up on what is left.

ragserve uses its own ``TracerProvider`` (installed by the runtime and the CLI), not the
process-global one, so a program embedding ragserve keeps control of its own.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Longest text put in a span attribute: a trace is for reading, not for archiving answers.
MAX_TEXT = 4000
LANGFUSE_CLOUD = "https://cloud.langfuse.com"


@dataclass
class Tracing:
    """A tracer provider with its exporters; :meth:`install` makes it the one ragserve uses."""

    provider: TracerProvider
    exporters: list[SpanExporter]
    destinations: list[str] = field(default_factory=list)
    #: Send questions, queries and answers along (off: timings, models and counts only).
    content: bool = True

    @classmethod
    def to(cls, *exporters: SpanExporter, batch: bool = True, content: bool = True) -> Tracing:
        """A provider exporting to ``exporters`` (in the background unless ``batch`` is off:
        tests read an in-memory exporter the moment a span ends)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "ragserve"}
        provider = TracerProvider(resource=Resource.create(attributes))
        for exporter in exporters:
            processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            provider.add_span_processor(processor)
        return cls(provider, list(exporters), content=content)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, content: bool = True) -> Tracing | None:
        """The destinations the environment names, or None (tracing off)."""
        env = os.environ if env is None else env
        if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
            return None
        public, secret = env.get("LANGFUSE_PUBLIC_KEY"), env.get("LANGFUSE_SECRET_KEY")
        otlp = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        if not (public and secret) and not otlp:
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("tracing is configured but not installed: pip install 'ragserve[tracing]'")
            return None
        exporters: list[SpanExporter] = []
        destinations: list[str] = []
        if public and secret:
            host = env.get("LANGFUSE_HOST") or env.get("LANGFUSE_BASE_URL") or LANGFUSE_CLOUD
            endpoint = host.rstrip("/") + "/api/public/otel/v1/traces"
            token = base64.b64encode(f"{public}:{secret}".encode()).decode()
            exporters.append(
                OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Basic {token}"})
            )
            destinations.append(f"Langfuse at {host}")
        if otlp:
            if env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") != "http/protobuf":
                log.warning("OTLP traces are sent as http/protobuf (port 4318), not over gRPC")
            exporters.append(OTLPSpanExporter())  # endpoint, headers, timeout: from OTEL_*
            destinations.append(f"OTLP at {otlp}")
        tracing = cls.to(*exporters, content=content)
        tracing.destinations = destinations
        return tracing

    def install(self) -> None:
        """Make this the provider ragserve's spans go to (the last installed wins)."""
        global _active, _tracer
        _active, _tracer = self, self.provider.get_tracer("ragserve")
        if self.destinations:
            log.info("tracing to %s", ", ".join(self.destinations))

    def uninstall(self) -> None:
        """Stop sending ragserve's spans here (the provider stays up: its owner shuts it)."""
        global _active, _tracer
        if _active is self:
            _active, _tracer = None, None

    def shutdown(self, timeout_s: float = 3.0) -> None:
        """Stop tracing; export what is queued, waiting at most ``timeout_s`` for it."""
        self.uninstall()
        # The SDK's own shutdown retries an unreachable collector for its whole export
        # timeout; run it aside and, past the budget, cut the exporters' retries short.
        worker = threading.Thread(target=self.provider.shutdown, daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            log.warning("traces not exported within %.1f s at shutdown; dropped", timeout_s)
            for exporter in self.exporters:
                exporter.shutdown()


_active: Tracing | None = None
_tracer: Tracer | None = None


@contextmanager
def from_environment(content: bool = True) -> Iterator[Tracing | None]:
    """Tracing for one CLI command, if the environment asks for it; flushed at the end."""
    tracing = Tracing.from_env(content=content)
    if tracing is None:
        yield None
        return
    tracing.install()
    try:
        yield tracing
    finally:
        tracing.shutdown()


def enabled() -> bool:
    return _tracer is not None


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"


def _keep_content() -> bool:
    return _active is not None and _active.content


def _content(attributes: dict[str, Any], key: str, value: str | None) -> None:
    """Put user text in ``attributes`` only when the operator allows content in traces."""
    if value is not None and _keep_content():
        attributes[key] = _text(value)


def _fail(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def annotate(**attributes: Any) -> None:
    """Set attributes on the current span (a no-op when tracing is off)."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(
            {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
        )


def traced(
    name: str, observation: str = "span", output: Callable[[Any], str] | None = None
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run an async function inside a span (its children nest under it); ``output`` turns
    the result into the span's output text (sent only when content is allowed)."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer is None:
                return await fn(*args, **kwargs)
            attributes = {"langfuse.observation.type": observation}
            with _tracer.start_as_current_span(name, attributes=attributes) as span:
                result = await fn(*args, **kwargs)
                if output is not None:
                    shown: dict[str, Any] = {}
                    _content(shown, "langfuse.observation.output", output(result))
                    span.set_attributes(shown)
                return result

        return wrapper

    return decorate


def traced_question(
    fn: Callable[P, AsyncIterator[T]],
) -> Callable[P, AsyncIterator[T]]:
    """One trace per question around an answer stream (``AnswerService.stream``).

    The stream's arguments ``question``, ``collection`` and ``session_id`` describe the
    trace; the last item's ``result`` (an ``AskResult``) gives its output. The root span is
    made current only while the stream itself runs — around each step — so spans started
    inside (retrieval, generation) nest under it and nothing leaks to the consumer between
    items.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        if _tracer is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        bound = signature.bind(*args, **kwargs).arguments
        attributes: dict[str, Any] = {"ragserve.collection": str(bound.get("collection"))}
        if bound.get("session_id"):
            attributes["session.id"] = str(bound["session_id"])
        _content(attributes, "langfuse.trace.input", bound.get("question"))
        span = _tracer.start_span("question", attributes=attributes)
        inner_context = trace.set_span_in_context(span)
        inner = fn(*args, **kwargs)
        try:
            while True:
                token = otel_context.attach(inner_context)
                try:
                    item = await anext(inner)
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                _describe_result(span, getattr(item, "result", None))
                yield item
        except BaseException as exc:
            _fail(span, exc)
            if isinstance(exc, GeneratorExit):
                # The consumer stopped early (a client went away): close the stream now so
                # the backend's connection is released, as it would be without the trace.
                await inner.aclose()  # type: ignore[attr-defined]
            raise
        finally:
            span.end()

    return wrapper


def _describe_result(span: Span, result: Any) -> None:
    """The trace's output from an ``AskResult`` (duck-typed: this layer imports no rag)."""
    if result is None:
        return
    attributes: dict[str, Any] = {
        "gen_ai.request.model": result.model,
        "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        "ragserve.attribution": result.attribution,
        "ragserve.citations": len(result.citations),
        "ragserve.sources": len(result.sources),
    }
    _content(attributes, "langfuse.trace.output", result.answer)
    _content(attributes, "ragserve.query", result.query)
    span.set_attributes(attributes)


class Generation:
    """One call to a chat backend, as a Langfuse generation; a no-op when tracing is off."""

    def __init__(
        self, span: Span | None, started: float, messages: Sequence[Mapping[str, object]] = ()
    ) -> None:
        self.span = span
        self.started = started
        self.parts: list[str] | None = [] if span is not None and _keep_content() else None
        if span is not None and messages:
            shown: dict[str, Any] = {}
            _content(shown, "langfuse.observation.input", json.dumps(list(messages)))
            span.set_attributes(shown)

    def add(self, delta: str) -> None:
        """A streamed piece of the output (kept only when content goes into traces)."""
        if self.parts is not None:
            self.parts.append(delta)

    def first_token(self) -> None:
        if self.span is not None:
            ttft = time.perf_counter() - self.started
            self.span.set_attributes({
                "ragserve.time_to_first_token_s": round(ttft, 6),
                "langfuse.observation.completion_start_time": datetime.now(UTC).isoformat(),
            })  # fmt: skip

    def finish(
        self,
        model: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        output: str | None = None,
    ) -> None:
        if self.span is None:
            return
        attributes: dict[str, Any] = {
            "gen_ai.request.model": model,
            "langfuse.observation.model.name": model,
            "gen_ai.usage.input_tokens": prompt_tokens,
            "gen_ai.usage.output_tokens": completion_tokens,
        }
        if output is None and self.parts:
            output = "".join(self.parts)
        _content(attributes, "langfuse.observation.output", output)
        self.span.set_attributes({k: v for k, v in attributes.items() if v is not None})
        self.span.end()
        self.span = None

    def fail(self, exc: BaseException) -> None:
        if self.span is not None:
            _fail(self.span, exc)
            self.span.end()
            self.span = None

    def refused(self, status: int | None, message: str) -> None:
        """The server answered with an error (or never answered: ``status`` None)."""
        if self.span is not None:
            if status is not None:
                self.span.set_attribute("http.response.status_code", status)
            self.span.set_status(Status(StatusCode.ERROR, message[:500]))
            self.span.end()
            self.span = None


def generation(
    backend: str,
    model: str | None,
    base_url: str,
    messages: Sequence[Mapping[str, object]] = (),
    operation: str = "chat",
) -> Generation:
    """Start a generation span under the current span (the question, or the rewrite);
    ``operation`` "embeddings" makes it an embedding observation instead."""
    started = time.perf_counter()
    if _tracer is None:
        return Generation(None, started)
    attributes = {
        "langfuse.observation.type": "embedding" if operation == "embeddings" else "generation",
        "gen_ai.operation.name": operation,
        "ragserve.backend": backend,
        "server.address": base_url,
    }
    if model:
        attributes["gen_ai.request.model"] = model
    name = "embedding" if operation == "embeddings" else "generation"
    return Generation(_tracer.start_span(name, attributes=attributes), started, messages)


@contextmanager
def request_trace(
    name: str,
    model: str | None,
    base_url: str,
    operation: str = "chat",
    messages: Sequence[Mapping[str, object]] = (),
    **attributes: Any,
) -> Iterator[Generation]:
    """A trace for one request of ``ragserve query`` / ``batch``: a root span holding one
    generation, which the caller finishes with the response's usage."""
    if _tracer is None:
        yield Generation(None, time.perf_counter())
        return
    root_attributes = {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, attributes=root_attributes):
        gen = generation(name, model, base_url, messages, operation)
        try:
            yield gen
        except BaseException as exc:
            gen.fail(exc)
            raise
        gen.finish(model)  # no-op when the caller finished it with the usage


def record_response(gen: Generation, model: str | None, status: int | None, body: Any) -> None:
    """Finish a request's generation from an OpenAI-shaped response body (or its error)."""
    if gen.span is None:
        return
    data = body if isinstance(body, dict) else {}
    if status is None or not 200 <= status < 300:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else str(error or data)
        gen.refused(status, str(message))
        return
    usage = data.get("usage") or {}
    choices = data.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    gen.finish(
        str(data.get("model") or model or "") or None,
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        text if isinstance(text, str) else None,
    )
