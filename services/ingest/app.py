"""The HTTP API: where Alertmanager and Prometheus send alerts.

A request is answered 200 only after the broker acknowledged every alert in
it. Anything else is an error the sender can act on: 4xx for a body it must
fix (never retried by Alertmanager), 503 with Retry-After when Corral cannot
take the alerts now (Alertmanager and Prometheus retry those).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web
from pydantic import ValidationError

from services.ingest.config import IngestSettings
from services.ingest.errors import error_response, validation_response
from services.ingest.feedback import FeedbackEndpoint
from services.ingest.metrics import ALERTS_RECEIVED, ALERTS_REJECTED, REQUEST_SECONDS
from services.ingest.sink import AlertSink, Overloaded, TooLarge, Unavailable
from shared.normalize import NormalizedAlert, from_api_v2, from_webhook
from shared.payloads import PostableAlerts, WebhookPayload

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class IngestApp:
    def __init__(self, settings: IngestSettings, sink: AlertSink, feedback_topic: str):
        self.settings = settings
        self.sink = sink
        self.feedback = FeedbackEndpoint(sink, feedback_topic, self._unavailable)

    def build(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.add_routes(
            [
                web.post("/api/v1/alerts/alertmanager", self.alertmanager_webhook),
                web.post("/api/v2/alerts", self.prometheus_alerts),
                self.feedback.route(),
            ]
        )
        return app

    async def alertmanager_webhook(self, request: web.Request) -> web.Response:
        return await self._ingest(request, "alertmanager", self._parse_webhook)

    async def prometheus_alerts(self, request: web.Request) -> web.Response:
        return await self._ingest(request, "api_v2", self._parse_api_v2)

    @staticmethod
    def _parse_webhook(body: bytes, now: datetime) -> list[NormalizedAlert]:
        return from_webhook(WebhookPayload.model_validate_json(body), now)

    @staticmethod
    def _parse_api_v2(body: bytes, now: datetime) -> list[NormalizedAlert]:
        return from_api_v2(PostableAlerts.model_validate_json(body).root, now)

    async def _ingest(
        self,
        request: web.Request,
        endpoint: str,
        parse: Callable[[bytes, datetime], list[NormalizedAlert]],
    ) -> web.Response:
        started = time.perf_counter()
        try:
            response = await self._handle(request, endpoint, parse)
        finally:
            REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
        return response

    async def _handle(
        self,
        request: web.Request,
        endpoint: str,
        parse: Callable[[bytes, datetime], list[NormalizedAlert]],
    ) -> web.Response:
        if request.content_type and not _is_json(request.content_type):
            ALERTS_REJECTED.labels(endpoint, "media_type").inc()
            return error_response(
                415,
                f"unsupported Content-Type {request.content_type!r}: send application/json",
                field="Content-Type",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            ALERTS_REJECTED.labels(endpoint, "too_large").inc()
            return error_response(
                413,
                f"body larger than {self.settings.max_body_bytes} bytes "
                "(ingest.max_body_bytes); split the batch",
                field="(body)",
            )
        try:
            alerts = parse(body, datetime.now(UTC))
        except ValidationError as exc:
            ALERTS_REJECTED.labels(endpoint, "invalid").inc()
            return validation_response(exc)
        try:
            await self.sink.publish(alerts, len(body))
        except TooLarge as exc:
            ALERTS_REJECTED.labels(endpoint, "too_large").inc()
            field = f"alerts[{exc.index}]" if endpoint == "alertmanager" else f"[{exc.index}]"
            return error_response(
                413, f"{field}: alert too large to store: {exc}; shorten its annotations", field
            )
        except Overloaded as exc:
            ALERTS_REJECTED.labels(endpoint, "overload").inc()
            return self._unavailable(str(exc))
        except (TimeoutError, Unavailable) as exc:
            ALERTS_REJECTED.labels(endpoint, "unavailable").inc()
            log.warning("publish failed", endpoint=endpoint, alerts=len(alerts), error=str(exc))
            return self._unavailable(f"alerts not stored, retry later: {exc}")
        ALERTS_RECEIVED.labels(endpoint).inc(len(alerts))
        return web.json_response({"status": "success", "alerts": len(alerts)})

    def _unavailable(self, message: str) -> web.Response:
        retry_after = max(1, round(self.settings.retry_after.total_seconds()))
        return error_response(503, message, headers={"Retry-After": str(retry_after)})
