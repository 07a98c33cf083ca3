"""One sent-log entry: where delivery of one incident to one receiver integration stands.

Only notify reads these records (on the compacted ``corral.notify.sent``,
partition N for the incidents of partition N), so the model lives here, not
among the contracts in ``shared.messages``. ``transitions`` is the only code
that makes a changed entry.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from services.notify.changes import Shown
from services.notify.escalation import Clock
from shared.messages import Incident, Message


class EntryKey(NamedTuple):
    """Where an entry lives: its partition (its incident's) and its changelog key."""

    partition: int
    key: str

    @classmethod
    def of(cls, partition: int, incident_id: str, receiver: str, integration: str) -> EntryKey:
        return cls(partition, f"{incident_id}/{receiver}/{integration}")


class Phase(enum.StrEnum):
    """What an entry waits for; derived from its fields, never stored."""

    IDLE = "idle"  # nothing due: delivered (or given up) and not repeating
    DUE = "due"  # a delivery is due at ``due_at`` (group_wait, repeat, retry)
    MUTED = "muted"  # a silence holds it back until ``due_at``, the silence's end
    SENDING = "sending"  # an intent is recorded: the receiver may already have it


class Response(BaseModel):
    """What people did about the incident, as notify heard it on ``corral.actions``.

    Every entry of an incident keeps a copy, changed together. ``action_id``
    and ``action_at`` are the last action applied, so a redelivered action
    changes nothing. ``quiet`` lists the alerts firing when a person resolved
    the incident: their firing is not news until a reopen, another alert's is.
    """

    model_config = ConfigDict(frozen=True)

    state: str = Field(default="firing", description="firing, acknowledged or resolved.")
    actor: str | None = None
    source: str | None = None
    at: datetime | None = None
    until: datetime | None = Field(default=None, description="A snooze's end.")
    action_id: str | None = None
    action_at: datetime | None = None
    quiet: list[str] = Field(default_factory=list)

    def state_at(self, now: datetime) -> str:
        """A snooze ends by itself."""
        if self.state == "acknowledged" and self.until is not None and now >= self.until:
            return "firing"
        return self.state


class SentLogEntry(Message):
    """Keyed ``incident/receiver/integration``: notify's memory and its outbox.

    ``revision``/``status`` say what the receiver took, ``incident`` is the
    newest revision routed to it (by the route at ``route``) and ``due_at``
    when that is to be delivered (after ``group_wait``, when a silence ends,
    at the next ``repeat_interval``). An entry is written and acknowledged
    before the incident offset that caused it is committed, so obligations
    survive a crash; ``attempting`` is written before a send and cleared
    after it, so a restart knows a delivery may have reached the receiver
    and repeats it with the same idempotency key.

    ``shown`` is what the receiver was last told (for the changes the next
    notification lists) and ``notifications`` how many it got since the
    incident opened or reopened. ``response`` is what people did (actions),
    ``told`` what this receiver was last told of it (services with
    acknowledgements), ``clock`` and ``step`` the escalation and this
    receiver's next occurrence in it, ``reference`` the service's handle on
    the message it shows (a Slack message to update).

    Version 2 added everything from ``due_at`` to ``route``, version 3 the
    rest; version 1 records read as delivered revisions with nothing pending.
    Version 4 records leave ``incident`` out and name it by ``holds``: the
    revision is a record of its own in the sent log (``sentlog``), written
    once however many entries hold it.
    """

    SCHEMA_VERSION = 4
    schema_version: int = Field(default=4, le=4)

    incident_id: str
    receiver: str
    integration: str
    revision: int = Field(default=0, description="Newest revision delivered; 0 for none.")
    status: str = Field(
        default="", description="What the receiver holds: firing, resolved or acknowledged."
    )
    sent_at: datetime | None = None
    due_at: datetime | None = None
    attempting: int = Field(default=0, description="Revision being sent; 0 when none.")
    failed: int = Field(default=0, description="Newest revision dead-lettered; 0 for none.")
    failed_at: datetime | None = None
    skipped: int = Field(default=0, description="Newest revision not sent as nobody needs it.")
    silenced_by: str | None = Field(default=None, description="Silence holding it back.")
    route: str | None = Field(
        default=None, description="Path of the route that admitted it (``route.routes[0]``)."
    )
    shown: Shown | None = Field(default=None, description="What the receiver was last told.")
    notifications: int = Field(default=0, description="Sent since the incident (re)opened.")
    response: Response | None = None
    told: str | None = Field(
        default=None, description="The response state this receiver was told last."
    )
    clock: Clock | None = Field(default=None, description="The incident's escalation clock.")
    step: int | None = Field(
        default=None, description="This receiver's next occurrence in the escalation."
    )
    reference: str | None = Field(
        default=None, description="The service's id of the message it shows (Slack: channel/ts)."
    )
    incident: Incident | None = Field(default=None, description="Newest revision routed here.")
    holds: int = Field(
        default=0,
        description="In a record: the revision of ``incident``, whose record is the sent "
        "log's ``revision_key``; 0 in memory and in records that carry ``incident``.",
    )

    @property
    def had_trigger(self) -> bool:
        """Whether the receiver may hold an open notification to resolve."""
        return self.status in ("firing", "acknowledged") or self.attempting > 0

    @property
    def phase(self) -> Phase:
        if self.silenced_by and self.due_at is not None:
            return Phase.MUTED  # even with an intent a stopped worker left behind
        if self.attempting:
            return Phase.SENDING
        return Phase.IDLE if self.due_at is None else Phase.DUE
