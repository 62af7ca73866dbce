"""Embeddings: in-process (ONNX int8, sentence-transformers) or a remote /v1/embeddings."""
