"""``corral incidents``: run one incidents worker (store, API, inbound integrations)."""

from __future__ import annotations

from services.incidents.config import IncidentsConfig
from services.incidents.worker import IncidentsWorker
from shared.config import load_config
from shared.logging import configure_logging
from shared.service import run, serve
from shared.web.guard import WebSecurity


def main(config_path: str | None) -> None:
    config = load_config(IncidentsConfig, config_path)
    configure_logging(config.log.level, "incidents")
    security = WebSecurity.load(config.web.config_file)
    worker = IncidentsWorker(config)
    run(serve(worker, worker.app(security), config.incidents.listen, security))
