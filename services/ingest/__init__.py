"""ingest: HTTP in, normalized alerts out to ``corral.alerts`` (a source, in Vector's terms)."""
