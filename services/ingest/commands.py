"""The ``corral`` subcommands that belong to ingest."""

from __future__ import annotations

from services.ingest.main import main
from shared.cli import Subcommands


def register(commands: Subcommands) -> None:
    commands.worker(
        "ingest",
        main,
        "Run the ingest worker (HTTP API to Kafka).",
    )
