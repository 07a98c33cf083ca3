"""The ``corral`` subcommands that belong to triage."""

from __future__ import annotations

from services.triage.main import main
from shared.cli import Subcommands


def register(commands: Subcommands) -> None:
    commands.worker(
        "triage",
        main,
        "Run a triage worker (alerts to incidents); start more to share the partitions.",
    )
