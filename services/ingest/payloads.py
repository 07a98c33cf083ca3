"""The request bodies ingest accepts, validated field by field.

Two shapes: the Alertmanager webhook (payload version 4), and the list of
alerts Prometheus posts to an Alertmanager's ``/api/v2/alerts``. Field names
are the senders' own (camelCase), so error messages name the field exactly as
it appears in the body the operator is looking at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator

from services.ingest.config import IngestLimits

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Alertmanager's own label name rule, checked by pydantic-core (no Python call per label).
LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME)]
LabelSet = dict[LabelName, str]
# Alertmanager's fingerprint: 64 bits as 16 lower-case hex digits.
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WebhookAlert(_Body):
    status: Literal["firing", "resolved"]
    labels: LabelSet = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: Fingerprint | None = None


class WebhookPayload(_Body):
    """Alertmanager's webhook notification, version 4."""

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert]


class PostableAlert(_Body):
    """One alert as Prometheus posts it to Alertmanager's API v2."""

    labels: LabelSet = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")

    @field_validator("annotations", mode="before")
    @classmethod
    def _annotations_may_be_null(cls, value: object) -> object:
        return {} if value is None else value


class PostableAlerts(RootModel[list[PostableAlert]]):
    pass


@dataclass(frozen=True)
class BoundedBodies:
    """The two body models with ``ingest.limits`` applied, checked by pydantic-core
    while it parses (no second pass over the alerts in Python)."""

    webhook: type[WebhookPayload]
    api_v2: type[PostableAlerts]


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

    return BoundedBodies(BoundedWebhookPayload, BoundedPostableAlerts)
