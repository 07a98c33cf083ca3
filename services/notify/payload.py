"""The documented JSON body Corral's webhook receiver posts (see README).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``.
"""

from __future__ import annotations

from typing import Any

from shared.messages import Incident

WEBHOOK_VERSION = "1"


def incident_body(incident: Incident, receiver: str, repeat: bool = False) -> dict[str, Any]:
    return {
        "version": WEBHOOK_VERSION,
        "receiver": receiver,
        "repeat": repeat,
        **incident.model_dump(
            mode="json",
            exclude={"schema_version", "received_at"},
        ),
    }
