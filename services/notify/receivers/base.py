"""What every receiver integration implements, and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.messages import Incident
from shared.secrets import redact


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
    repeat; receivers that deduplicate on a key get it.
    """

    incident: Incident
    receiver: str
    idempotency_key: str
    repeat: bool = False
    acknowledge: bool = False


class Integration(Protocol):
    name: str
    send_resolved: bool
    acknowledges: bool
    """Whether the service has acknowledgements (a silence on a paged incident sends one)."""

    async def notify(self, delivery: Delivery) -> None:
        """Deliver, or raise DeliveryError."""
