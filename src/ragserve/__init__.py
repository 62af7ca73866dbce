"""ragserve: self-hosted RAG — documents in, cited streamed answers out."""

__version__ = "0.1.0"
