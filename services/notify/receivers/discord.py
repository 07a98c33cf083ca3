"""``discord_configs``: a Discord channel webhook message with one embed.

The embed's title (linked to the first alert's graph, or ``link``) says the
priority and title, its description the summary, its fields priority,
severity, status and alert count, and the firing alerts; its colour the
status. ``allowed_mentions`` is empty, so ``@everyone`` or a role in alert
text never pings anyone. A resolve is a new message ("Resolved: ..."): a
webhook cannot edit what it posted without keeping its message id. Discord
answers 204; 429 carries Retry-After. Texts are cut to Discord's limits
(title 256, description 4096, a field 1024, all of an embed 6000).
"""

from __future__ import annotations

from typing import Any

from services.notify.config import DiscordConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration, message_texts
from services.notify.templates import Flavor, alert_line, truncate
from shared.messages import IncidentStatus

TITLE_MAX = 256
DESCRIPTION_MAX = 3000
"""Under Discord's 4096, leaving the rest of the embed's 6000 to the fields."""
FIELD_MAX = 1024
FOOTER_MAX = 256
CONTENT_MAX = 2000
USERNAME_MAX = 80
ALERTS_LISTED = 10

RED = 0xD92D20
GREEN = 0x2EB67D
ORANGE = 0xF79009


class DiscordIntegration(JsonApiIntegration[DiscordConfig]):
    URL_SECRET = "webhook_url"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        incident = delivery.incident
        config = self.config
        context, title, description, link = message_texts(
            self.templates, delivery, config.title, config.message, config.link
        )
        firing = incident.firing_alerts
        if incident.status == IncidentStatus.RESOLVED:
            color = GREEN
        else:
            color = ORANGE if delivery.repeat else RED
        fields = [
            {"name": "Priority", "value": incident.priority, "inline": True},
            {"name": "Severity", "value": incident.severity, "inline": True},
            {"name": "Status", "value": incident.status.value, "inline": True},
            {
                "name": "Alerts",
                "value": f"{len(firing)} firing of {len(incident.alerts)}",
                "inline": True,
            },
        ]
        if firing:
            listed = "\n".join(f"• {alert_line(a)}" for a in firing[:ALERTS_LISTED])
            fields.append({"name": "Firing", "value": truncate(listed, FIELD_MAX)})
        embed: dict[str, Any] = {
            "title": truncate(title, TITLE_MAX),
            "description": truncate(description, DESCRIPTION_MAX),
            "color": color,
            "fields": fields,
            "footer": {
                "text": truncate(
                    f"Incident {incident.id} · revision {incident.revision} · "
                    f"{incident.event.value}",
                    FOOTER_MAX,
                )
            },
            "timestamp": incident.updated_at.isoformat(),
        }
        if link:
            embed["url"] = link
        message: dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        content = self.templates.render(config.content, "summary", context, Flavor.TEXT)
        if config.content and content:
            message["content"] = truncate(content, CONTENT_MAX)
        if config.username:
            message["username"] = config.username[:USERNAME_MAX]
        if config.avatar_url:
            message["avatar_url"] = str(config.avatar_url)
        return message
