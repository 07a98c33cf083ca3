"""``slack_configs`` with ``app_token``: a Slack app's one message per incident.

The first notification posts the message (``chat.postMessage``); Slack
answers with its channel and ``ts``, which the sent log keeps as the entry's
``reference``. Every later one updates that message in place
(``chat.update``), so it always shows the incident's current state, and adds
a reply in its thread saying what happened ("+3 alerts: …", "Acknowledged by
alice via pagerduty", "Resolved"). While it fires, the message has
Acknowledge and Resolve buttons (``shared.interactivity``): Slack posts the
clicks to the incidents service, and the action that makes comes back here
as an update. A message someone deleted is posted again.

Slack's Web API answers 200 with ``{"ok": false, "error": ...}`` for what it
refuses (not retried, except ``ratelimited``) and 429 with Retry-After when
rate limited (retried). A worker killed between Slack taking a message and
the sent log recording it posts the message again on restart: Slack has no
idempotency key.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from services.notify.config import SlackConfig
from services.notify.receivers.base import Delivery, DeliveryError
from services.notify.receivers.http import post_json
from services.notify.receivers.slack import message
from services.notify.templates import Templates, truncate
from shared.messages import IncidentStatus, NotificationKind

REPLY_MAX = 3000
RETRYABLE = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "request_timeout",
    "service_unavailable",
}
GONE = {"message_not_found", "cant_update_message"}


def thread_text(delivery: Delivery) -> str:
    """What a thread reply says about this notification."""
    incident = delivery.incident
    response = delivery.response
    via = f" via {response.source}" if response is not None and response.source else ""
    step = f" (escalation step {delivery.step})" if delivery.step else ""
    match delivery.kind:
        case NotificationKind.ACKNOWLEDGE:
            text = f"Acknowledged by {delivery.acknowledged_by or 'someone'}"
            if delivery.silence is not None:
                return f"{text} (silence {delivery.silence.id})"
            if response is not None and response.until is not None:
                text += f" until {response.until:%Y-%m-%d %H:%M} UTC"
            return text + via
        case NotificationKind.UNACKNOWLEDGE:
            return "Firing again: nobody has it acknowledged" + via
        case NotificationKind.RESOLVE if incident.status != IncidentStatus.RESOLVED:
            actor = response.actor if response is not None else "someone"
            return f"Resolved by {actor}{via}"
        case NotificationKind.REPEAT:
            return f"Still firing{step}"
    changes = delivery.changes
    if incident.merged_into:
        return f"Merged into incident {incident.merged_into}"
    if incident.status == IncidentStatus.RESOLVED:
        return "Resolved" + (f": {changes.summary}" if changes else "")
    if changes is None:
        return f"Firing again{step}"
    return changes.summary + step


class SlackAppIntegration:
    acknowledges = True
    responses = frozenset(
        {NotificationKind.ACKNOWLEDGE, NotificationKind.UNACKNOWLEDGE, NotificationKind.RESOLVE}
    )

    def __init__(
        self, name: str, config: SlackConfig, session: aiohttp.ClientSession, templates: Templates
    ):
        self.name = name
        self.config = config
        self.session = session
        self.templates = templates
        self.send_resolved = config.send_resolved
        token = config.secret("app_token")
        assert token is not None  # required by the config in app mode
        self.token = token
        self.api = str(config.app_url).rstrip("/") + "/"

    async def notify(self, delivery: Delivery) -> str | None:
        body = message(delivery, self.config, self.templates, app=True)
        reference = delivery.reference
        if reference is not None:
            channel, _, ts = reference.partition("/")
            try:
                await self._call("chat.update", {**body, "channel": channel, "ts": ts})
            except Gone:
                reference = None  # deleted in Slack: post it again
            else:
                reply = {
                    "channel": channel,
                    "thread_ts": ts,
                    "text": truncate(thread_text(delivery), REPLY_MAX),
                }
                await self._call("chat.postMessage", reply)
                return reference
        answer = await self._call("chat.postMessage", body)
        posted_in, posted_at = answer.get("channel"), answer.get("ts")
        if not isinstance(posted_in, str) or not isinstance(posted_at, str):
            raise DeliveryError("Slack's chat.postMessage answer has no channel and ts", False)
        return f"{posted_in}/{posted_at}"

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token()}"}
        raw = await post_json(
            self.session,
            self.api + method,
            json.dumps(body).encode(),
            {**headers, "Content-Type": "application/json; charset=utf-8"},
            self.config.timeout.total_seconds(),
        )
        try:
            answer = json.loads(raw)
        except ValueError:
            raise DeliveryError(f"Slack {method}: not JSON: {raw[:200]!r}", True) from None
        if not isinstance(answer, dict):
            raise DeliveryError(f"Slack {method}: unexpected answer", True)
        if answer.get("ok") is not True:
            error = str(answer.get("error", "unknown"))
            if error in GONE:
                raise Gone(f"Slack {method}: {error}", False)
            raise DeliveryError(f"Slack {method}: {error}", error in RETRYABLE)
        return answer


class Gone(DeliveryError):
    """The message to update is no longer there."""
