"""The web layer's metric, exported by every worker."""

from prometheus_client import Counter

HTTP_REFUSED = Counter(
    "corral_http_requests_refused_total",
    "Requests refused before reaching an API, by reason (unauthenticated, bad_credentials, "
    "forbidden, media_type, too_large).",
    ["reason"],
)
