"""``msteams_configs``: an Adaptive Card to Microsoft Teams through a Workflows webhook.

Teams' Office 365 connectors (and their MessageCards) are retired; a workflow
"When a Teams webhook request is received" posts what it gets to a channel or
chat. It takes a message whose attachment is an Adaptive Card: a title
coloured by status, the summary, the facts an on-call engineer scans for
(priority, severity, status, alerts, incident) and an "Open" button. A
resolve is a new card titled "Resolved: ..." (the webhook cannot edit the
card it posted). The workflow answers 202; 429 carries Retry-After. Teams
refuses messages over 28 KB: the summary is cut and, if that is not enough,
the alert list left out.
"""

from __future__ import annotations

import json
from typing import Any

from services.notify.config import TeamsConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration, message_texts
from services.notify.templates import alert_line, truncate
from shared.messages import IncidentStatus

MESSAGE_MAX_BYTES = 28 * 1024
TITLE_MAX = 500
TEXT_MAX = 4000
ALERTS_LISTED = 10
ALERT_TEXT_MAX = 300


class TeamsIntegration(JsonApiIntegration[TeamsConfig]):
    URL_SECRET = "webhook_url"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        incident = delivery.incident
        config = self.config
        _, title, text, link = message_texts(
            self.templates, delivery, config.title, config.text, config.link
        )
        resolved = incident.status == IncidentStatus.RESOLVED
        firing = incident.firing_alerts
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": truncate(title, TITLE_MAX),
                "size": "Large",
                "weight": "Bolder",
                "color": "Good" if resolved else "Attention",
                "wrap": True,
            },
            {"type": "TextBlock", "text": truncate(text or " ", TEXT_MAX), "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Priority", "value": incident.priority},
                    {"title": "Severity", "value": incident.severity},
                    {"title": "Status", "value": incident.status.value},
                    {"title": "Alerts", "value": f"{len(firing)} firing of {len(incident.alerts)}"},
                    {"title": "Incident", "value": f"{incident.id} (revision {incident.revision})"},
                ],
            },
        ]
        listed = [
            {
                "type": "TextBlock",
                "text": truncate(f"- {alert_line(alert)}", ALERT_TEXT_MAX),
                "wrap": True,
                "spacing": "None",
            }
            for alert in firing[:ALERTS_LISTED]
        ]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body + listed,
            "msteams": {"width": "Full"},
        }
        if link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": link}]
        message = {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
        if _size(message) > MESSAGE_MAX_BYTES:
            card["body"] = body  # the alert list goes first
        return message


def _size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":")).encode())
