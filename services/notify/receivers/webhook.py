"""``webhook_configs``: POST the incident as JSON to a URL.

The body is documented in docs/notify.md ("The webhook body"). With
``hmac_secret`` the body is signed (``X-Corral-Signature: sha256=<hex>``,
HMAC-SHA256 over the exact bytes sent) so the receiver can tell Corral from
anyone else who knows the URL. ``Idempotency-Key`` lets it drop a repeat of
one notification, which a crash between send and record can cause.
"""

from __future__ import annotations

import hashlib
import hmac

import aiohttp

from services.notify.config import WebhookConfig
from services.notify.payload import incident_body
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import post_json

SIGNATURE_HEADER = "X-Corral-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookIntegration:
    def __init__(self, name: str, config: WebhookConfig, session: aiohttp.ClientSession):
        self.name = name
        self.config = config
        self.session = session
        self.send_resolved = config.send_resolved
        self.acknowledges = False

    async def notify(self, delivery: Delivery) -> None:
        headers = {"Idempotency-Key": delivery.idempotency_key}
        authorization = self.config.authorization_header()
        if authorization:
            headers["Authorization"] = authorization
        body = incident_body(delivery.incident, delivery.receiver, delivery.repeat)
        if self.config.hmac_secret:
            headers[SIGNATURE_HEADER] = signature(self.config.hmac_secret, body)
        await post_json(
            self.session, str(self.config.url), body, headers, self.config.timeout.total_seconds()
        )
