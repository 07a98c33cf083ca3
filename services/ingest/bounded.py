"""The request bodies with ``ingest.limits`` applied.

The shapes themselves are in ``shared.payloads`` (offline tools read captured
webhooks with them too); the bounds are ingest's configuration, so the
bounded models are built here, once per worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from services.ingest.config import IngestLimits
from shared.payloads import (
    LABEL_NAME,
    GrafanaAlert,
    GrafanaWebhook,
    MappedAlerts,
    PostableAlert,
    PostableAlerts,
    WebhookAlert,
    WebhookPayload,
)


@dataclass(frozen=True)
class BoundedBodies:
    """The body models with ``ingest.limits`` applied, checked by pydantic-core
    while it parses (no second pass over the alerts in Python)."""

    webhook: type[WebhookPayload]
    api_v2: type[PostableAlerts]
    grafana: type[GrafanaWebhook]
    mapped: type[MappedAlerts]


def bounded_bodies(limits: IngestLimits) -> BoundedBodies:
    name = StringConstraints(max_length=limits.max_label_name_length)
    label_set: Any = Annotated[
        dict[
            Annotated[str, StringConstraints(pattern=LABEL_NAME), name],
            Annotated[str, StringConstraints(max_length=limits.max_label_value_length)],
        ],
        Field(min_length=1, max_length=limits.max_labels_per_alert),
    ]
    annotation_set: Any = Annotated[
        dict[
            Annotated[str, name],
            Annotated[str, StringConstraints(max_length=limits.max_annotation_value_length)],
        ],
        Field(max_length=limits.max_annotations_per_alert),
    ]
    bounded_url: Any = Annotated[str, StringConstraints(max_length=limits.max_url_length)]
    bounded_text: Any = Annotated[
        str, StringConstraints(max_length=limits.max_annotation_value_length)
    ]

    class BoundedWebhookAlert(WebhookAlert):
        labels: label_set
        annotations: annotation_set = Field(default_factory=dict)
        generator_url: bounded_url = Field(default="", alias="generatorURL")

    class BoundedWebhookPayload(WebhookPayload):
        external_url: bounded_url = Field(default="", alias="externalURL")
        alerts: list[BoundedWebhookAlert] = Field(max_length=limits.max_alerts_per_request)  # type: ignore[assignment]

    class BoundedPostableAlert(PostableAlert):
        labels: label_set
        annotations: annotation_set = Field(default_factory=dict)
        generator_url: bounded_url = Field(default="", alias="generatorURL")

    class BoundedPostableAlerts(PostableAlerts):
        root: Annotated[  # type: ignore[assignment]
            list[BoundedPostableAlert], Field(max_length=limits.max_alerts_per_request)
        ]

    class BoundedGrafanaAlert(GrafanaAlert):
        labels: label_set
        annotations: annotation_set = Field(default_factory=dict)
        generator_url: bounded_url = Field(default="", alias="generatorURL")
        dashboard_url: bounded_url = Field(default="", alias="dashboardURL")
        panel_url: bounded_url = Field(default="", alias="panelURL")
        image_url: bounded_url = Field(default="", alias="imageURL")
        value_string: bounded_text = Field(default="", alias="valueString")

    class BoundedGrafanaWebhook(GrafanaWebhook):
        external_url: bounded_url = Field(default="", alias="externalURL")
        alerts: list[BoundedGrafanaAlert] = Field(max_length=limits.max_alerts_per_request)  # type: ignore[assignment]

    class BoundedMappedAlerts(MappedAlerts):
        alerts: list[BoundedPostableAlert] = Field(max_length=limits.max_alerts_per_request)  # type: ignore[assignment]

    return BoundedBodies(
        BoundedWebhookPayload, BoundedPostableAlerts, BoundedGrafanaWebhook, BoundedMappedAlerts
    )
