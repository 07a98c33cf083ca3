"""The documented JSON body Corral's webhook receiver posts (see docs/notify.md).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``.
"""

from __future__ import annotations

from shared.codec import prepend_fields
from shared.messages import Incident

WEBHOOK_VERSION = "1"
_NOT_IN_BODY = {"schema_version", "received_at"}


def incident_body(incident: Incident, receiver: str, repeat: bool = False) -> bytes:
    """The envelope's fields, then the incident's own, which pydantic writes
    straight to bytes (no dict, no ``json.dumps``, no text copy)."""
    fields = Incident.__pydantic_serializer__.to_json(incident, exclude=_NOT_IN_BODY)
    envelope = {"version": WEBHOOK_VERSION, "receiver": receiver, "repeat": repeat}
    return prepend_fields(envelope, fields)
