"""The whole configuration file, every section validated strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ConfigDict

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


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> CorralConfig:
    return load_config(CorralConfig, path, env)
