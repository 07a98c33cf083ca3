"""triage's metrics."""

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS

ALERTS_DEDUPLICATED = Counter(
    "corral_alerts_deduplicated_total",
    "Repeats of a known alert with an unchanged status, absorbed without a new revision.",
)
RESOLVED_UNKNOWN = Counter(
    "corral_alerts_resolved_unknown_total",
    "Resolved alerts triage never saw firing; they change nothing.",
)
ALERTS_ENDED = Counter(
    "corral_alerts_ended_total",
    "Firing alerts resolved because their end (endsAt, or the resolve timeout) passed "
    "without the sender saying again that they fire.",
)
ALERTS_INVALID = Counter(
    "corral_triage_invalid_records_total", "Records on the alerts topic triage could not read."
)
INCIDENTS_OPENED = Counter(
    "corral_incidents_opened_total", "Incidents opened, by priority.", ["priority"]
)
INCIDENTS_RESOLVED = Counter(
    "corral_incidents_resolved_total", "Incidents resolved, by priority.", ["priority"]
)
INCIDENTS_REOPENED = Counter(
    "corral_incidents_reopened_total",
    "Resolved incidents reopened because a member fired again within the reopen window.",
)
INCIDENTS_MERGED = Counter(
    "corral_incidents_merged_total",
    "Incidents merged into another once an alert showed they are one problem.",
)
CORRELATIONS = Counter(
    "corral_correlation_decisions_total",
    "Alerts placed into incidents, by the policy that decided "
    "(cause_symptom, topology, scope; new when none did).",
    ["policy"],
)
FLAPPING_DETECTED = Counter(
    "corral_alerts_flapping_detected_total", "Alerts that started flapping."
)
FLAPPING_ALERTS = Gauge("corral_alerts_flapping", "Alerts flapping now, on this worker.")
STATE_ALERTS = Gauge("corral_triage_state_alerts", "Alerts in this worker's triage state.")
STATE_INCIDENTS = Gauge(
    "corral_triage_state_incidents", "Incidents (open or recently resolved) in this worker's state."
)
STATE_EXPIRED = Counter(
    "corral_triage_state_expired_total",
    "Resolved alerts and incidents forgotten after the retention period.",
    ["kind"],
)
CLASSIFIER_INFERENCE_SECONDS = Histogram(
    "corral_classifier_inference_seconds",
    "Time to score one batch of alerts with the severity classifier.",
    buckets=LATENCY_BUCKETS,
)
CLASSIFIER_MODEL_LOADS = Counter(
    "corral_classifier_model_loads_total",
    "Attempts to load a changed severity model file, by result (loaded, failed).",
    ["result"],
)
CLASSIFIER_CACHE = Counter(
    "corral_classifier_verdicts_total",
    "Alert verdicts the scoring stage needed, by whether the cache had them (hit, miss).",
    ["cache"],
)
SCORING_DECISIONS = Counter(
    "corral_scoring_decisions_total",
    "Incident severities decided, by what decided (rule, label, classifier, default, noise).",
    ["source"],
)
