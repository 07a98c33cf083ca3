"""``corral ingest``: run the ingest worker alone."""

from __future__ import annotations

from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from shared.config import load_config
from shared.logging import configure_logging
from shared.service import run, serve
from shared.web.guard import WebSecurity


def main(config_path: str | None) -> None:
    config = load_config(IngestConfig, config_path)
    configure_logging(config.log.level, "ingest")
    security = WebSecurity.load(config.web.config_file)
    worker = IngestWorker(config)
    run(serve(worker, worker.app(security), config.ingest.listen, security))
