"""LangChain's ``index()`` and LlamaIndex's ``IngestionPipeline`` on one set of text files.

Run by ``benchmarks/ingest_peers.py`` in the peers' own venv (``make bench-peers`` builds it
under ``.tools/peers``), one pipeline per process, so its peak memory is its own. It never
imports ragserve: the two libraries stay out of ragserve's dependencies.

Both pipelines get what a user of each would write:

- LangChain: ``HuggingFaceEmbeddings`` (sentence-transformers) on the given model folder;
  ``RecursiveCharacterTextSplitter.from_huggingface_tokenizer`` (chunk size and overlap in
  the model's own tokens); ``index(..., cleanup="incremental")`` with a
  ``SQLRecordManager`` on SQLite for de-duplication; ``QdrantVectorStore`` on a qdrant-client
  local path. Its default key encoder (SHA-1 made a UUID) stays: Qdrant takes only UUID or
  integer point ids, so ``key_encoder="sha256"`` fails there.
- LlamaIndex: ``HuggingFaceEmbedding`` on the same folder; ``SentenceSplitter`` counting the
  same tokenizer's tokens; ``IngestionPipeline`` with a ``SimpleDocumentStore`` for
  de-duplication (upserts) and ``QdrantVectorStore`` on a qdrant-client local path.

Library defaults everywhere else (embedding batch sizes included). The files are read and
wrapped into each library's ``Document`` inside the timed run; the model is loaded and
warmed up before it. Prints one JSON line.

    python benchmarks/peer_pipelines.py langchain|llamaindex --files LIST --model DIR \
        --work DIR [--chunk-tokens 200 --chunk-overlap 32]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

COLLECTION = "peers"
WARM_UP = ["warm-up passage"] * 16


def _read(path: Path) -> tuple[str, str]:
    """Text and title of one prepared file (first line: the title)."""
    title, _, text = path.read_text(encoding="utf-8").partition("\n")
    return title, text


def _qdrant(work: Path, dimension: int) -> Any:
    from qdrant_client import QdrantClient
    from qdrant_client.models import Distance, VectorParams

    client = QdrantClient(path=str(work / "qdrant"))
    client.create_collection(
        COLLECTION, vectors_config=VectorParams(size=dimension, distance=Distance.COSINE)
    )
    return client


def langchain(files: list[Path], args: argparse.Namespace) -> Callable[[], dict[str, int]]:
    from langchain_classic.indexes import SQLRecordManager
    from langchain_core.documents import Document
    from langchain_core.indexing import index
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    embeddings = HuggingFaceEmbeddings(
        model_name=args.model,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
    embeddings.embed_documents(WARM_UP)
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(args.model),
        chunk_size=args.chunk_tokens,
        chunk_overlap=args.chunk_overlap,
    )
    client = _qdrant(args.work, len(embeddings.embed_query("x")))
    store = QdrantVectorStore(client=client, collection_name=COLLECTION, embedding=embeddings)
    records = SQLRecordManager(
        f"qdrant/{COLLECTION}", db_url=f"sqlite:///{args.work / 'records.sqlite'}"
    )
    records.create_schema()

    def chunks() -> Iterator[Document]:
        # One file at a time, its chunks together: what cleanup="incremental" asks for.
        for path in files:
            title, text = _read(path)
            document = Document(page_content=text, metadata={"source": path.name, "title": title})
            yield from splitter.split_documents([document])

    def run() -> dict[str, int]:
        result = index(
            chunks(),
            records,
            store,
            cleanup="incremental",
            source_id_key="source",
        )
        return {"added": result["num_added"], "skipped": result["num_skipped"]}

    return run


def llamaindex(files: list[Path], args: argparse.Namespace) -> Callable[[], dict[str, int]]:
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from transformers import AutoTokenizer

    embedding = HuggingFaceEmbedding(model_name=args.model, device="cpu")
    embedding.get_text_embedding_batch(WARM_UP)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    client = _qdrant(args.work, len(embedding.get_text_embedding("x")))
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(
                chunk_size=args.chunk_tokens,
                chunk_overlap=args.chunk_overlap,
                tokenizer=tokenizer.tokenize,
            ),
            embedding,
        ],
        docstore=SimpleDocumentStore(),
        vector_store=QdrantVectorStore(client=client, collection_name=COLLECTION),
    )

    def run() -> dict[str, int]:
        documents = []
        for path in files:
            title, text = _read(path)
            documents.append(
                Document(text=text, id_=path.name, metadata={"source": path.name, "title": title})
            )
        nodes = pipeline.run(documents=documents)
        return {"added": len(nodes), "skipped": 0}

    return run


def main() -> None:
    warnings.filterwarnings("ignore", message="Using SHA-1 for document hashing")
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline", choices=["langchain", "llamaindex"])
    parser.add_argument("--files", type=Path, required=True, help="file with one path a line")
    parser.add_argument("--model", required=True, help="sentence-transformers model folder")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--chunk-tokens", type=int, default=200)
    parser.add_argument("--chunk-overlap", type=int, default=32)
    args = parser.parse_args()
    files = [Path(line) for line in args.files.read_text().splitlines() if line]
    run = {"langchain": langchain, "llamaindex": llamaindex}[args.pipeline](files, args)
    started = time.perf_counter()
    first = run()
    seconds = time.perf_counter() - started
    # The same files again, unchanged: the de-duplication must skip all of them.
    started = time.perf_counter()
    again = run()
    rerun_seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "documents": len(files),
                "chunks": first["added"],
                "seconds": seconds,
                "rerun_seconds": rerun_seconds,
                "rerun_added": again["added"],
                "peak_mib": own / 1024,
                "children_peak_mib": children / 1024,
                "cpu_s": sum(
                    u.ru_utime + u.ru_stime
                    for u in map(
                        resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                    )
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
