"""The ``ingest`` section of the configuration."""

from __future__ import annotations

from typing import Annotated, Self

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import AfterValidator, Field, model_validator

from shared.config import CommonConfig, StrictModel
from shared.durations import Duration
from shared.payloads import LabelName


def _compiles(expression: str) -> str:
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        problem = str(exc).splitlines()[0]
        raise ValueError(f"invalid JMESPath expression {expression!r}: {problem}") from None
    return expression


Expression = Annotated[str, AfterValidator(_compiles)]
"""A JMESPath expression (jmespath.org): ``monitor.name``, ``tags[0]``,
``join(',', tags)``, ``state == 'alerting'``, or a constant ``'text'``."""


class WebhookMapping(StrictModel):
    """A tool that can only send its own JSON: where its alerts are in the body,
    and what each field of an alert is, as JMESPath expressions evaluated on
    each alert. ``POST /api/v1/alerts/webhook/<name>``."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="The URL's last path segment."
    )
    alerts: Expression = Field(
        default="@", description="Where the alerts are: an object (one alert) or a list."
    )
    labels: dict[LabelName, Expression] = Field(
        min_length=1, description="Label name → expression; empty or null values are left out."
    )
    annotations: dict[str, Expression] = Field(default_factory=dict)
    """Annotation name → expression; empty or null values are left out."""
    resolved: Expression | None = Field(
        default=None,
        description="The alert is resolved when this is true (e.g. status == 'ok'); "
        "unset: every alert fires.",
    )
    starts_at: Expression | None = Field(
        default=None, description="RFC 3339 text or Unix seconds; unset: when it arrives."
    )
    ends_at: Expression | None = Field(
        default=None,
        description="When a firing alert ends unless sent again; unset: it fires until "
        "a resolve comes.",
    )
    generator_url: Expression | None = None
    """Link back to the alert in the tool; shown on notifications when http(s)."""


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
    """Labels on one alert."""
    max_label_name_length: int = Field(default=1024, ge=16, description="Characters.")
    max_label_value_length: int = Field(default=2048, ge=16, description="Characters.")
    max_annotations_per_alert: int = Field(default=64, ge=1)
    """Annotations on one alert."""
    max_annotation_value_length: int = Field(
        default=16 * 1024, ge=16, description="Characters of one annotation's text."
    )
    max_url_length: int = Field(
        default=8192, ge=64, description="generatorURL and externalURL, characters."
    )


class IngestSettings(StrictModel):
    """The HTTP receiver of alerts (docs/ingest.md)."""

    listen: str = Field(default="127.0.0.1:9095", pattern=r"^[^:]*:\d+$")
    """host:port of the HTTP listener (webhooks, /metrics, health); 0.0.0.0 for all interfaces."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest request body; larger ones get 413 before being read whole."""
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
    """Retry-After sent with a 503, so senders back off while the broker catches up."""
    key_labels: list[str] = Field(
        default_factory=lambda: ["cluster"],
        description="Labels whose values key alerts on corral.alerts (see docs/architecture.md).",
    )
    webhooks: list[WebhookMapping] = Field(
        default_factory=list,
        description="Generic JSON webhooks: each tool's own JSON mapped to alerts.",
    )

    @model_validator(mode="after")
    def _unique_webhooks(self) -> Self:
        names = [w.name for w in self.webhooks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"webhook names must be unique: {duplicates}")
        return self


class IngestConfig(CommonConfig):
    ingest: IngestSettings = IngestSettings()
