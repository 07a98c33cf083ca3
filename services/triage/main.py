"""``corral triage``: run one triage worker; start more to share the partitions."""

from __future__ import annotations

from services.triage.config import TriageConfig
from services.triage.worker import TriageWorker
from shared.config import load_config
from shared.logging import configure_logging
from shared.service import run, serve
from shared.web.guard import WebSecurity
from shared.web.openapi import document, openapi_route

# Triage serves health, metrics and nothing that takes a body.
MAX_BODY_BYTES = 1024


def main(config_path: str | None) -> None:
    config = load_config(TriageConfig, config_path)
    configure_logging(config.log.level, "triage")
    security = WebSecurity.load(config.web.config_file)
    app = security.application({}, MAX_BODY_BYTES, "(triage takes no request bodies)")
    app.add_routes([openapi_route(document("Corral triage", []))])
    run(serve(TriageWorker(config), app, config.triage.listen, security))
