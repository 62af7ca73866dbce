"""Wire models: what ``ragserve ask --json`` prints, the REST API and the OpenAI facade."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

#: Collection names: letters, digits, '.', '_' and '-', at most 100, starting with a letter or
#: digit (they name folders and vector collections); the catalog enforces the same pattern.
COLLECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CollectionName = Annotated[
    str,
    Field(
        pattern=COLLECTION_NAME,
        description="Letters, digits, '.', '_' or '-'; at most 100, starting with a letter or "
        "digit.",
    ),
]

#: How passages are found: embeddings, BM25 keywords, or both fused by reciprocal rank.
SearchMode = Literal["dense", "sparse", "hybrid"]
_MODE_HELP = (
    "`dense` (embeddings), `sparse` (BM25 keywords) or `hybrid` (both, fused by reciprocal "
    "rank); unset: the collection's own mode, else the server's RAGSERVE_RETRIEVAL_MODE."
)


class Citation(BaseModel):
    """A numbered passage; ``n`` is the number used in the answer's ``[n]`` markers."""

    n: int
    source: str = Field(description="Path or file name of the document.")
    page: int | None = None
    heading: str | None = Field(None, description="Heading path, joined with ' > '.")
    text: str = Field(description="The passage text given to the model.")
    title: str | None = None
    document_id: str
    chunk_index: int
    score: float = Field(
        description="The reranker's score when one reranked the passage, else the retrieval score."
    )
    retrieval_score: float | None = Field(
        None, description="The retrieval score of a reranked passage (unset otherwise)."
    )
    vector: list[float] | None = Field(None, exclude=True, repr=False)
    # Hybrid results are scored by fused rank, which says nothing of how close a passage is;
    # the answer's relative floor reads this cosine to the question instead.
    similarity: float | None = Field(None, exclude=True, repr=False)


class Timings(BaseModel):
    rewrite_ms: float | None = None
    retrieval_ms: float = Field(description="Retrieval, reranking included.")
    rerank_ms: float | None = Field(None, description="Reranking alone, when it ran.")
    first_token_ms: float | None = None
    total_ms: float


#: How an answer is made: ``generate`` (the chat model writes it), ``extractive`` (the
#: passages' best sentences, quoted and cited, no model), ``auto`` (extractive when the chat
#: model is one measured too weak to answer, or none is reachable; see RAGSERVE_ANSWER_MODE).
AnswerMode = Literal["generate", "extractive", "auto"]
_ANSWER_MODE_HELP = (
    "`generate`: the chat model writes the answer; `extractive`: the retrieved passages' "
    "best sentences, each cited, no model; `auto`: extractive when the chat model is one "
    "measured too weak or none is reachable. Unset: RAGSERVE_ANSWER_MODE."
)


class Highlight(BaseModel):
    """A span of the answer text that shares a word with the question (extractive answers)."""

    start: int = Field(ge=0, description="Offset of the first character, in code points.")
    end: int = Field(ge=0, description="Offset after the last character, in code points.")


class AskResult(BaseModel):
    answer: str
    answer_mode: Literal["generate", "extractive"] = Field(
        "generate",
        description="`generate`: written by the chat model; `extractive`: sentences quoted "
        "from the passages, no model.",
    )
    highlights: list[Highlight] = Field(
        default_factory=list,
        description="Extractive answers: the words matching the question, as spans of `answer`.",
    )
    citations: list[Citation] = Field(description="Sources cited in the answer, by number.")
    sources: list[Citation] = Field(description="Every passage the model was given.")
    query: str = Field(description="The standalone query used for retrieval.")
    collection: str
    model: str
    attribution: Literal["model", "similarity", "quoted", "none"] = Field(
        description="`model`: the model wrote the [n] markers; `similarity`: the model wrote "
        "none, so each answer sentence was matched to its closest source by embedding; "
        "`quoted`: an extractive answer, each sentence quoted from the source it cites."
    )
    indexing: list[str] = Field(
        default_factory=list,
        description="Documents of the collection still being indexed, so not used yet.",
    )
    timings: Timings
    retrieval_mode: SearchMode | None = Field(None, description="How the sources were found.")
    notice: str | None = Field(
        None, description="Why retrieval differed from what was asked or configured, if it did."
    )
    usage: Usage = Field(
        default_factory=lambda: Usage(),
        description="Tokens of the prompt and the answer: the chat server's own counts when it "
        "reports them (vLLM, OpenAI, Ollama), else counted with the embedding model's "
        "tokenizer (an estimate).",
    )


