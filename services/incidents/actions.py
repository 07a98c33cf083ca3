"""Publishing an action: the one path for the API, the CLI, Slack and PagerDuty.

An action is checked against the incident's state in the store (404, 409),
published to ``corral.actions`` and acknowledged by the broker before anyone
hears it was taken; then, for a short while, the caller waits for the store
to show it, so that reading the incident right after acting shows the act.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError

from services.incidents.feed import ChangeFeed
from services.incidents.lifecycle import refusal
from services.incidents.metrics import ACTIONS
from services.incidents.store import IncidentStore
from services.incidents.times import now_ms
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.messages import Action, ActionKind, ActionSource


class NotFound(Exception):
    pass


class Conflict(Exception):
    def __init__(self, reason: str, state: str):
        super().__init__(reason)
        self.state = state


class Unavailable(Exception):
    pass


@dataclass(frozen=True)
class Taken:
    action: Action
    applied: bool
    """Whether the store showed it before the answer (else it is on its way)."""
    repeated: bool = False
    """The same action_id was taken before: nothing was published again."""


class ActionGateway:
    def __init__(self, store: IncidentStore, feed: ChangeFeed, topic: str, wait: float):
        self.store = store
        self.feed = feed
        self.topic = topic
        self.wait = wait
        self.publisher: Publisher | None = None

    async def take(
        self,
        incident_id: str,
        kind: ActionKind,
        actor: str,
        source: ActionSource,
        action_id: str | None = None,
        at: datetime | None = None,
        wait: bool = True,
        **fields: Any,
    ) -> Taken:
        """Publish one action; raises NotFound, Conflict, Unavailable, or
        pydantic's ValidationError for fields that do not fit the kind."""
        stored = await self.store.get(incident_id, with_events=False)
        if stored is None:
            raise NotFound(f"no incident {incident_id!r}")
        action = Action(
            action_id=action_id or uuid.uuid4().hex,
            incident_id=incident_id,
            kind=kind,
            actor=actor,
            at=at or datetime.now(UTC),
            source=source,
            **fields,
        )
        if action_id is not None and await self.store.action_recorded(incident_id, action_id):
            return Taken(action, applied=True, repeated=True)
        reason = refusal(kind, stored.lifecycle, now_ms())
        if reason is not None:
            raise Conflict(reason, stored.lifecycle.effective_state(now_ms()).value)
        if self.publisher is None:
            raise Unavailable("not connected to Kafka yet; retry later")
        waiter = self.feed.expect(action.action_id)
        try:
            await self.publisher.publish([Record(self.topic, incident_id, action)])
        except (PublishError, KafkaError) as exc:
            await self.feed.wait(action.action_id, waiter, 0)
            raise Unavailable(f"the broker did not take the action: {exc}; retry later") from exc
        ACTIONS.labels(kind.value, source.value).inc()
        change = await self.feed.wait(action.action_id, waiter, self.wait if wait else 0)
        return Taken(action, applied=change is not None)
