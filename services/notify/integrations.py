"""Building each receiver's integrations from its configuration."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from services.notify.config import Receiver, SlackConfig
from services.notify.payload import body_fields
from services.notify.receivers.base import Integration
from services.notify.receivers.discord import DiscordIntegration
from services.notify.receivers.email import EmailIntegration
from services.notify.receivers.log import LogIntegration
from services.notify.receivers.opsgenie import OpsgenieIntegration
from services.notify.receivers.pagerduty import PagerDutyIntegration
from services.notify.receivers.slack import SlackIntegration
from services.notify.receivers.slack_app import SlackAppIntegration
from services.notify.receivers.teams import TeamsIntegration
from services.notify.receivers.telegram import TelegramIntegration
from services.notify.receivers.webhook import WebhookIntegration
from services.notify.templates import Templates


# Services that take one JSON document per notification, by the kind their
# configs are named after (``slack_configs`` …).
def slack(
    name: str, config: SlackConfig, session: aiohttp.ClientSession, templates: Templates
) -> Integration:
    """Slack's two modes: a Slack app's bot token, or an incoming webhook."""
    mode = SlackAppIntegration if config.app else SlackIntegration
    return mode(name, config, session, templates)


JSON_APIS: dict[str, Callable[..., Integration]] = {
    "slack": slack,
    "pagerduty": PagerDutyIntegration,
    "msteams": TeamsIntegration,
    "opsgenie": OpsgenieIntegration,
    "discord": DiscordIntegration,
    "telegram": TelegramIntegration,
}


def build_integrations(
    receivers: list[Receiver], session: aiohttp.ClientSession, templates: Templates
) -> dict[str, list[Integration]]:
    """Integrations are named ``kind/index`` within their receiver, which keys
    the sent log; reordering a receiver's configs therefore resends once."""
    built: dict[str, list[Integration]] = {}
    fields = body_fields()
    for receiver in receivers:
        integrations: list[Integration] = []
        integrations += [
            WebhookIntegration(f"webhook/{i}", config, session, fields)
            for i, config in enumerate(receiver.webhook_configs)
        ]
        for kind, integration in JSON_APIS.items():
            integrations += [
                integration(f"{kind}/{i}", config, session, templates)
                for i, config in enumerate(getattr(receiver, f"{kind}_configs"))
            ]
        integrations += [
            EmailIntegration(f"email/{i}", config, templates)
            for i, config in enumerate(receiver.email_configs)
        ]
        integrations += [
            LogIntegration(f"log/{i}", config.send_resolved)
            for i, config in enumerate(receiver.log_configs)
        ]
        built[receiver.name] = integrations
    return built