# --- errors (OpenAI's shape, used by every route) ---------------------------------------------
class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what to change, in a sentence.")
    type: str = Field(description="The kind of error: `not_found_error`, `overloaded_error`...")
    param: str | None = Field(None, description="The request field at fault, if one is.")
    code: str | None = Field(None, description="A finer reason, e.g. `ingest_queue_full`.")


class ErrorResponse(BaseModel):
    """Every error body, as OpenAI sends them; a stream's final `error` event carries one."""

    error: ErrorDetail


class RequestBody(BaseModel):
    """A request body: JSON types as the schema says them, no coercion (`false` is not 0,
    `"5"` is not 5), so what the spec rejects the server rejects too."""

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _integral_floats(cls, value: object) -> object:
        # JSON Schema counts 26.0 as an integer, which strict validation alone would refuse.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


# --- REST: collections, documents, jobs, ingestion ----------------------------------------------
class CollectionCreate(RequestBody):
    name: CollectionName
    embedding_model: str | None = Field(
        None, description="Must be the model this server embeds with; unset: that model."
    )
    retrieval_mode: SearchMode | None = Field(
        None, description="This collection's retrieval mode; unset: the server's default."
    )


class CollectionUpdate(RequestBody):
    retrieval_mode: SearchMode | None = Field(
        description="This collection's retrieval mode; null: the server's default."
    )


RoleName = Literal["viewer", "editor", "owner"]
ScopeName = Literal["read", "ingest", "admin"]


class CollectionInfo(BaseModel):
    name: str
    embedding_model: str
    dimension: int
    documents_ready: int
    created_at: AwareDatetime
    documents: dict[str, int] = Field(
        default_factory=dict,
        description="Documents per status (`queued`, `indexing`, `ready`, `failed`); "
        "statuses with none are left out.",
    )
    chunks: int = Field(0, description="Chunks of the ready documents (what answers search).")
    stored_bytes: int = Field(
        0, description="Bytes of the stored original files (uploads kept for re-indexing)."
    )
    retrieval_mode: SearchMode | None = Field(
        None, description="The collection's own retrieval mode; null: the server's default."
    )
    sparse_encoding: str | None = Field(
        None,
        description="How its keyword (BM25) side was made; null: it has none (re-index it "
        "for `sparse` and `hybrid`).",
    )
    role: RoleName | None = Field(
        None,
        description="The caller's role on it: viewer (search, chat), editor (also documents), "
        "owner (also sharing and deleting); admins and single-key callers are owners.",
    )


class ReindexStatus(BaseModel):
    """A whole-collection re-index run by this server process (the latest one per collection)."""

    collection: str
    status: Literal["none", "running", "done", "failed"] = Field(
        description="`none`: not re-indexed since the server started; `done`: the collection "
        "now searches its new index; `failed`: it kept its previous one (`error` says why)."
    )
    documents: int = Field(description="Documents to re-index.")
    done: int = Field(0, description="Documents finished so far (ingested, skipped or failed).")
    failed: int = Field(0, description="Documents that failed (nothing switches if any did).")
    chunks: int = Field(0, description="Chunks in the new index (when done).")
    sparse_encoding: str | None = Field(
        None, description="The keyword index the collection has once done (null: none)."
    )
    error: str | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None


DocStatus = Literal["queued", "indexing", "ready", "failed"]
#: The ``error`` of a document whose indexing was cancelled: its status is ``failed``.
CANCELLED_REASON = "cancelled"
DocumentSort = Literal["name", "-name", "updated", "-updated", "status", "-status"]


