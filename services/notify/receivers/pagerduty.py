"""``pagerduty_configs``: PagerDuty Events API v2.

``dedup_key`` is the incident id, so every revision of an incident (and any
resend after a crash) lands on one PagerDuty incident: a firing revision is a
``trigger`` (PagerDuty adds it to the open incident instead of paging again),
a resolved one a ``resolve``, and a paged incident that someone acknowledged
in Corral (or that a silence then covers) an ``acknowledge``: PagerDuty stops
escalating. A person's resolve in Corral is a ``resolve``. The Events API
has no way back from acknowledged, so an unacknowledgement is not sent. An
acknowledgement that came from PagerDuty itself is sent back too: PagerDuty
ignores it for the incident already acknowledged, and another PagerDuty
service paged by another escalation step needs it.
PagerDuty answers 202; 400 means the event is malformed (not retried), 429
and 5xx are retried.
"""

from __future__ import annotations

import json
from typing import Any

from services.notify.config import PagerDutyConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration
from services.notify.templates import Flavor, delivery_context
from shared.links import safe_link
from shared.messages import IncidentStatus, NotificationKind
from shared.secrets import Secret

SUMMARY_MAX = 1024
EVENT_MAX_BYTES = 512 * 1024
"""PagerDuty refuses larger events; the budget below leaves room for the note."""
DETAILS_BUDGET = EVENT_MAX_BYTES - 4 * 1024
TEXT_MAX = 1024
"""Characters of one label or annotation kept when an event must shrink."""


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _shortened(alert: dict[str, Any]) -> dict[str, Any]:
    def cut(values: dict[str, str]) -> dict[str, str]:
        return {
            k[:TEXT_MAX]: v if len(v) <= TEXT_MAX else v[:TEXT_MAX] + "…" for k, v in values.items()
        }

    return {"labels": cut(alert["labels"]), "annotations": cut(alert["annotations"])}


def bounded(event: dict[str, Any]) -> dict[str, Any]:
    """The event under PagerDuty's 512 KB limit: first long label and annotation
    texts of the firing alerts are cut, then alerts are left out, last first;
    ``custom_details.truncated`` says what was left out, so the responder knows."""
    details = event["payload"]["custom_details"]
    if _size(event) <= DETAILS_BUDGET:
        return event
    firing = details["firing"]
    details["firing"] = [_shortened(a) for a in firing]
    note = "labels and annotations longer than 1024 characters were cut"
    kept = len(firing)
    while _size(event) > DETAILS_BUDGET and kept:
        kept = max(0, kept - max(1, kept // 4))
        details["firing"] = details["firing"][:kept]
    if kept < len(firing):
        note += f"; {len(firing) - kept} of {len(firing)} firing alerts left out"
    while _size(event) > DETAILS_BUDGET and details.get("explanation"):
        details["explanation"] = details["explanation"][:-1]
    if _size(event) > DETAILS_BUDGET:
        event["links"] = []
        details["labels"] = {}
    details["truncated"] = f"{note}: the event exceeded PagerDuty's 512 KB limit"
    return event


class PagerDutyIntegration(JsonApiIntegration[PagerDutyConfig]):
    acknowledges = True
    responses = frozenset({NotificationKind.ACKNOWLEDGE, NotificationKind.RESOLVE})

    def endpoint(self) -> Secret:
        routing_key = self.config.secret("routing_key")
        assert routing_key is not None  # required by the config
        self.routing_key = routing_key
        url = str(self.config.url)
        return lambda: url

    def body(self, delivery: Delivery) -> dict[str, Any]:
        incident = delivery.incident
        config = self.config
        event: dict[str, Any] = {
            "routing_key": self.routing_key(),
            "dedup_key": incident.id,
        }
        if incident.status == IncidentStatus.RESOLVED or delivery.kind == NotificationKind.RESOLVE:
            return {**event, "event_action": "resolve"}
        if delivery.acknowledge:
            return {**event, "event_action": "acknowledge"}
        context = delivery_context(delivery)

        def render(source: str | None, default: str) -> str:
            return self.templates.render(source, default, context, Flavor.TEXT)

        title = render(None, "title")
        summary = render(config.summary, "title") if config.summary else title
        payload: dict[str, Any] = {
            "summary": summary[:SUMMARY_MAX] or incident.id,
            "source": render(config.source, "source") or "corral",
            "severity": config.severity.get(incident.severity, "error"),
            "timestamp": incident.updated_at.isoformat(),
            "custom_details": {
                "incident": incident.id,
                "revision": incident.revision,
                "event": incident.event.value,
                "priority": incident.priority,
                "score": incident.score,
                "summary": context["summary"],
                "labels": incident.labels,
                "explanation": incident.explanation,
                **({"changes": delivery.changes.body()} if delivery.changes else {}),
                "firing": [
                    {"labels": a.labels, "annotations": a.annotations}
                    for a in incident.firing_alerts
                ],
            },
        }
        for field, source, default in (
            ("component", config.component, "component"),
            ("group", config.group, "group"),
            ("class", config.class_, "class"),
        ):
            value = render(source, default)
            if value:
                payload[field] = value
        event.update(event_action="trigger", payload=payload, client=config.client)
        client_url = safe_link(render(config.client_url, "link"))
        if client_url:
            event["client_url"] = client_url
        links: list[dict[str, str]] = []
        for alert in incident.alerts:
            href = safe_link(alert.generator_url)
            if href and href not in (x["href"] for x in links):
                links.append({"href": href, "text": alert.labels.get("alertname", "")})
        if links:
            event["links"] = links
        return bounded(event)
