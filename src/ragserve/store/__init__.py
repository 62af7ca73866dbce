"""Storage: vectors in Qdrant (embedded Edge shard or server), metadata in SQL."""
