"""notify's metrics."""

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

NOTIFICATIONS = Counter(
    "corral_notifications_total",
    "Notification attempts that ended, by receiver, integration and outcome "
    "(sent, failed, silenced, muted, skipped_unchanged, skipped_duplicate, "
    "skipped_resolved, skipped_merged).",
    ["receiver", "integration", "outcome"],
)
RETRIES = Counter(
    "corral_notification_retries_total", "Notification attempts repeated.", ["receiver"]
)
DELIVERY_SECONDS = Histogram(
    "corral_notification_duration_seconds",
    "Time to deliver one notification, retries included.",
    ["receiver"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "corral_end_to_end_latency_seconds",
    "From ingest receiving an alert to a receiver taking the notification it caused.",
    ["receiver"],
    buckets=LATENCY_BUCKETS,
)
INCIDENTS_INVALID = Counter(
    "corral_notify_invalid_records_total", "Records on the incidents topic notify could not read."
)
ACTIONS_INVALID = Counter(
    "corral_notify_invalid_actions_total", "Records on the actions topic notify could not read."
)
DEAD_LETTERS = Counter(
    "corral_dead_letters_total",
    "Notifications given up after the retry budget and written to the dead-letter topic.",
    ["receiver"],
)
SENT_LOG_ENTRIES = Gauge(
    "corral_notify_sent_log_entries",
    "Sent log entries (one per incident, receiver and integration) this worker holds.",
)
TEMPLATE_FAILURES = Counter(
    "corral_notify_template_failures_total",
    "Templates that failed to render and were replaced by the built-in one, by receiver "
    "and template field.",
    ["receiver", "template"],
)
NOTIFICATIONS_PER_INCIDENT = Histogram(
    "corral_notifications_per_incident",
    "Notifications one receiver integration got about one incident, from its first "
    "page to its resolve (again after a reopen), by receiver.",
    ["receiver"],
    buckets=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50),
)
