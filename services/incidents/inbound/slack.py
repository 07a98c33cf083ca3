"""Slack interactivity: the Acknowledge and Resolve buttons on notify's messages.

Slack posts a click form-encoded (``payload=<JSON>``) and signs
``v0:<timestamp>:<body>`` with the app's signing secret
(``X-Slack-Signature: v0=<hex HMAC-SHA256>``, ``X-Slack-Request-Timestamp``);
a request older or newer than five minutes is refused, so a captured one
cannot be replayed. A click becomes an action by the Slack user; Slack needs
an answer within three seconds, so this answers once the broker took the
action, without waiting for the store. When the click changes nothing
(already acknowledged, resolved) the clicker gets a reply only they see,
through the click's ``response_url``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.incidents.actions import ActionGateway, Conflict, NotFound, Unavailable
from services.incidents.config import SlackInbound
from services.incidents.metrics import INBOUND
from shared.interactivity import SLACK_BUTTONS
from shared.messages import ActionSource
from shared.web.errors import error_response

log = structlog.get_logger(__name__)

SLACK_PATH = "/api/v1/integrations/slack/interactivity"
REPLAY_WINDOW_SECONDS = 300


def signed(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


class _User(BaseModel):
    id: str
    username: str | None = None
    name: str | None = None


class _Button(BaseModel):
    action_id: str
    value: str | None = None
    action_ts: str | None = None


class _Payload(BaseModel):
    type: str
    user: _User | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    actions: list[_Button] = []


class SlackInteractivity:
    def __init__(self, settings: SlackInbound, gateway: ActionGateway):
        self.secret = settings.secret()
        self.reply_prefix = settings.response_url_prefix
        self.gateway = gateway
        self.session: aiohttp.ClientSession | None = None
        self._replies: set[asyncio.Task[None]] = set()

    def route(self) -> web.RouteDef:
        return web.post(SLACK_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        if self.secret is None:
            return error_response(
                404, "Slack interactivity is off: set incidents.slack.signing_secret"
            )
        body = await request.read()
        refusal = self._verify(request, body)
        if refusal is not None:
            INBOUND.labels("slack", "refused").inc()
            log.warning("Slack request refused", reason=refusal, remote=request.remote)
            return error_response(401, refusal, "X-Slack-Signature")
        try:
            [raw] = parse_qs(body.decode(), strict_parsing=True)["payload"]
            payload = _Payload.model_validate_json(raw)
        except (KeyError, ValueError, ValidationError):
            INBOUND.labels("slack", "refused").inc()
            return error_response(400, "expected a form field payload with Slack's JSON", "payload")
        if payload.type != "block_actions" or payload.user is None:
            return web.Response(status=200)
        actor = payload.user.username or payload.user.name or payload.user.id
        for button in payload.actions:
            kind = SLACK_BUTTONS.get(button.action_id)
            if kind is None or not button.value:
                continue
            click = payload.trigger_id or f"{payload.user.id}-{button.action_ts}"
            try:
                await self.gateway.take(
                    button.value,
                    kind,
                    actor,
                    ActionSource.SLACK,
                    action_id=f"slack-{click}-{button.action_id}",
                    wait=False,
                )
            except (NotFound, Conflict) as exc:
                INBOUND.labels("slack", "ignored").inc()
                self._reply(payload.response_url, f"Incident {button.value}: {exc}")
                continue
            except Unavailable as exc:
                return error_response(503, str(exc))
            INBOUND.labels("slack", "action").inc()
            log.info("Slack action", incident=button.value, kind=kind.value, actor=actor)
        return web.Response(status=200)

    def _verify(self, request: web.Request, body: bytes) -> str | None:
        assert self.secret is not None
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp or not signature:
            return "X-Slack-Request-Timestamp and X-Slack-Signature are required"
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            return "X-Slack-Request-Timestamp is not a Unix time"
        if age > REPLAY_WINDOW_SECONDS:
            return "request timestamp is more than five minutes away: replayed or clock skew"
        if not signed(self.secret(), timestamp, body, signature):
            return "signature does not match"
        return None

    def _reply(self, response_url: str | None, text: str) -> None:
        if not response_url or not response_url.startswith(self.reply_prefix):
            return
        task = asyncio.create_task(
            self._post(
                response_url,
                {"response_type": "ephemeral", "replace_original": False, "text": text},
            )
        )
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        if self.session is None:
            return
        try:
            async with self.session.post(
                url,
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("reply to Slack failed", error=str(exc))

    async def close(self) -> None:
        for task in list(self._replies):
            task.cancel()
        await asyncio.gather(*self._replies, return_exceptions=True)
