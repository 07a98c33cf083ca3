"""The normalized alert that ingest publishes to ``corral.alerts``."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.base import Message


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

    source: str = Field(description="Endpoint it came from: alertmanager or prometheus.")
    received_at: datetime
    group_key: str | None = Field(default=None, description="Alertmanager groupKey, if any.")
    receiver: str | None = Field(default=None, description="Alertmanager receiver, if any.")
    external_url: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")
