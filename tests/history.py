"""Small hand-made histories, written as a team would record them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from services.corral.cli import main
from tests.alertmanager import am_alert, webhook

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class Recording:
    """Webhooks captured in front of Alertmanager: ``{"received_at", "payload"}`` lines."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def fire(self, at: float, *alerts: dict[str, str], status: str = "firing") -> Recording:
        """One webhook ``at`` seconds after T0 with these alerts."""
        body = [am_alert(labels, status=status, starts_at=stamp(at)) for labels in alerts]
        if status == "resolved":
            for alert in body:
                alert["endsAt"] = stamp(at)
        self.lines.append({"received_at": stamp(at), "payload": webhook(body)})
        return self

    def resolve(self, at: float, *alerts: dict[str, str]) -> Recording:
        return self.fire(at, *alerts, status="resolved")

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines))
        return path


def corral(*args: str) -> int | str | None:
    """``corral ARGS`` in-process; its exit code. The command sets up logging
    for a terminal (to standard error); the test process gets its own back."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        main(list(args))
    except SystemExit as done:
        return done.code
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
    return 0
