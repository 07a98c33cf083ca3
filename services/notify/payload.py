"""The documented JSON body Corral's webhook receiver posts (see docs/notify.md).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``. ``changes`` (what changed since the receiver's previous
notification, ``services.notify.changes``) has a version of its own.
"""

from __future__ import annotations

from typing import Any

from services.notify.changes import Changes
from shared.codec import prepend_fields
from shared.messages import Incident, NotificationKind

WEBHOOK_VERSION = "1"
_NOT_IN_BODY = {"schema_version", "received_at"}


def incident_body(
    incident: Incident,
    receiver: str,
    repeat: bool = False,
    changes: Changes | None = None,
    notification: NotificationKind = NotificationKind.TRIGGER,
    step: int | None = None,
) -> bytes:
    """The envelope's fields, then the incident's own, which pydantic writes
    straight to bytes (no dict, no ``json.dumps``, no text copy)."""
    fields = Incident.__pydantic_serializer__.to_json(incident, exclude=_NOT_IN_BODY)
    envelope: dict[str, Any] = {
        "version": WEBHOOK_VERSION,
        "receiver": receiver,
        "repeat": repeat,
        "notification": notification.value,
        "escalation_step": step,
        "changes": None if changes is None else changes.body(),
    }
    return prepend_fields(envelope, fields)
