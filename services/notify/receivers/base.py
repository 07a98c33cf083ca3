"""What every receiver integration implements, and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from shared.messages import Incident, NotificationKind, Silence
from shared.secrets import redact

if TYPE_CHECKING:
    from services.notify.changes import Changes
    from services.notify.entry import Response


class DeliveryError(Exception):
    """A notification the receiver did not take.

    ``retryable`` says whether trying again can help (5xx, timeouts, refused
    connections) or not (4xx: the request itself is wrong). ``retry_after``
    is the receiver's own wish, from a Retry-After header. The message is
    redacted (secrets, URL paths), since it goes to logs and dead letters.
    """

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(redact(message))
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    """One notification as an integration sends it.

    ``idempotency_key`` is the same for every attempt at this notification,
    across retries and restarts, and differs for each real change and each
    repeat; receivers that deduplicate on a key get it. ``kind`` says what it
    is: a change of the incident (``trigger``, ``resolve``), a ``repeat``, or
    what people did (``acknowledge``, ``unacknowledge``, and ``resolve`` with
    ``response`` set); ``changes`` what changed since the receiver's last
    one (None for its first); ``reference`` the service's id of the message
    that shows the incident, as the integration returned it before.
    """

    incident: Incident
    receiver: str
    idempotency_key: str
    kind: NotificationKind = NotificationKind.TRIGGER
    changes: Changes | None = None
    response: Response | None = None
    reference: str | None = None
    step: int | None = None
    silence: Silence | None = None

    @property
    def repeat(self) -> bool:
        return self.kind == NotificationKind.REPEAT

    @property
    def acknowledge(self) -> bool:
        return self.kind == NotificationKind.ACKNOWLEDGE

    @property
    def acknowledged_by(self) -> str | None:
        """Who is on it, for the text: the person who acknowledged (while a
        snooze lasts), or the creator of the silence that acknowledges it."""
        if self.silence is not None:
            return self.silence.created_by
        response = self.response
        if response is not None and response.state_at(datetime.now(UTC)) == "acknowledged":
            return response.actor
        return None


class Integration(Protocol):
    name: str
    send_resolved: bool
    acknowledges: bool
    """Whether the service has acknowledgements (a silence on a paged incident sends one)."""

    async def notify(self, delivery: Delivery) -> str | None:
        """Deliver, or raise DeliveryError. What it returns is the service's id
        of the message it shows (``Delivery.reference`` next time), if any."""
