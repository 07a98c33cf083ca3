"""``slack_configs``: a Slack incoming-webhook message with Block Kit blocks.

Header (priority and title), a section with the summary and the facts an
on-call engineer scans for (priority, severity, status, alert count), a
context line naming the incident, and an "Open" button. Incoming webhooks
cannot edit a message they posted, so a resolve is a new message in the same
channel saying so (title "Resolved: ..."). Slack answers 200 ``ok``; 429
carries Retry-After, which the retry stage honours.
"""

from __future__ import annotations

from typing import Any

from services.notify.config import SlackConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration
from services.notify.templates import (
    Flavor,
    escape_mrkdwn,
    truncate,
)

# Block Kit limits: longer text is refused with invalid_blocks.
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
CONTEXT_MAX = 3000
URL_MAX = 3000
MESSAGE_TEXT_MAX = 40_000

STATUS_EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


class SlackIntegration(JsonApiIntegration[SlackConfig]):
    URL_SECRET = "api_url"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        incident = delivery.incident
        config = self.config
        _, title, text, link = self.message_texts(
            delivery, config.title, config.text, config.link, Flavor.SLACK
        )
        firing = len(incident.firing_alerts)
        status = incident.status.value
        status_text = f"{STATUS_EMOJI.get(status, '')} {status}"
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(title, HEADER_MAX), "emoji": True},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(text or " ", SECTION_MAX)},
                "fields": [
                    {"type": "mrkdwn", "text": truncate(text, FIELD_MAX)}
                    for text in (
                        f"*Priority*\n{escape_mrkdwn(incident.priority)}",
                        f"*Severity*\n{escape_mrkdwn(incident.severity)}",
                        f"*Status*\n{status_text}",
                        f"*Alerts*\n{firing} firing of {len(incident.alerts)}",
                    )
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": truncate(
                            f"Incident `{escape_mrkdwn(incident.id)}` · revision "
                            f"{incident.revision} · {incident.event.value} · opened "
                            f"<!date^{int(incident.opened_at.timestamp())}^{{date_short_pretty}} "
                            f"{{time}}|{incident.opened_at.isoformat()}>",
                            CONTEXT_MAX,
                        ),
                    }
                ],
            },
        ]
        if link and len(link) <= URL_MAX:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open"},
                            "url": link,
                        }
                    ],
                }
            )
        # ``text`` is what notifications and screen readers show.
        message: dict[str, Any] = {"text": truncate(title, MESSAGE_TEXT_MAX), "blocks": blocks}
        for field in ("channel", "username", "icon_emoji"):
            value = getattr(config, field)
            if value:
                message[field] = value
        return message
