"""The request bodies ingest accepts, validated field by field.

Two shapes: the Alertmanager webhook (payload version 4), and the list of
alerts Prometheus posts to an Alertmanager's ``/api/v2/alerts``. Field names
are the senders' own (camelCase), so error messages name the field exactly as
it appears in the body the operator is looking at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, field_validator

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Go's zero time: Alertmanager's way of writing "no end time" for firing alerts.
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _check_label_names(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
    return labels


def _zero_is_none(value: datetime | None) -> datetime | None:
    if value is None or value.replace(tzinfo=value.tzinfo or UTC) <= _ZERO_TIME:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


LabelSet = Annotated[dict[str, str], AfterValidator(_check_label_names)]
Timestamp = Annotated[datetime | None, AfterValidator(_zero_is_none)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class WebhookAlert(_Body):
    status: Literal["firing", "resolved"]
    labels: LabelSet = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Timestamp = Field(default=None, alias="startsAt")
    ends_at: Timestamp = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str | None = None


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
    starts_at: Timestamp = Field(default=None, alias="startsAt")
    ends_at: Timestamp = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")

    @field_validator("annotations", mode="before")
    @classmethod
    def _annotations_may_be_null(cls, value: object) -> object:
        return {} if value is None else value


class PostableAlerts(RootModel[list[PostableAlert]]):
    pass
