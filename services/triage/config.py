"""The ``triage`` section of the configuration."""

from __future__ import annotations

from pydantic import Field

from services.triage.scoring.settings import ScoringSettings
from shared.config import CommonConfig, StrictModel
from shared.durations import Duration


class TriageSettings(StrictModel):
    listen: str = Field(default="127.0.0.1:9096", pattern=r"^[^:]*:\d+$")
    group_id: str = "corral-triage"
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "cluster", "namespace", "service"],
        description="Alerts with equal values of these labels join one incident.",
    )
    group_window: Duration = Field(
        default="5m",
        validate_default=True,
        description="How long after an incident's last alert a new one may still join it.",
    )
    scoring: ScoringSettings = ScoringSettings()


class TriageConfig(CommonConfig):
    triage: TriageSettings = TriageSettings()
