"""Building each receiver's integrations from its configuration."""

from __future__ import annotations

import aiohttp

from services.notify.config import Receiver
from services.notify.receivers.base import Integration
from services.notify.receivers.log import LogIntegration
from services.notify.receivers.webhook import WebhookIntegration


def build_integrations(
    receivers: list[Receiver], session: aiohttp.ClientSession
) -> dict[str, list[Integration]]:
    """Integrations are named ``kind/index`` within their receiver, which keys
    the sent log; reordering a receiver's configs therefore resends once."""
    built: dict[str, list[Integration]] = {}
    for receiver in receivers:
        integrations: list[Integration] = []
        integrations += [
            WebhookIntegration(f"webhook/{i}", config, session)
            for i, config in enumerate(receiver.webhook_configs)
        ]
        integrations += [
            LogIntegration(f"log/{i}", config.send_resolved)
            for i, config in enumerate(receiver.log_configs)
        ]
        built[receiver.name] = integrations
    return built
