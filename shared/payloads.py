"""The request bodies ingest accepts, validated field by field.

Three shapes: the Alertmanager webhook (payload version 4), the list of
alerts Prometheus posts to an Alertmanager's ``/api/v2/alerts``, and Grafana
Alerting's webhook contact point (version 1). Field names are the senders'
own (camelCase), so error messages name the field exactly as it appears in
the body the operator is looking at. (A generic JSON webhook's alerts are
mapped to the ``/api/v2/alerts`` shape first: ``services.ingest.mapping``.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Alertmanager's own label name rule, checked by pydantic-core (no Python call per label).
LabelName = Annotated[str, StringConstraints(pattern=LABEL_NAME)]
LabelSet = dict[LabelName, str]
# Alertmanager's fingerprint: 64 bits as 16 lower-case hex digits.
Fingerprint = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


def _null_as_empty(value: object) -> object:
    """Senders write ``"annotations": null`` for none."""
    return {} if value is None else value


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

    _annotations_may_be_null = field_validator("annotations", mode="before")(_null_as_empty)


class PostableAlerts(RootModel[list[PostableAlert]]):
    pass


class MappedAlerts(_Body):
    """What a generic JSON webhook's mapping (``ingest.webhooks``) made of its
    body: alerts in the ``/api/v2/alerts`` shape."""

    alerts: list[PostableAlert]


class GrafanaAlert(WebhookAlert):
    """One alert of Grafana's webhook notification: Alertmanager's, with
    Grafana's links (and a fingerprint of its own, not read)."""

    fingerprint: str | None = None
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    value_string: str = Field(default="", alias="valueString")

    _annotations_may_be_null = field_validator("annotations", mode="before")(_null_as_empty)


class GrafanaWebhook(_Body):
    """Grafana Alerting's webhook contact point, version 1: Alertmanager's
    webhook body plus fields of Grafana's own (orgId, title, state, message),
    of which only what identifies the notification is read."""

    version: Literal["1"]
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[GrafanaAlert]


SHOWN_NAME = 64
"""Characters of a label name echoed back in a field path: the name may be huge."""


def shown(part: str) -> str:
    """A name as an error message echoes it: cut to ``SHOWN_NAME`` characters."""
    return part if len(part) <= SHOWN_NAME else part[:SHOWN_NAME] + "…"


def field_path(loc: tuple[Any, ...]) -> str:
    """``("alerts", 0, "labels")`` -> ``alerts[0].labels``, as the body reads."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{shown(part)}" if path else shown(str(part))
    return path or "(body)"
