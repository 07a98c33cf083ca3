"""``pagerduty_configs``: PagerDuty Events API v2.

``dedup_key`` is the incident id, so every revision of an incident (and any
resend after a crash) lands on one PagerDuty incident: a firing revision is a
``trigger`` (PagerDuty adds it to the open incident instead of paging again),
a resolved one a ``resolve``, and a paged incident that a silence then
covers an ``acknowledge`` (someone is on it: PagerDuty stops escalating).
PagerDuty answers 202; 400 means the event is malformed (not retried), 429
and 5xx are retried.
"""

from __future__ import annotations

from typing import Any

from services.notify.config import PagerDutyConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration
from services.notify.templates import Flavor, template_context
from shared.messages import IncidentStatus

SUMMARY_MAX = 1024


class PagerDutyIntegration(JsonApiIntegration[PagerDutyConfig]):
    acknowledges = True

    @property
    def url(self) -> str:
        return str(self.config.url)

    def body(self, delivery: Delivery) -> dict[str, Any]:
        incident = delivery.incident
        config = self.config
        event: dict[str, Any] = {
            "routing_key": config.routing_key,
            "dedup_key": incident.id,
        }
        if incident.status == IncidentStatus.RESOLVED:
            return {**event, "event_action": "resolve"}
        if delivery.acknowledge:
            return {**event, "event_action": "acknowledge"}
        context = template_context(incident, delivery.receiver, delivery.repeat)

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
        client_url = render(config.client_url, "link")
        if client_url:
            event["client_url"] = client_url
        links = []
        for alert in incident.alerts:
            if alert.generator_url and alert.generator_url not in (x["href"] for x in links):
                text = alert.labels.get("alertname", "")
                links.append({"href": alert.generator_url, "text": text})
        if links:
            event["links"] = links
        return event
