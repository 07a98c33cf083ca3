"""triage: alerts in, deduplicated, correlated and scored incidents out (a transform)."""
