"""The documented JSON body Corral's webhook receiver posts (see docs/notify.md).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``.
"""

from __future__ import annotations

import json

from shared.messages import Incident

WEBHOOK_VERSION = "1"
_NOT_IN_BODY = {"schema_version", "received_at"}


def incident_body(incident: Incident, receiver: str, repeat: bool = False) -> bytes:
    """The envelope's fields, then the incident's own.

    The incident is serialized by pydantic straight to JSON bytes and spliced
    in after the envelope: for an incident listing 100 alerts that is three
    times faster than dumping it to a dict and through ``json.dumps``, and
    staying in bytes spares two copies of a text that is UCS-2 as soon as a
    title holds a non-ASCII character (another half of the cost).
    """
    envelope = json.dumps({"version": WEBHOOK_VERSION, "receiver": receiver, "repeat": repeat})
    fields = Incident.__pydantic_serializer__.to_json(incident, exclude=_NOT_IN_BODY)
    return b"%s,%s" % (envelope[:-1].encode(), fields[1:])
