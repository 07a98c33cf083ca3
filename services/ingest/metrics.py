"""ingest's metrics."""

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

ALERTS_RECEIVED = Counter(
    "corral_alerts_received_total", "Alerts accepted by ingest.", ["endpoint"]
)
ALERTS_REJECTED = Counter(
    "corral_alerts_rejected_total",
    "Requests ingest refused, by reason (invalid, too_large, media_type, unauthenticated, "
    "bad_credentials, forbidden, unavailable, overload).",
    ["endpoint", "reason"],
)
REQUEST_SECONDS = Histogram(
    "corral_ingest_request_duration_seconds",
    "Time from request to response, broker acknowledgement included.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
INFLIGHT_ALERTS = Gauge(
    "corral_ingest_inflight_alerts", "Alerts waiting for the broker's acknowledgement."
)
FEEDBACK_RECEIVED = Counter(
    "corral_feedback_received_total",
    "Verdicts on incidents from the people on call, stored on corral.feedback, by verdict.",
    ["verdict"],
)
