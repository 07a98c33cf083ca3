"""ingest's API as OpenAPI, with the configured limits (see shared.web.openapi)."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from services.ingest.bounded import BoundedBodies
from services.ingest.feedback import FEEDBACK_PATH, INCIDENT_ID, FeedbackRequest
from shared.web.openapi import Operation, document

_STORED = {"200": "Every alert acknowledged by the broker.", "503": "Not stored; retry."}


class ToolJson(RootModel[Any]):
    """Any JSON: the tool's own body, which the webhook's mapping reads."""


def api_document(bodies: BoundedBodies, webhooks: list[str]) -> dict[str, Any]:
    return document(
        "Corral ingest",
        [
            Operation(
                "POST",
                "/api/v1/alerts/alertmanager",
                "Alertmanager webhook (payload version 4).",
                "alerts",
                bodies.webhook,
                _STORED,
            ),
            Operation(
                "POST",
                "/api/v2/alerts",
                "Alerts as Prometheus posts them to Alertmanager's API v2.",
                "alerts",
                bodies.api_v2,
                _STORED,
            ),
            Operation(
                "POST",
                "/api/v1/alerts/grafana",
                "Grafana Alerting's webhook contact point (version 1).",
                "alerts",
                bodies.grafana,
                _STORED,
            ),
            Operation(
                "POST",
                "/api/v1/alerts/webhook/{name}",
                "A tool's own JSON, mapped to alerts by ingest.webhooks[name].",
                "alerts",
                ToolJson,
                {**_STORED, "404": "No such webhook in ingest.webhooks."},
                parameters=[
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": webhooks}
                        if webhooks
                        else {"type": "string"},
                    }
                ],
            ),
            Operation(
                "POST",
                FEEDBACK_PATH,
                "A verdict of the people on call on an incident's priority.",
                "admin",
                FeedbackRequest,
                {"202": "Stored on corral.feedback.", "503": "Not stored; retry."},
                parameters=[
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": f"^{INCIDENT_ID}$"},
                    }
                ],
            ),
        ],
    )