class DocumentInfo(BaseModel):
    id: str
    collection: str
    source: str
    status: DocStatus
    error: str | None = Field(None, description="Why it failed, or a note (truncation, ...).")
    chunks: int
    pages: int | None = None
    title: str | None = None
    kind: str | None = None
    updated_at: AwareDatetime
    content_hash: str | None = Field(
        None,
        description="sha256 (hex) of the file bytes of the version that is indexed; null while "
        "none is. A client compares it to skip uploading unchanged files.",
    )
    size_bytes: int | None = Field(
        None,
        description="Bytes of the stored original; null for documents stored before "
        "sizes were recorded.",
    )
    progress: float | None = Field(
        None,
        ge=0,
        le=1,
        description="While `indexing`: the fraction of its text stored so far; 1 once ready; "
        "null before indexing started.",
    )


class JobItem(BaseModel):
    document_id: str
    source: str
    status: DocStatus
    error: str | None = None
    chunks: int


class JobInfo(BaseModel):
    id: str
    collection: str
    created_at: AwareDatetime
    done: bool = Field(description="Every document of the job is ready or failed.")
    counts: dict[str, int] = Field(description="Documents per status.")
    items: list[JobItem]


class PathIngestRequest(RequestBody):
    paths: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Files or folders on the server."
    )


class IngestStatusResponse(BaseModel):
    """What a client reads to throttle itself before it meets a 429."""

    queued: int
    indexing: int
    in_flight: int = Field(description="queued + indexing; the queue is full at `capacity`.")
    capacity: int
    queue_fraction: float
    accepting: bool
    docs_per_s: float = Field(description="Documents finished per second, last 30 s.")
    chunks_per_s: float = Field(description="Chunks embedded per second, last 30 s.")
    parallel: int
    embed_rate_limit: float | None
    embed_queue: int = Field(description="Embedding requests waiting for the model.")
    max_files: int = Field(description="Most files one upload request may carry (413 above).")
    max_request_bytes: int = Field(description="Largest request body in bytes (413 above).")


class SearchRequest(RequestBody):
    collection: CollectionName | None = None
    query: str = Field(min_length=1)
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode | None = Field(None, description=_MODE_HELP)
    rerank: bool = Field(
        True,
        description="Rerank with the server's reranker (RAGSERVE_RERANK), if one is "
        "configured; false skips it for this request.",
    )


class SearchResponse(BaseModel):
    collection: str
    query: str
    results: list[Citation]
    indexing: list[str]
    mode: SearchMode = Field(description="The mode used.")
    notice: str | None = Field(
        None, description="Why the mode used is not the configured one, if it is not."
    )
    reranker: str | None = Field(
        None, description="The reranker that ordered the results (`remote`, `llm`...), if any."
    )


class ChatTurn(RequestBody):
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "How many vacation days do we get?"}]}
    )

    message: str = Field(min_length=1, description="The question.")
    collection: CollectionName | None = None
    conversation_id: str | None = Field(
        None, description="Continue a stored conversation; unset starts a new one."
    )
    history: list[ChatTurn] | None = Field(
        None, description="Earlier turns passed inline (instead of a conversation id)."
    )
    top_k: Annotated[int, Field(ge=1, le=50)] | None = None
    mode: SearchMode | None = Field(None, description=_MODE_HELP)
    rerank: bool = Field(
        True,
        description="Rerank with the server's reranker (RAGSERVE_RERANK), if one is "
        "configured; false skips it for this request.",
    )
    answer_mode: AnswerMode | None = Field(None, description=_ANSWER_MODE_HELP)


class ConversationInfo(BaseModel):
    id: str
    collection: str
    messages: list[ChatTurn]
    title: str | None = Field(
        None, description="Its name: set by a rename, else the first question, cut short."
    )
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


ConversationTitle = Annotated[str, Field(min_length=1, max_length=200)]


