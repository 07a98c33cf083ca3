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
from services.notify.receivers.http import JsonApiIntegration, message_texts
from services.notify.templates import Flavor, Templates, escape_mrkdwn, truncate
from shared.interactivity import SLACK_ACKNOWLEDGE, SLACK_RESOLVE
from shared.messages import IncidentStatus

# Block Kit limits: longer text is refused with invalid_blocks.
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
CONTEXT_MAX = 3000
URL_MAX = 3000
MESSAGE_TEXT_MAX = 40_000

STATUS_EMOJI = {
    "firing": ":red_circle:",
    "acknowledged": ":eyes:",
    "resolved": ":large_green_circle:",
}


def message(
    delivery: Delivery, config: SlackConfig, templates: Templates, app: bool = False
) -> dict[str, Any]:
    """The message: header, summary with the facts, context, and the "Open"
    button; in app mode the state people gave it (acknowledged by …) and the
    Acknowledge and Resolve buttons, whose clicks the incidents service takes."""
    incident = delivery.incident
    _, title, text, link = message_texts(
        templates, delivery, config.title, config.text, config.link, Flavor.SLACK
    )
    firing = len(incident.firing_alerts)
    state = _state(delivery) if app else incident.status.value
    status_text = f"{STATUS_EMOJI.get(state.split()[0], '')} {escape_mrkdwn(state)}"
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
    buttons: list[dict[str, Any]] = []
    if app and not state.startswith("resolved"):
        if not state.startswith("acknowledged"):
            buttons.append(_button("Acknowledge", SLACK_ACKNOWLEDGE, incident.id, "primary"))
        buttons.append(_button("Resolve", SLACK_RESOLVE, incident.id))
    if link and len(link) <= URL_MAX:
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link}
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    # ``text`` is what notifications and screen readers show.
    message: dict[str, Any] = {"text": truncate(title, MESSAGE_TEXT_MAX), "blocks": blocks}
    for field in ("channel", "username", "icon_emoji"):
        value = getattr(config, field)
        if value:
            message[field] = value
    return message


def _button(
    text: str, action_id: str, incident_id: str, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": incident_id,
    }
    if style:
        button["style"] = style
    return button


def _state(delivery: Delivery) -> str:
    """The incident's state as the message shows it: what the alerts say, and what people did."""
    if delivery.incident.status == IncidentStatus.RESOLVED:
        return "resolved"
    response = delivery.response
    if response is not None and response.state == "resolved":
        return f"resolved by {response.actor}"
    by = delivery.acknowledged_by
    if by is None:
        return "firing"
    until = response.until if response is not None and delivery.silence is None else None
    return f"acknowledged by {by}" + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else "")


class SlackIntegration(JsonApiIntegration[SlackConfig]):
    """Incoming-webhook mode."""

    URL_SECRET = "api_url"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        return message(delivery, self.config, self.templates)
