"""What notify records on ``corral.notify.sent``: each receiver's delivery state."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.messages.base import Message
from shared.messages.encoding import Encodings, with_last
from shared.messages.incident import Incident


class SentNotification(Message):
    """Where delivery of one incident to one receiver integration stands.

    Keyed ``incident/receiver/integration`` on a compacted topic, this is
    notify's memory and its outbox: ``revision``/``status`` say what the
    receiver took, ``incident`` is the newest revision routed to it and
    ``due_at`` when that is to be delivered (after ``group_wait``, when a
    silence ends, at the next ``repeat_interval``). A record is written and
    acknowledged before the incident offset that caused it is committed, so
    obligations survive a crash; ``attempting`` is written before a send and
    cleared after it, so a restart knows a delivery may have reached the
    receiver and repeats it with the same idempotency key.

    Version 2 added everything after ``sent_at``; version 1 records read as
    delivered revisions with nothing pending.
    """

    SCHEMA_VERSION = 2
    schema_version: int = Field(default=2, le=2)

    incident_id: str
    receiver: str
    integration: str
    revision: int = Field(default=0, description="Newest revision delivered; 0 for none.")
    status: str = Field(default="", description="Status of that revision.")
    sent_at: datetime | None = None
    incident: Incident | None = Field(default=None, description="Newest revision routed here.")
    due_at: datetime | None = None
    attempting: int = Field(default=0, description="Revision being sent; 0 when none.")
    failed: int = Field(default=0, description="Newest revision dead-lettered; 0 for none.")
    silenced_by: str | None = Field(default=None, description="Silence holding it back.")

    def to_bytes(self) -> bytes:
        if self.incident is None:
            return super().to_bytes()
        # The incident is nearly all of the record, and the same (frozen)
        # object in the admission, intent and outcome records of every
        # receiver it was routed to: encode it once, not at each write.
        return with_last(self, "incident", _RECENT.of(self.incident))

    @property
    def had_trigger(self) -> bool:
        """Whether the receiver may hold an open notification to resolve."""
        return self.status in ("firing", "acknowledged") or self.attempting > 0


# The incidents notify read last, with the records they were read from.
_RECENT: Encodings[Incident] = Encodings(64, Incident.to_bytes)


def remember_encoding(incident: Incident, data: bytes) -> None:
    """``data`` is the record ``incident`` was read from: the sent log reuses
    it instead of encoding the incident again."""
    _RECENT.remember(incident, data)