class ConversationSummary(BaseModel):
    """A conversation as the list shows it (no turns)."""

    id: str
    title: str = Field(description="Its name; `New conversation` until the first question.")
    collection: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    message_count: int = Field(description="Stored turns: a question and its answer are two.")


class ConversationCreate(RequestBody):
    title: ConversationTitle | None = Field(None, description="Unset: the first question names it.")
    collection: CollectionName | None = Field(
        None, description="Unset: the server's default collection."
    )


class ConversationRename(RequestBody):
    title: ConversationTitle


class HealthResponse(BaseModel):
    status: Literal["ok", "ready", "not ready"]
    checks: dict[str, str] = Field(default_factory=dict)


# --- sign-in ----------------------------------------------------------------------------------
class AuthConfig(BaseModel):
    """How the web UI may sign in."""

    oidc: bool = Field(description="Single sign-on through an OpenID provider is set up.")
    login_url: str | None = Field(description="Where the SSO button sends the browser.")
    key_login: bool = Field(True, description="Signing in with an API key works.")


class LogoutResult(BaseModel):
    logout_url: str | None = Field(
        description="Where to send the browser to end the provider's session too (none when "
        "the provider offers no logout endpoint)."
    )


# --- OpenAI-compatible facade ---------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIMessage(RequestBody):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(RequestBody):
    include_usage: bool = False


class ChatCompletionRequest(RequestBody):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": "rag:default", "messages": [{"role": "user", "content": "Vacation?"}]},
                {
                    "model": "rag:default",
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": "How many vacation days?"}],
                },
            ]
        },
    )

    model: str = Field(
        min_length=1,
        description="`rag:<collection>` answers from that collection (see /v1/models).",
    )
    messages: list[OpenAIMessage] = Field(
        min_length=1, description="The last user or assistant message must be a non-empty user one."
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    retrieval_mode: SearchMode | None = Field(
        None, description="ragserve extension, for `rag:` models: " + _MODE_HELP
    )
    rerank: bool = Field(
        True,
        description="ragserve extension: rerank with the server's reranker "
        "(RAGSERVE_RERANK), if one is configured; false skips it for this request.",
    )
    answer_mode: AnswerMode | None = Field(
        None, description="ragserve extension, for `rag:` models: " + _ANSWER_MODE_HELP
    )


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: str | None = "stop"


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[Citation] = Field(
        default_factory=list, description="ragserve: the sources cited in the answer."
    )
    ragserve_answer_mode: Literal["generate", "extractive"] | None = Field(
        None, description="ragserve: how the answer was made (see `answer_mode`)."
    )


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    citations: list[Citation] | None = None
    ragserve_answer_mode: Literal["generate", "extractive"] | None = Field(
        None, description="ragserve, on the last chunk: how the answer was made."
    )


#: Most texts in one embeddings request (OpenAI's own limit).
MAX_EMBEDDING_INPUTS = 2048
EmbeddingText = Annotated[str, Field(min_length=1)]


class EmbeddingRequest(RequestBody):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "default", "input": ["vacation days"]}]},
    )

    model: str = Field(min_length=1, description="The served embedding model (see /v1/models).")
    input: (
        EmbeddingText
        | Annotated[list[EmbeddingText], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    ) = Field(description="Text only: token arrays are refused (they need the model's tokenizer).")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Must be the model's own dimension; it cannot be changed."
    )
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _text_only(cls, value: object) -> object:
        # The schema says text; this only makes the refusal of OpenAI-style token ids say why.
        if isinstance(value, list) and any(isinstance(v, int | list) for v in value):
            raise ValueError(
                "input must be text: token arrays are not accepted (LangChain's "
                "OpenAIEmbeddings sends them unless check_embedding_ctx_length=False)"
            )
        return value


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage


