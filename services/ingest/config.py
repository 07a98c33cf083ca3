"""The ``ingest`` section of the configuration."""

from __future__ import annotations

from pydantic import Field

from shared.config import CommonConfig, StrictModel
from shared.durations import Duration


class IngestLimits(StrictModel):
    """Bounds on what one request may carry; over one, the request is refused
    (413 for the alert count, 422 naming the field otherwise) and nothing of it
    is published. The defaults sit well above what Prometheus and Alertmanager
    send and close to the per-series limits of Prometheus-compatible stores."""

    max_alerts_per_request: int = Field(
        default=10_000,
        ge=1,
        description="Alerts in one webhook or /api/v2/alerts body (Prometheus sends 64 at most).",
    )
    max_labels_per_alert: int = Field(default=64, ge=1)
    max_label_name_length: int = Field(default=1024, ge=16, description="Characters.")
    max_label_value_length: int = Field(default=2048, ge=16, description="Characters.")
    max_annotations_per_alert: int = Field(default=64, ge=1)
    max_annotation_value_length: int = Field(
        default=16 * 1024, ge=16, description="Characters of one annotation's text."
    )
    max_url_length: int = Field(
        default=8192, ge=64, description="generatorURL and externalURL, characters."
    )


class IngestSettings(StrictModel):
    listen: str = Field(default="127.0.0.1:9095", pattern=r"^[^:]*:\d+$")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    limits: IngestLimits = IngestLimits()
    publish_timeout: Duration = Field(
        default="5s",
        validate_default=True,
        description="How long a request waits for the broker before answering 503.",
    )
    max_inflight_alerts: int = Field(
        default=50_000,
        ge=1,
        description="Alerts awaiting broker acknowledgement before new requests get 503.",
    )
    retry_after: Duration = Field(default="5s", validate_default=True)
    key_labels: list[str] = Field(
        default_factory=lambda: ["cluster"],
        description="Labels whose values key alerts on corral.alerts (see docs/architecture.md).",
    )


class IngestConfig(CommonConfig):
    ingest: IngestSettings = IngestSettings()
