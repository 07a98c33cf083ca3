"""``corral triage``: run one triage worker; start more to share the partitions."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.triage.config import TriageConfig
from services.triage.worker import TriageWorker
from shared.config import load_config
from shared.logging import configure_logging
from shared.service import serve


def main(config_path: str | None) -> None:
    config = load_config(TriageConfig, config_path)
    configure_logging(config.log.level, "triage")
    asyncio.run(serve(TriageWorker(config), web.Application(), config.triage.listen))
