"""The HTTP API: where Alertmanager, Prometheus, Grafana and other tools send alerts.

A request is answered 200 only after the broker acknowledged every alert in
it. Anything else is an error the sender can act on: 4xx for a body it must
fix (never retried by Alertmanager), 503 with Retry-After when Corral cannot
take the alerts now (Alertmanager and Prometheus retry those).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import web
from prometheus_client import Counter, Histogram
from pydantic import ValidationError
from pydantic_core import from_json

from services.ingest.bounded import bounded_bodies
from services.ingest.config import IngestSettings
from services.ingest.errors import validation_response
from services.ingest.feedback import FEEDBACK_PATH, FeedbackEndpoint
from services.ingest.mapping import Mapping, MappingError
from services.ingest.metrics import ALERTS_RECEIVED, ALERTS_REJECTED, REQUEST_SECONDS
from services.ingest.openapi import api_document
from services.ingest.sink import AlertSink, Overloaded, TooLarge, Unavailable
from shared.messages.alert import SOURCE_WEBHOOK
from shared.normalize import NormalizedAlert, from_api_v2, from_grafana, from_webhook
from shared.web.config import Role
from shared.web.errors import error_response
from shared.web.guard import WebSecurity
from shared.web.openapi import openapi_route

log = structlog.get_logger(__name__)


class NotJson(Exception):
    """A body that does not even parse as JSON."""


WEBHOOK_PATH = "/api/v1/alerts/alertmanager"
API_V2_PATH = "/api/v2/alerts"
GRAFANA_PATH = "/api/v1/alerts/grafana"
JSON_WEBHOOK_PATH = "/api/v1/alerts/webhook/{name}"
ENDPOINTS = {
    WEBHOOK_PATH: "alertmanager",
    API_V2_PATH: "api_v2",
    GRAFANA_PATH: "grafana",
    JSON_WEBHOOK_PATH: "webhook",
}
ACCESS = {
    WEBHOOK_PATH: Role.ALERTS,
    API_V2_PATH: Role.ALERTS,
    GRAFANA_PATH: Role.ALERTS,
    JSON_WEBHOOK_PATH: Role.ALERTS,
    FEEDBACK_PATH: Role.ADMIN,
}


@dataclass(frozen=True)
class Endpoint:
    """An alert endpoint's name and its metrics' children for it, looked up once:
    ``labels()`` per request cost more than counting and timing itself."""

    name: str
    received: Counter
    seconds: Histogram

    @classmethod
    def of(cls, name: str) -> Endpoint:
        return cls(name, ALERTS_RECEIVED.labels(name), REQUEST_SECONDS.labels(name))


def accepted(alerts: int) -> web.Response:
    """``web.json_response({"status": "success", "alerts": alerts})``, the same
    bytes and headers, without encoding the same object for every request."""
    return web.Response(
        body=b'{"status": "success", "alerts": %d}' % alerts,
        content_type="application/json",
        charset="utf-8",
    )


class IngestApp:
    def __init__(self, settings: IngestSettings, sink: AlertSink, feedback_topic: str):
        self.settings = settings
        self.sink = sink
        self.bodies = bounded_bodies(settings.limits)
        self.mappings = {w.name: Mapping(w) for w in settings.webhooks}
        self.feedback = FeedbackEndpoint(sink, feedback_topic, self._unavailable)
        self.endpoints = {name: Endpoint.of(name) for name in ENDPOINTS.values()}

    def build(self, security: WebSecurity | None = None) -> web.Application:
        app = (security or WebSecurity()).application(
            ACCESS, self.settings.max_body_bytes, "ingest.max_body_bytes", self._refused
        )
        app.add_routes(
            [
                web.post(WEBHOOK_PATH, self.alertmanager_webhook),
                web.post(API_V2_PATH, self.prometheus_alerts),
                web.post(GRAFANA_PATH, self.grafana_webhook),
                web.post(JSON_WEBHOOK_PATH, self.json_webhook),
                self.feedback.route(),
                openapi_route(api_document(self.bodies, sorted(self.mappings))),
            ]
        )
        return app

    @staticmethod
    def _refused(request: web.Request, reason: str) -> None:
        """Refusals before a handler ran (credentials, media type, size) count as
        rejected alerts too: the sender will not retry them."""
        resource = request.match_info.route.resource
        endpoint = ENDPOINTS.get(resource.canonical if resource is not None else "")
        if endpoint is not None:
            ALERTS_REJECTED.labels(endpoint, reason).inc()

    async def alertmanager_webhook(self, request: web.Request) -> web.Response:
        return await self._ingest(request, self.endpoints["alertmanager"], self._parse_webhook)

    async def prometheus_alerts(self, request: web.Request) -> web.Response:
        return await self._ingest(request, self.endpoints["api_v2"], self._parse_api_v2)

    async def grafana_webhook(self, request: web.Request) -> web.Response:
        return await self._ingest(request, self.endpoints["grafana"], self._parse_grafana)

    async def json_webhook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        mapping = self.mappings.get(name)
        if mapping is None:
            ALERTS_REJECTED.labels("webhook", "unknown").inc()
            known = ", ".join(sorted(self.mappings)) or "none is configured"
            return error_response(
                404, f"no webhook {name!r} in ingest.webhooks ({known})", field="name"
            )

        def parse(body: bytes, now: datetime) -> list[NormalizedAlert]:
            try:
                data = from_json(body)
            except ValueError as exc:
                raise NotJson(str(exc)) from None
            mapped = self.bodies.mapped.model_validate(mapping.apply(data, now))
            return from_api_v2(mapped.alerts, now, f"{SOURCE_WEBHOOK}{name}")

        return await self._ingest(request, self.endpoints["webhook"], parse)

    def _parse_webhook(self, body: bytes, now: datetime) -> list[NormalizedAlert]:
        return from_webhook(self.bodies.webhook.model_validate_json(body), now)

    def _parse_api_v2(self, body: bytes, now: datetime) -> list[NormalizedAlert]:
        return from_api_v2(self.bodies.api_v2.model_validate_json(body).root, now)

    def _parse_grafana(self, body: bytes, now: datetime) -> list[NormalizedAlert]:
        return from_grafana(self.bodies.grafana.model_validate_json(body), now)

    async def _ingest(
        self,
        request: web.Request,
        endpoint: Endpoint,
        parse: Callable[[bytes, datetime], list[NormalizedAlert]],
    ) -> web.Response:
        started = time.perf_counter()
        try:
            return await self._handle(request, endpoint, parse)
        finally:
            endpoint.seconds.observe(time.perf_counter() - started)

    async def _handle(
        self,
        request: web.Request,
        endpoint: Endpoint,
        parse: Callable[[bytes, datetime], list[NormalizedAlert]],
    ) -> web.Response:
        body = await request.read()  # the guard answers 413 for an overrun
        try:
            alerts = parse(body, datetime.now(UTC))
        except ValidationError as exc:
            ALERTS_REJECTED.labels(endpoint.name, "invalid").inc()
            return validation_response(exc)
        except NotJson as exc:
            ALERTS_REJECTED.labels(endpoint.name, "invalid").inc()
            return error_response(400, f"body is not valid JSON: {exc}", field="(body)")
        except MappingError as exc:
            ALERTS_REJECTED.labels(endpoint.name, "invalid").inc()
            return error_response(422, str(exc), field=exc.field)
        try:
            await self.sink.publish(alerts, len(body))
        except TooLarge as exc:
            ALERTS_REJECTED.labels(endpoint.name, "too_large").inc()
            field = f"[{exc.index}]" if endpoint.name == "api_v2" else f"alerts[{exc.index}]"
            return error_response(
                413, f"{field}: alert too large to store: {exc}; shorten its annotations", field
            )
        except Overloaded as exc:
            ALERTS_REJECTED.labels(endpoint.name, "overload").inc()
            return self._unavailable(str(exc))
        except (TimeoutError, Unavailable) as exc:
            ALERTS_REJECTED.labels(endpoint.name, "unavailable").inc()
            log.warning(
                "publish failed", endpoint=endpoint.name, alerts=len(alerts), error=str(exc)
            )
            return self._unavailable(f"alerts not stored, retry later: {exc}")
        endpoint.received.inc(len(alerts))
        return accepted(len(alerts))

    def _unavailable(self, message: str) -> web.Response:
        retry_after = max(1, round(self.settings.retry_after.total_seconds()))
        return error_response(503, message, headers={"Retry-After": str(retry_after)})
