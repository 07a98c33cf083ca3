"""The ``notify`` section: a routing tree and receivers, shaped like Alertmanager's.

Operators already know ``route:`` and ``receivers:`` from alertmanager.yml;
the same shape (and the same field names: ``group_wait``, ``repeat_interval``,
``webhook_configs``, ``slack_configs``, ``pagerduty_configs``,
``email_configs``) means a route can be copied across with few changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from services.notify.templates import check_template, check_template_file
from shared.config import CommonConfig, StrictModel
from shared.durations import Duration
from shared.matchers import Matcher, MatcherTexts, parse_matcher

Template = Annotated[str, AfterValidator(check_template)]
"""Jinja2 text a user may override; its syntax is checked with the config."""


class Authorization(StrictModel):
    type: str = "Bearer"
    credentials: str


class HttpConfig(StrictModel):
    authorization: Authorization | None = None


class Limits(StrictModel):
    """Per receiver, so one slow or rate-limited service does not hold up the others."""

    concurrency: int = Field(default=4, ge=1, description="Deliveries in flight at once.")
    per_second: float = Field(default=0, ge=0, description="Attempts per second; 0: no limit.")
    burst: int = Field(default=5, ge=1, description="Attempts at once after a quiet period.")


class IntegrationConfig(StrictModel):
    send_resolved: bool = True
    timeout: Duration = Field(default="10s", validate_default=True)


class WebhookConfig(IntegrationConfig):
    url: HttpUrl
    http_config: HttpConfig = HttpConfig()
    bearer_token: str | None = Field(default=None, description="Shorthand for authorization.")
    hmac_secret: str | None = Field(
        default=None, description="Signs the body: X-Corral-Signature: sha256=<hex HMAC>."
    )

    def authorization_header(self) -> str | None:
        if self.http_config.authorization is not None:
            auth = self.http_config.authorization
            return f"{auth.type} {auth.credentials}"
        if self.bearer_token:
            return f"Bearer {self.bearer_token}"
        return None


class SlackConfig(IntegrationConfig):
    api_url: HttpUrl = Field(description="The incoming webhook URL Slack gave you.")
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    title: Template | None = Field(default=None, description="Header; plain text.")
    text: Template | None = Field(default=None, description="Summary; Slack mrkdwn.")
    link: Template | None = Field(default=None, description="URL of the 'Open' button.")


class PagerDutyConfig(IntegrationConfig):
    routing_key: str = Field(min_length=1, description="Integration key of the service.")
    url: HttpUrl = HttpUrl("https://events.pagerduty.com/v2/enqueue")
    client: str = "Corral"
    client_url: Template | None = None
    summary: Template | None = None
    source: Template | None = None
    component: Template | None = None
    group: Template | None = None
    class_: Template | None = Field(default=None, alias="class")
    severity: dict[str, Literal["critical", "error", "warning", "info"]] = Field(
        default_factory=lambda: {"critical": "critical", "warning": "warning", "info": "info"},
        description="Corral severity to PagerDuty severity; anything else becomes error.",
    )


class TlsConfig(StrictModel):
    ca_file: str | None = None
    insecure_skip_verify: bool = False

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"ca_file {value!r} does not exist")
        return value


class EmailConfig(IntegrationConfig):
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$", description="host:port of the SMTP server.")
    hello: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    require_tls: bool = Field(default=True, description="Refuse to send without STARTTLS.")
    tls_config: TlsConfig = TlsConfig()
    headers: dict[str, str] = Field(default_factory=dict)
    subject: Template | None = None
    text: Template | None = None
    html: Template | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class LogConfig(StrictModel):
    send_resolved: bool = True


class Receiver(StrictModel):
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    pagerduty_configs: list[PagerDutyConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)
    log_configs: list[LogConfig] = Field(default_factory=list)
    limits: Limits = Limits()


class Route(StrictModel):
    receiver: str | None = None
    matchers: MatcherTexts = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    group_wait: Duration | None = Field(
        default=None, description="Delay before the first notification of a new incident."
    )
    repeat_interval: Duration | None = Field(
        default=None, description="Resend an incident still firing after this; 0 never."
    )
    routes: list[Route] = Field(default_factory=list)

    def parsed_matchers(self) -> list[Matcher]:
        return [parse_matcher(text) for text in self.matchers]


class RetrySettings(StrictModel):
    initial_backoff: Duration = Field(default="500ms", validate_default=True)
    max_backoff: Duration = Field(default="30s", validate_default=True)
    max_elapsed: Duration = Field(
        default="5m",
        validate_default=True,
        description="Give up on a notification after this and dead-letter it.",
    )


class SilenceLimits(StrictModel):
    """Bounds on the silences API: over one, 413 (body) or 422 naming the field."""

    max_silences: int = Field(
        default=10_000, ge=1, description="Active and pending silences at once."
    )
    max_matchers: int = Field(default=32, ge=1, description="Matchers in one silence.")
    max_matcher_length: int = Field(
        default=1024, ge=16, description="Characters of one matcher's value (or text)."
    )
    max_duration: Duration = Field(
        default="366d", validate_default=True, description="From startsAt to endsAt."
    )
    max_comment_length: int = Field(default=4096, ge=16)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)


class NotifySettings(StrictModel):
    listen: str = Field(default="127.0.0.1:9097", pattern=r"^[^:]*:\d+$")
    group_id: str = "corral-notify"
    route: Route = Route(receiver="log")
    receivers: list[Receiver] = Field(
        default_factory=lambda: [Receiver(name="log", log_configs=[LogConfig()])]
    )
    templates: list[str] = Field(
        default_factory=list,
        description="Jinja2 files whose macros and blocks the template fields can import.",
    )
    retry: RetrySettings = RetrySettings()
    silences: SilenceLimits = SilenceLimits()
    shutdown_grace: Duration = Field(
        default="5s",
        validate_default=True,
        description="How long deliveries in flight may finish when the worker stops.",
    )

    @field_validator("templates")
    @classmethod
    def _template_files(cls, value: list[str]) -> list[str]:
        names = [Path(path).name for path in value]
        if len(set(names)) != len(names):
            raise ValueError("template files must have distinct file names")
        for path in value:
            check_template_file(path)
        return value

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
