"""What ragserve reports about itself: Prometheus metrics (and, later, traces)."""
