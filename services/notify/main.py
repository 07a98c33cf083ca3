"""``corral notify``: run one notify worker."""

from __future__ import annotations

from services.notify.config import NotifyConfig
from services.notify.worker import NotifyWorker
from shared.config import load_config
from shared.logging import configure_logging
from shared.service import run, serve
from shared.web.guard import WebSecurity


def main(config_path: str | None) -> None:
    config = load_config(NotifyConfig, config_path)
    configure_logging(config.log.level, "notify")
    security = WebSecurity.load(config.web.config_file)
    worker = NotifyWorker(config)
    run(serve(worker, worker.app(security), config.notify.listen, security))
