"""PagerDuty v3 webhook subscriptions, turned into actions.

PagerDuty signs the raw body with the subscription's secret
(``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>``, several comma-separated
while a secret rotates). ``incident.acknowledged``, ``incident.resolved``
and ``incident.unacknowledged`` become actions on the Corral incident whose
id notify sent as the Events API ``dedup_key``, which PagerDuty returns as
``incident_key``. An action is stamped with the time Corral took it, not
PagerDuty's ``occurred_at``: one clock orders every action on an incident.
Everything else a verified PagerDuty sends is answered 200
and ignored, so PagerDuty does not retry it: other event types, incidents
Corral did not page about, and changes Corral already knows (the echo of an
acknowledgement Corral itself sent).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.incidents.actions import ActionGateway, Conflict, NotFound, Unavailable
from services.incidents.config import PagerDutyInbound
from services.incidents.metrics import INBOUND
from shared.messages import ActionKind, ActionSource
from shared.web.errors import error_response

log = structlog.get_logger(__name__)

PAGERDUTY_PATH = "/api/v1/integrations/pagerduty"

EVENTS = {
    "incident.acknowledged": ActionKind.ACKNOWLEDGE,
    "incident.resolved": ActionKind.RESOLVE,
    "incident.unacknowledged": ActionKind.UNACKNOWLEDGE,
}


def signed(secret: str, body: bytes, header: str) -> bool:
    """Whether any ``v1=`` signature in the header is the body's, compared in constant time."""
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(
        hmac.compare_digest(expected.encode(), candidate.strip().encode())
        for candidate in header.split(",")
    )


class _Reference(BaseModel):
    id: str | None = None
    summary: str | None = None


class _Data(BaseModel):
    id: str | None = None
    incident_key: str | None = None


class _Event(BaseModel):
    id: str
    event_type: str
    occurred_at: datetime
    agent: _Reference | None = None
    data: _Data | None = None


class _Payload(BaseModel):
    event: _Event


class PagerDutyWebhook:
    def __init__(self, settings: PagerDutyInbound, gateway: ActionGateway):
        self.secret = settings.secret()
        self.gateway = gateway

    def route(self) -> web.RouteDef:
        return web.post(PAGERDUTY_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if self.secret is None:
            return error_response(
                404, "PagerDuty webhooks are off: set incidents.pagerduty.webhook_secret"
            )
        body = await request.read()
        header = request.headers.get("X-PagerDuty-Signature")
        if not header:
            INBOUND.labels("pagerduty", "refused").inc()
            return error_response(400, "X-PagerDuty-Signature missing", "X-PagerDuty-Signature")
        if not signed(self.secret(), body, header):
            INBOUND.labels("pagerduty", "refused").inc()
            log.warning("PagerDuty webhook with a wrong signature", remote=request.remote)
            return error_response(403, "signature does not match", "X-PagerDuty-Signature")
        try:
            event = _Payload.model_validate_json(body).event
        except ValidationError as exc:
            INBOUND.labels("pagerduty", "refused").inc()
            return error_response(400, f"not a v3 webhook: {exc.errors()[0]['msg']}", "event")
        kind = EVENTS.get(event.event_type)
        key = event.data.incident_key if event.data else None
        if kind is None or not key:
            return self._ignored(f"{event.event_type} is not an event Corral acts on")
        actor = (event.agent.summary or event.agent.id) if event.agent else None
        try:
            taken = await self.gateway.take(
                key,
                kind,
                actor or "PagerDuty",
                ActionSource.PAGERDUTY,
                action_id=f"pagerduty-{event.id}",
                wait=False,
            )
        except NotFound:
            return self._ignored(f"no Corral incident {key!r}")
        except Conflict as exc:
            return self._ignored(str(exc))
        except Unavailable as exc:
            return error_response(503, str(exc), headers={"Retry-After": "5"})
        INBOUND.labels("pagerduty", "action").inc()
        log.info("PagerDuty action", incident=key, kind=kind.value, actor=taken.action.actor)
        return web.json_response({"status": "success", "action_id": taken.action.action_id})

    @staticmethod
    def _ignored(reason: str) -> web.Response:
        INBOUND.labels("pagerduty", "ignored").inc()
        body: dict[str, Any] = {"status": "ignored", "reason": reason}
        return web.json_response(body)
