"""``webhook_configs``: POST the incident as JSON to a URL."""

from __future__ import annotations

import json

import aiohttp

from services.notify.config import WebhookConfig
from services.notify.payload import incident_body
from services.notify.receivers.base import DeliveryError
from shared.messages import Incident


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> bytes:
    """POST and classify the outcome the way every HTTP receiver needs it."""
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.read()
            if response.status < 300:
                return text
            retryable = response.status >= 500 or response.status in (408, 429)
            raise DeliveryError(
                f"HTTP {response.status}: {text[:200].decode(errors='replace')}",
                retryable=retryable,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


class WebhookIntegration:
    def __init__(self, name: str, config: WebhookConfig, session: aiohttp.ClientSession):
        self.name = name
        self.config = config
        self.session = session
        self.send_resolved = config.send_resolved

    async def notify(self, incident: Incident, receiver: str) -> None:
        headers = {
            # Lets a receiver drop a repeat of the same change on its side too.
            "Idempotency-Key": f"{incident.id}-{incident.revision}",
        }
        authorization = self.config.authorization_header()
        if authorization:
            headers["Authorization"] = authorization
        body = json.dumps(incident_body(incident, receiver)).encode()
        await post_json(
            self.session,
            str(self.config.url),
            body,
            headers,
            self.config.timeout.total_seconds(),
        )
