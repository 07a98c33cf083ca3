"""``webhook_configs``: POST the incident as JSON to a URL.

The body is documented in docs/notify.md ("The webhook body"); with ``payload:
alertmanager`` it is Alertmanager's webhook body instead. With ``hmac_secret``
every request carries ``X-Corral-Timestamp`` (Unix seconds when it was sent)
and ``X-Corral-Signature: sha256=<hex>``, the HMAC-SHA256 of the timestamp, a
dot and the exact body bytes: the receiver can tell Corral from anyone else
who knows the URL, and, by refusing timestamps older than a few minutes, a
captured request replayed later (docs/security.md shows such a receiver).
``Idempotency-Key`` lets it drop a repeat of one notification, which a crash
between send and record can cause.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import aiohttp

from services.notify.alertmanager_payload import alertmanager_body
from services.notify.config import WebhookConfig
from services.notify.payload import incident_body
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import post_json
from shared.codec import EncodingCache
from shared.messages import Incident

SIGNATURE_HEADER = "X-Corral-Signature"
TIMESTAMP_HEADER = "X-Corral-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class WebhookIntegration:
    def __init__(
        self,
        name: str,
        config: WebhookConfig,
        session: aiohttp.ClientSession,
        fields: EncodingCache[Incident] | None = None,
    ):
        self.name = name
        self.fields = fields
        self.config = config
        self.session = session
        self.send_resolved = config.send_resolved
        self.acknowledges = False
        url = config.secret("url")
        assert url is not None  # required by the config
        self.url = url
        self.hmac_secret = config.secret("hmac_secret")
        authorization = config.http_config.authorization
        self.auth_type = authorization.type if authorization is not None else "Bearer"
        self.credentials = (
            authorization.secret("credentials")
            if authorization is not None
            else config.secret("bearer_token")
        )

    async def notify(self, delivery: Delivery) -> None:
        headers = {"Idempotency-Key": delivery.idempotency_key}
        if self.credentials is not None:
            headers["Authorization"] = f"{self.auth_type} {self.credentials()}"
        if self.config.payload == "alertmanager":
            body = alertmanager_body(delivery.incident, delivery.receiver)
        else:
            body = incident_body(
                delivery.incident,
                delivery.receiver,
                delivery.repeat,
                delivery.changes,
                delivery.kind,
                delivery.step,
                self.fields,
            )
        if self.hmac_secret is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self.hmac_secret(), timestamp, body)
        await post_json(
            self.session, self.url(), body, headers, self.config.timeout.total_seconds()
        )
