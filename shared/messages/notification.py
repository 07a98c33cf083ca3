"""What notify records on ``corral.notify.sent`` after a receiver took a notification."""

from __future__ import annotations

from datetime import datetime

from shared.messages.base import Message


class SentNotification(Message):
    """The latest revision of an incident that one receiver integration got.

    Keyed ``incident/receiver/integration`` on a compacted topic, this is
    notify's memory of what it already sent: a redelivered incident revision
    whose record exists is not sent again, across restarts too.
    """

    incident_id: str
    receiver: str
    integration: str
    revision: int
    status: str
    sent_at: datetime
