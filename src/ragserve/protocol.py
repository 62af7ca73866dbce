"""Wire models: what ``ragserve ask --json`` prints and (later) what the API returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
    score: float


class Timings(BaseModel):
    rewrite_ms: float | None = None
    retrieval_ms: float
    first_token_ms: float | None = None
    total_ms: float


class AskResult(BaseModel):
    answer: str
    citations: list[Citation] = Field(description="Sources cited in the answer, by number.")
    sources: list[Citation] = Field(description="Every passage the model was given.")
    query: str = Field(description="The standalone query used for retrieval.")
    collection: str
    model: str
    attribution: Literal["model", "similarity", "none"] = Field(
        description="`model`: the model wrote the [n] markers; `similarity`: the model wrote "
        "none, so each answer sentence was matched to its closest source by embedding."
    )
    timings: Timings
