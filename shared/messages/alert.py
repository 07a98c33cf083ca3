"""The normalized alert that ingest publishes to ``corral.alerts``."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.base import Message

SOURCE_ALERTMANAGER = "alertmanager"
SOURCE_PROMETHEUS = "prometheus"
SOURCE_GRAFANA = "grafana"
SOURCE_WEBHOOK = "webhook/"
"""Prefix: ``webhook/<name>`` is the generic JSON webhook ``ingest.webhooks`` names."""


def sends_resolves(source: str) -> bool:
    """Whether a source notifies: it sends each resolve itself and re-sends a
    firing alert only now and then (Alertmanager, Grafana, JSON webhooks), so
    a firing alert from it without an end time fires until that resolve. The
    others (Prometheus) push state on and on, and an alert they stop sending ends."""
    return source in (SOURCE_ALERTMANAGER, SOURCE_GRAFANA) or source.startswith(SOURCE_WEBHOOK)


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertContent(BaseModel):
    """What an alert says, as Alertmanager shows it: carried by the alert on
    ``corral.alerts`` and by each member an incident lists."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""


class Alert(AlertContent, Message):
    """One alert as Corral sees it, whatever endpoint it arrived on.

    ``fingerprint`` is Alertmanager's when the sender gave one, otherwise the
    same FNV-1a hash of the label set (see ``shared.fingerprint``).
    ``received_at`` is set by ingest and is the clock triage's time windows
    run on, so a replay of the topic reproduces the same incidents.
    """

    source: str = Field(
        description="Endpoint it came from: alertmanager, prometheus, grafana or "
        "webhook/<name> (a generic JSON webhook)."
    )
    received_at: datetime
    group_key: str | None = Field(default=None, description="Alertmanager groupKey, if any.")
    receiver: str | None = Field(default=None, description="Alertmanager receiver, if any.")
    external_url: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")
