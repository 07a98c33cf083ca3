"""The ``corral`` subcommands that belong to notify."""

from __future__ import annotations

from services.notify.main import main
from shared.cli import Subcommands


def register(commands: Subcommands) -> None:
    commands.worker(
        "notify",
        main,
        "Run a notify worker (incidents to receivers).",
    )
