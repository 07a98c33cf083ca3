"""``opsgenie_configs``: Opsgenie's Alert API v2.

The alert's ``alias`` is the incident id, so every revision and any resend
lands on one Opsgenie alert: a firing revision creates it (Opsgenie counts a
create for an open alias as a repeat instead of alerting again), a resolved
one closes it, and a silence on a paged incident acknowledges it.
``update_alerts`` also brings an open alert's message, description and
priority up to date when the incident changes, since a create leaves them as
they were. Opsgenie answers 202 (it processes requests in the background);
429 and 5xx are retried, other 4xx are not. Texts are cut to Opsgenie's limits.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from services.notify.config import OpsgenieConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration, post_json
from services.notify.templates import Flavor, template_context, truncate
from shared.messages import IncidentStatus
from shared.secrets import Secret

# Opsgenie's limits (characters), past which it refuses or cuts a field.
MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15_000
SOURCE_MAX = 100
ENTITY_MAX = 512
NOTE_MAX = 25_000
TAGS_MAX = 20
TAG_MAX = 50
ACTIONS_MAX = 10
DETAILS_MAX = 8000
"""Characters of all keys and values of ``details`` together."""
_PRIORITY = re.compile(r"^P[1-5]$")


class OpsgenieIntegration(JsonApiIntegration[OpsgenieConfig]):
    acknowledges = True

    def endpoint(self) -> Secret:
        key = self.config.secret("api_key")
        assert key is not None  # required by the config
        self.key = key
        alerts = str(self.config.api_url).rstrip("/") + "/v2/alerts"
        return lambda: alerts

    def _render(self, source: str | None, default: str, context: dict[str, Any]) -> str:
        return self.templates.render(source, default, context, Flavor.TEXT)

    def body(self, delivery: Delivery) -> dict[str, Any]:
        """The body of ``POST /v2/alerts``."""
        incident = delivery.incident
        config = self.config
        context = template_context(incident, delivery.receiver, delivery.repeat)
        context["title"] = self._render(None, "title", context)
        message = self._render(config.message, "title", context) if config.message else None
        priority = self._render(config.priority, "title", context) if config.priority else ""
        body: dict[str, Any] = {
            "message": truncate(message or context["title"], MESSAGE_MAX),
            "alias": incident.id[:ALIAS_MAX],
            "description": truncate(
                self._render(config.description, "email_text", context), DESCRIPTION_MAX
            ),
            "source": truncate(self._render(config.source, "source", context), SOURCE_MAX)
            or "corral",
            "priority": priority if _PRIORITY.match(priority) else incident.priority,
            "details": self._details(context),
        }
        entity = self._render(config.entity, "source", context) if config.entity else ""
        if entity:
            body["entity"] = truncate(entity, ENTITY_MAX)
        tags = [
            t
            for t in (truncate(self._render(t, "title", context), TAG_MAX) for t in config.tags)
            if t
        ]
        if tags:
            body["tags"] = tags[:TAGS_MAX]
        if config.actions:
            body["actions"] = [a[:TAG_MAX] for a in config.actions[:ACTIONS_MAX]]
        if config.responders:
            body["responders"] = [r.model_dump(exclude_none=True) for r in config.responders]
        note = self._render(config.note, "title", context) if config.note else ""
        if note:
            body["note"] = truncate(note, NOTE_MAX)
        return body

    def _details(self, context: dict[str, Any]) -> dict[str, str]:
        """Corral's facts, then the configured details, within Opsgenie's budget."""
        incident = context["incident"]
        details = {
            "incident": incident["id"],
            "revision": str(incident["revision"]),
            "priority": incident["priority"],
            "severity": incident["severity"],
            "score": str(incident["score"]),
            **{f"label.{k}": v for k, v in incident["labels"].items()},
        }
        for key, source in self.config.details.items():
            details[key] = self._render(source, "title", context)
        kept: dict[str, str] = {}
        budget = DETAILS_MAX
        for key, value in details.items():
            cost = len(key) + len(value)
            if cost > budget:
                continue
            kept[key] = value
            budget -= cost
        return kept

    def _action_url(self, incident_id: str, action: str) -> str:
        alias = quote(incident_id[:ALIAS_MAX], safe="")
        return f"{self.url()}/{alias}/{action}?identifierType=alias"

    async def _send(self, method: str, url: str, body: dict[str, Any]) -> None:
        await post_json(
            self.session,
            url,
            body,
            {"Authorization": f"GenieKey {self.key()}"},
            self.config.timeout.total_seconds(),
            method=method,
        )

    async def notify(self, delivery: Delivery) -> None:
        incident = delivery.incident
        note = {"source": "corral", "user": "Corral"}
        if incident.status == IncidentStatus.RESOLVED:
            await self._send(
                "POST",
                self._action_url(incident.id, "close"),
                {**note, "note": f"Resolved (revision {incident.revision})"},
            )
            return
        if delivery.acknowledge:
            await self._send(
                "POST",
                self._action_url(incident.id, "acknowledge"),
                {**note, "note": "Acknowledged in Corral: a silence covers the incident"},
            )
            return
        body = self.body(delivery)
        await self._send("POST", self.url(), body)
        # ``changes`` is None for the receiver's first notification: nothing to update yet.
        if self.config.update_alerts and delivery.changes is not None and not delivery.repeat:
            for field in ("message", "description", "priority"):
                await self._send("PUT", self._action_url(incident.id, field), {field: body[field]})
