"""The whole configuration file, every section validated strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import ConfigDict, model_validator

from services.incidents.config import IncidentsSettings
from services.ingest.config import IngestSettings
from services.notify.config import NotifySettings
from services.triage.config import TriageSettings
from shared.config import CommonConfig, load_config


class CorralConfig(CommonConfig):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ingest: IngestSettings = IngestSettings()
    triage: TriageSettings = TriageSettings()
    notify: NotifySettings = NotifySettings()
    incidents: IncidentsSettings = IncidentsSettings()

    @model_validator(mode="after")
    def _sent_log_outlives_reopening(self) -> Self:
        # A reopened incident's receivers must still be known to notify.
        if self.notify.retention < self.triage.lifecycle.reopen_window:
            raise ValueError("notify.retention must be at least triage.lifecycle.reopen_window")
        return self


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> CorralConfig:
    return load_config(CorralConfig, path, env)
