"""The ``notify`` section: a routing tree and receivers, shaped like Alertmanager's.

Operators already know ``route:`` and ``receivers:`` from alertmanager.yml;
the same shape here means a route can be copied across with few changes.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, HttpUrl, field_validator, model_validator

from shared.config import CommonConfig, StrictModel
from shared.durations import Duration
from shared.matchers import Matcher, parse_matcher


class Authorization(StrictModel):
    type: str = "Bearer"
    credentials: str


class HttpConfig(StrictModel):
    authorization: Authorization | None = None


class WebhookConfig(StrictModel):
    url: HttpUrl
    send_resolved: bool = True
    http_config: HttpConfig = HttpConfig()
    bearer_token: str | None = Field(default=None, description="Shorthand for authorization.")
    timeout: Duration = Field(default="10s", validate_default=True)

    def authorization_header(self) -> str | None:
        if self.http_config.authorization is not None:
            auth = self.http_config.authorization
            return f"{auth.type} {auth.credentials}"
        if self.bearer_token:
            return f"Bearer {self.bearer_token}"
        return None


class LogConfig(StrictModel):
    send_resolved: bool = True


class Receiver(StrictModel):
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    log_configs: list[LogConfig] = Field(default_factory=list)


class Route(StrictModel):
    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[Route] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value

    def parsed_matchers(self) -> list[Matcher]:
        return [parse_matcher(text) for text in self.matchers]


class RetrySettings(StrictModel):
    initial_backoff: Duration = Field(default="500ms", validate_default=True)
    max_backoff: Duration = Field(default="30s", validate_default=True)
    max_elapsed: Duration = Field(
        default="5m", validate_default=True, description="Give up on a notification after this."
    )


class NotifySettings(StrictModel):
    listen: str = Field(default="127.0.0.1:9097", pattern=r"^[^:]*:\d+$")
    group_id: str = "corral-notify"
    route: Route = Route(receiver="log")
    receivers: list[Receiver] = Field(
        default_factory=lambda: [Receiver(name="log", log_configs=[LogConfig()])]
    )
    retry: RetrySettings = RetrySettings()

    @model_validator(mode="after")
    def _receivers_exist(self) -> Self:
        names = [r.name for r in self.receivers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"receiver names must be unique: {sorted(duplicates)}")
        if self.route.receiver is None:
            raise ValueError("route.receiver: the root route needs a receiver")
        for receiver in _route_receivers(self.route):
            if receiver not in names:
                raise ValueError(f"route names receiver {receiver!r}, which is not defined")
        return self


def _route_receivers(route: Route) -> list[str]:
    found = [route.receiver] if route.receiver else []
    for child in route.routes:
        found.extend(_route_receivers(child))
    return found


class NotifyConfig(CommonConfig):
    notify: NotifySettings = NotifySettings()
