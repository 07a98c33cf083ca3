"""The incidents service's metrics: how fast people respond, and what is open."""

from prometheus_client import Counter, Gauge, Histogram

# From half a minute to a day: a page answered at once, one answered after
# the night, and the escalation steps between.
RESPONSE_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)

TIME_TO_ACKNOWLEDGE = Histogram(
    "corral_incident_time_to_acknowledge_seconds",
    "From an incident opening to its first acknowledgement (or snooze).",
    ["priority", "team"],
    buckets=RESPONSE_BUCKETS,
)
TIME_TO_RESOLVE = Histogram(
    "corral_incident_time_to_resolve_seconds",
    "From an incident opening to its resolve (again after each reopen).",
    ["priority", "team"],
    buckets=RESPONSE_BUCKETS,
)
INCIDENTS_OPEN = Gauge(
    "corral_incidents_open",
    "Incidents not resolved, by state now (firing, acknowledged) and priority.",
    ["state", "priority"],
)
ACTIONS = Counter(
    "corral_incident_actions_total",
    "Actions published, by kind and source (api, board, cli, slack, pagerduty).",
    ["kind", "source"],
)
INBOUND = Counter(
    "corral_inbound_webhooks_total",
    "Requests from PagerDuty and Slack, by integration and result "
    "(action, ignored, refused: bad signature or body).",
    ["integration", "result"],
)
INVALID_RECORDS = Counter(
    "corral_incidents_invalid_records_total",
    "Records on the incidents, actions and outcomes topics the incidents service could not read.",
)
