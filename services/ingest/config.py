"""The ``ingest`` section of the configuration."""

from __future__ import annotations

from pydantic import Field

from shared.config import CommonConfig, StrictModel
from shared.durations import Duration


class IngestSettings(StrictModel):
    listen: str = Field(default="127.0.0.1:9095", pattern=r"^[^:]*:\d+$")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
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
