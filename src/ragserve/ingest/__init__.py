"""Ingestion: files → parsed documents → chunks, ready for embedding."""