class DoctorCheck(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str | None = None


class DoctorReport(BaseModel):
    ok: bool
    checks: list[DoctorCheck]


#: Names of stored chat backends: letters, digits, '.', '_' and '-', at most 64, starting with
#: a letter or digit (they appear in metrics labels and URLs).
BACKEND_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class BackendResource(RequestBody):
    """A chat backend in the Resources store (fields as in RAGSERVE_LLM_BACKENDS)."""

    kind: str = Field(
        "openai",
        min_length=1,
        description="A registered chat kind (`openai`, `ollama`, `embedded` or a plugin's); "
        "an unknown one is refused with 422.",
    )
    base_url: str | None = Field(
        None, description="An http(s) URL such as http://HOST:8000/v1; anything else gets 422."
    )
    model: str | None = None
    # Sent in an HTTP header, so printable ASCII only.
    api_key: str | None = Field(
        None, pattern=r"^[ -~]*$", description="Write-only: never returned."
    )
    context_window: Annotated[int, Field(ge=256, le=2**31 - 1)] | None = None
    first_token_timeout_s: float | None = Field(None, gt=0, le=86400)
    # Stored in a 64-bit SQL column; a 32-bit range leaves room and is plenty to order by.
    position: int = Field(
        0, ge=-(2**31), le=2**31 - 1, description="Order among stored backends; lower first."
    )


class BackendInfo(BaseModel):
    name: str
    source: Literal["store", "settings"]
    kind: str
    base_url: str | None
    model: str | None
    has_api_key: bool
    state: str | None = Field(
        None,
        description="Circuit: closed, open or half_open; `broken` for a stored entry that no "
        "longer builds (left out of the chain: fix it with PUT or remove it with DELETE).",
    )
    error: str | None = Field(None, description="Why a broken entry cannot be used.")


class ModelProbeRequest(RequestBody):
    """An endpoint to ask for its models before it is added as a backend."""

    kind: str = Field(
        "openai", min_length=1, description="As in BackendResource: `openai`, `ollama`..."
    )
    base_url: str = Field(
        min_length=1,
        description="http(s) URL of the endpoint; without a path, `/v1` is added.",
    )
    api_key: str | None = Field(
        None, pattern=r"^[ -~]*$", description="Sent to the endpoint only; never stored."
    )


class ModelProbeResponse(BaseModel):
    base_url: str = Field(description="The base URL as it would be stored (normalised).")
    models: list[str] = Field(description="Model ids of the endpoint's `/models`.")


class BackendOrder(RequestBody):
    names: list[Annotated[str, Field(pattern=BACKEND_NAME)]] = Field(
        min_length=1,
        description="Stored backends in the order to try them; stored ones not named keep "
        "their order after these. Backends from the settings always come after.",
    )


class EmbeddingInfo(BaseModel):
    model: str = Field(description="The embedding model every collection here is pinned to.")
    dimension: int
    backend: str = Field(description="Where it runs: `onnx`, `sentence_transformers`, `openai`...")
    base_url: str | None = Field(None, description="The remote endpoint, when it is one.")
    collections: int = Field(description="Collections indexed with this model.")
    swappable: Literal[False] = False
    note: str = Field(description="Why the model cannot be changed here, in a sentence.")


# --- users and access ------------------------------------------------------------------------
PRINCIPAL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$"


class Me(BaseModel):
    id: int | None = Field(description="The user's id; null in single-key and open mode.")
    name: str
    admin: bool
    scopes: list[ScopeName]
    groups: list[str]
    via: Literal["key", "session", "single-key", "open"]


class KeyInfo(BaseModel):
    id: int
    name: str
    scopes: list[ScopeName]
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    last_used_at: AwareDatetime | None = None
    revoked: bool = False


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=200)
    scopes: list[ScopeName] = Field(min_length=1, max_length=3)
    expires_at: AwareDatetime | None = Field(None, description="ISO 8601 with an offset.")


class KeyCreated(KeyInfo):
    key: str = Field(description="The key itself: shown this once, never stored.")


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["user", "group"]
    name: str = Field(pattern=PRINCIPAL_NAME)
    role: RoleName


class NameOnly(BaseModel):
    name: str


class AuditEntry(BaseModel):
    id: int
    at: AwareDatetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
