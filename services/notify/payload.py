"""The documented JSON body Corral's webhook receiver posts (see docs/notify.md).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``. ``changes`` (what changed since the receiver's previous
notification, ``services.notify.changes``) has a version of its own.
"""

from __future__ import annotations

from typing import Any

from services.notify.changes import Changes
from shared.codec import EncodingCache, prepend_fields
from shared.messages import Incident, NotificationKind

WEBHOOK_VERSION = "1"
_NOT_IN_BODY = {"schema_version", "received_at"}
RECENT_REVISIONS = 64
"""Revisions whose fields the webhook integrations keep encoded: about those
delivered at once."""


def incident_fields(incident: Incident) -> bytes:
    """The incident's part of the body, which pydantic writes straight to
    bytes (no dict, no ``json.dumps``, no text copy)."""
    return Incident.__pydantic_serializer__.to_json(incident, exclude=_NOT_IN_BODY)


def body_fields() -> EncodingCache[Incident]:
    """For the webhook integrations to share: a revision's part of the body
    is encoded once, however many of them it goes to."""
    return EncodingCache(RECENT_REVISIONS, incident_fields)


def incident_body(
    incident: Incident,
    receiver: str,
    repeat: bool = False,
    changes: Changes | None = None,
    notification: NotificationKind = NotificationKind.TRIGGER,
    step: int | None = None,
    fields: EncodingCache[Incident] | None = None,
) -> bytes:
    """The envelope's fields, then the incident's own (through ``fields``, if given)."""
    encoded = incident_fields(incident) if fields is None else fields.of(incident)
    envelope: dict[str, Any] = {
        "version": WEBHOOK_VERSION,
        "receiver": receiver,
        "repeat": repeat,
        "notification": notification.value,
        "escalation_step": step,
        "changes": None if changes is None else changes.body(),
    }
    return prepend_fields(envelope, encoded)
