"""The ``corral`` subcommands that belong to ingest."""

from __future__ import annotations

from shared.cli import Subcommands


def register(commands: Subcommands) -> None:
    commands.worker(
        "ingest",
        "services.ingest.main:main",
        "Run the ingest worker (HTTP API to Kafka).",
    )
