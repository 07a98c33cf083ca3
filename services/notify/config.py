"""The ``notify`` section: a routing tree and receivers, shaped like Alertmanager's.

Operators already know ``route:`` and ``receivers:`` from alertmanager.yml;
the same shape (and the same field names: ``group_wait``, ``repeat_interval``,
``webhook_configs``, ``slack_configs``, ``pagerduty_configs``,
``email_configs``) means a route can be copied across with few changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

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
from shared.secrets import Secret, secret
from shared.timeintervals import NamedTimeInterval, check_names

Template = Annotated[str, AfterValidator(check_template)]
"""Jinja2 text a user may override; its syntax is checked with the config."""


class WithSecrets(StrictModel):
    """A model with secret fields, each also settable as ``<field>_file``
    (the file's content, read at start and whenever it changes)."""

    SECRETS: ClassVar[tuple[str, ...]] = ()
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _one_source_each(self) -> Self:
        for name in self.SECRETS:
            inline, path = getattr(self, name), getattr(self, f"{name}_file")
            if inline is not None and path is not None:
                raise ValueError(f"give {name} or {name}_file, not both")
            if name in self.REQUIRED and inline is None and path is None:
                raise ValueError(f"{name} (or {name}_file) is required")
        return self

    def secret(self, name: str) -> Secret | None:
        """The current value of a secret field; reads ``<name>_file`` when set."""
        inline = getattr(self, name)
        return secret(None if inline is None else str(inline), getattr(self, f"{name}_file"), name)


class Authorization(WithSecrets):
    """Prometheus' `authorization` block: an Authorization header on every request."""

    SECRETS = ("credentials",)
    REQUIRED = ("credentials",)
    type: str = "Bearer"
    """The scheme in front of the credentials."""
    credentials: str | None = None
    """The token."""
    credentials_file: str | None = None


class HttpConfig(StrictModel):
    """Prometheus' `http_config`, as far as a webhook needs it."""

    authorization: Authorization | None = None
    """Authorization header (type and credentials)."""


class Limits(StrictModel):
    """Per receiver, so one slow or rate-limited service does not hold up the others."""

    concurrency: int = Field(default=4, ge=1, description="Deliveries in flight at once.")
    per_second: float = Field(default=0, ge=0, description="Attempts per second; 0: no limit.")
    burst: int = Field(default=5, ge=1, description="Attempts at once after a quiet period.")


class IntegrationConfig(StrictModel):
    """What every integration of a receiver has."""

    send_resolved: bool = True
    """Also notify when the incident resolves."""
    timeout: Duration = Field(default="10s", validate_default=True)
    """Longest one attempt may take; a timeout is retried."""


class WebhookConfig(IntegrationConfig, WithSecrets):
    """An HTTP POST of the incident as JSON (docs/notify.md, "The webhook body"), or of
    Alertmanager's webhook body."""

    SECRETS = ("url", "bearer_token", "hmac_secret")
    REQUIRED = ("url",)
    url: HttpUrl | None = None
    """Where to POST (it may carry a token: then prefer `url_file`)."""
    url_file: str | None = Field(default=None, description="File holding the URL.")
    http_config: HttpConfig = HttpConfig()
    """Authorization of the requests."""
    bearer_token: str | None = Field(default=None, description="Shorthand for authorization.")
    bearer_token_file: str | None = None
    hmac_secret: str | None = Field(
        default=None,
        description="Signs timestamp and body: X-Corral-Timestamp, X-Corral-Signature.",
    )
    hmac_secret_file: str | None = None
    payload: Literal["corral", "alertmanager"] = Field(
        default="corral",
        description="corral: Corral's incident body; alertmanager: Alertmanager's webhook "
        "body (version 4), for receivers written for Alertmanager.",
    )

    @model_validator(mode="after")
    def _one_authorization(self) -> Self:
        if self.http_config.authorization is not None and (
            self.bearer_token is not None or self.bearer_token_file is not None
        ):
            raise ValueError("give http_config.authorization or bearer_token, not both")
        return self


class SlackConfig(IntegrationConfig, WithSecrets):
    """An incoming webhook (``api_url``), or a Slack app's bot token (``app_token``):
    one message per incident, updated as it changes, with buttons."""

    SECRETS = ("api_url", "app_token")
    api_url: HttpUrl | None = Field(
        default=None, description="The incoming webhook URL Slack gave you."
    )
    api_url_file: str | None = None
    app_token: str | None = Field(
        default=None,
        description="App mode: the app's bot token (xoxb-…, scope chat:write); needs channel.",
    )
    app_token_file: str | None = None
    app_url: HttpUrl = Field(
        default=HttpUrl("https://slack.com/api/"), description="App mode: Slack's Web API."
    )
    channel: str | None = Field(
        default=None,
        description="Incoming webhook: overrides its default channel. App mode (required): "
        "the channel's id (C…) or name.",
    )
    username: str | None = None
    """Overrides the webhook's default name."""
    icon_emoji: str | None = None
    """Overrides the webhook's icon, e.g. `:rotating_light:`."""
    title: Template | None = Field(default=None, description="Header; plain text.")
    text: Template | None = Field(default=None, description="Summary; Slack mrkdwn.")
    link: Template | None = Field(default=None, description="URL of the 'Open' button.")

    @model_validator(mode="after")
    def _one_mode(self) -> Self:
        webhook = self.api_url is not None or self.api_url_file is not None
        app = self.app_token is not None or self.app_token_file is not None
        if webhook == app:
            raise ValueError("give api_url (an incoming webhook) or app_token (a Slack app)")
        if app and not self.channel:
            raise ValueError("a Slack app (app_token) needs channel")
        return self

    @property
    def app(self) -> bool:
        return self.app_token is not None or self.app_token_file is not None


PagerDutySeverity = Literal["critical", "error", "warning", "info"]


def _same_severities() -> dict[str, PagerDutySeverity]:
    return {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutyConfig(IntegrationConfig, WithSecrets):
    """PagerDuty Events API v2: one alert per incident (dedup_key = incident id),
    resolved with it."""

    SECRETS = ("routing_key",)
    REQUIRED = ("routing_key",)
    routing_key: str | None = Field(
        default=None, min_length=1, description="Integration key of the service."
    )
    routing_key_file: str | None = None
    url: HttpUrl = HttpUrl("https://events.pagerduty.com/v2/enqueue")
    """The Events API v2 endpoint."""
    client: str = "Corral"
    """Shown in PagerDuty as the monitoring tool."""
    client_url: Template | None = None
    """Link next to `client` (http or https only)."""
    summary: Template | None = None
    """The alert's summary; default: priority and title."""
    source: Template | None = None
    """Where it happens."""
    component: Template | None = None
    """The affected part of `source`."""
    group: Template | None = None
    """A logical grouping, e.g. the service."""
    class_: Template | None = Field(default=None, alias="class")
    """The kind of event."""
    severity: dict[str, PagerDutySeverity] = Field(
        default_factory=_same_severities,
        description="Corral severity to PagerDuty severity; anything else becomes error.",
    )


class TlsConfig(StrictModel):
    """How the SMTP server's certificate is checked."""

    ca_file: str | None = None
    """CA bundle for the server's certificate; default: the system's."""
    insecure_skip_verify: bool = False
    """Accept any certificate (testing only)."""

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"ca_file {value!r} does not exist")
        return value


class EmailConfig(IntegrationConfig, WithSecrets):
    """An email per notification, over SMTP with STARTTLS."""

    SECRETS = ("auth_password",)
    to: list[str] = Field(min_length=1)
    """Recipients; a list or comma-separated text."""
    from_: str = Field(alias="from")
    """The From address."""
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$", description="host:port of the SMTP server.")
    hello: str | None = None
    """Name sent in EHLO."""
    auth_username: str | None = None
    """SMTP AUTH user; unset: no AUTH."""
    auth_password: str | None = None
    """Prefer `auth_password_file`."""
    auth_password_file: str | None = None
    require_tls: bool = Field(default=True, description="Refuse to send without STARTTLS.")
    insecure_auth: bool = Field(
        default=False,
        description="Allow AUTH over a connection without TLS (the password travels in clear).",
    )
    tls_config: TlsConfig = TlsConfig()
    """How the server's certificate is checked."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers."""
    subject: Template | None = None
    """The subject line."""
    text: Template | None = None
    """The plain-text part."""
    html: Template | None = None
    """The HTML part."""

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class TeamsConfig(IntegrationConfig, WithSecrets):
    """Microsoft Teams through a Workflows webhook ("When a Teams webhook request is
    received"): an Adaptive Card posted to a channel or chat."""

    SECRETS = ("webhook_url",)
    REQUIRED = ("webhook_url",)
    webhook_url: HttpUrl | None = Field(
        default=None, description="The workflow's URL (it carries its signature: a secret)."
    )
    webhook_url_file: str | None = None
    title: Template | None = Field(default=None, description="Card title; plain text.")
    text: Template | None = Field(default=None, description="Summary; Teams markdown.")
    link: Template | None = Field(default=None, description="URL of the 'Open' button.")


class OpsgenieResponder(StrictModel):
    """Who Opsgenie notifies: one of id, name (teams, schedules, escalations) or username."""

    type: Literal["team", "user", "escalation", "schedule"]
    """What kind of responder the identifier names."""
    id: str | None = None
    """Opsgenie's id of the responder."""
    name: str | None = None
    """Name of the team, schedule or escalation."""
    username: str | None = None
    """The user's login."""

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        given = [f for f in ("id", "name", "username") if getattr(self, f)]
        if len(given) != 1:
            raise ValueError("give exactly one of id, name and username")
        if self.username and self.type != "user":
            raise ValueError("username identifies a responder of type user")
        return self


class OpsgenieConfig(IntegrationConfig, WithSecrets):
    """Opsgenie's Alert API v2: an alert per incident (``alias`` = incident id),
    closed when it resolves, acknowledged when a silence covers it."""

    SECRETS = ("api_key",)
    REQUIRED = ("api_key",)
    api_key: str | None = Field(default=None, min_length=1, description="An API integration key.")
    api_key_file: str | None = None
    api_url: HttpUrl = Field(
        default=HttpUrl("https://api.opsgenie.com/"),
        description="https://api.eu.opsgenie.com/ for the EU instance.",
    )
    message: Template | None = Field(default=None, description="Alert text, 130 characters.")
    description: Template | None = None
    """The alert's description."""
    source: Template | None = None
    """Opsgenie's source field."""
    entity: Template | None = None
    """What the alert is about, e.g. the service."""
    priority: Template | None = Field(
        default=None, description="P1 to P5; default: the incident's priority."
    )
    note: Template | None = None
    """Note added to the alert."""
    tags: list[Template] = Field(default_factory=list)
    """Tags of the alert."""
    actions: list[str] = Field(default_factory=list)
    """Custom actions offered on the alert."""
    details: dict[str, Template] = Field(default_factory=dict)
    """Extra properties (key → template)."""
    responders: list[OpsgenieResponder] = Field(default_factory=list)
    """Teams, users, escalations or schedules notified."""
    update_alerts: bool = Field(
        default=False,
        description="Also update message, description and priority of an open alert "
        "when the incident changes (Opsgenie keeps the first ones otherwise).",
    )


class DiscordConfig(IntegrationConfig, WithSecrets):
    """A Discord channel webhook: an embed per notification."""

    SECRETS = ("webhook_url",)
    REQUIRED = ("webhook_url",)
    webhook_url: HttpUrl | None = Field(
        default=None, description="The channel webhook's URL (it carries its token)."
    )
    webhook_url_file: str | None = None
    title: Template | None = Field(default=None, description="Embed title; plain text.")
    message: Template | None = Field(default=None, description="Embed description; markdown.")
    content: Template | None = Field(default=None, description="Text above the embed.")
    username: str | None = None
    """Overrides the webhook's default name."""
    avatar_url: HttpUrl | None = None
    """Overrides the webhook's avatar."""
    link: Template | None = Field(default=None, description="The embed title's link.")


class TelegramConfig(IntegrationConfig, WithSecrets):
    """A Telegram bot's message to a chat."""

    SECRETS = ("bot_token",)
    REQUIRED = ("bot_token",)
    api_url: HttpUrl = HttpUrl("https://api.telegram.org")
    """The Bot API endpoint (a local Bot API server, say)."""
    bot_token: str | None = Field(default=None, min_length=1, description="From @BotFather.")
    bot_token_file: str | None = None
    chat_id: int = Field(description="The chat, group or channel (negative for groups).")
    message_thread_id: int | None = Field(default=None, description="A forum topic.")
    message: Template | None = Field(
        default=None, description="Text in Telegram's HTML (parse_mode HTML) or plain."
    )
    parse_mode: Literal["HTML", ""] = Field(
        default="HTML", description='"" sends the message as plain text.'
    )
    disable_notifications: bool = Field(default=False, description="Deliver silently.")


class LogConfig(StrictModel):
    """A JSON log line per notification: for trying routes without a real receiver."""

    send_resolved: bool = True
    """Also notify when the incident resolves."""


class Receiver(StrictModel):
    """A named set of integrations that routes send to; every integration listed gets each
    notification."""

    name: str = Field(min_length=1)
    """What routes name."""
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    """HTTP POSTs of the incident."""
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    """Slack messages."""
    pagerduty_configs: list[PagerDutyConfig] = Field(default_factory=list)
    """PagerDuty alerts."""
    email_configs: list[EmailConfig] = Field(default_factory=list)
    """Emails."""
    msteams_configs: list[TeamsConfig] = Field(default_factory=list)
    """Microsoft Teams cards."""
    opsgenie_configs: list[OpsgenieConfig] = Field(default_factory=list)
    """Opsgenie alerts."""
    discord_configs: list[DiscordConfig] = Field(default_factory=list)
    """Discord messages."""
    telegram_configs: list[TelegramConfig] = Field(default_factory=list)
    """Telegram messages."""
    log_configs: list[LogConfig] = Field(default_factory=list)
    """Log lines."""
    limits: Limits = Limits()
    """Concurrency and rate of this receiver's deliveries."""


class Route(StrictModel):
    """Alertmanager's routing tree: the first matching child takes an incident (and its children,
    depth first), unless `continue`."""

    receiver: str | None = None
    """Receiver of the incidents this route takes; inherited by children."""
    matchers: MatcherTexts = Field(default_factory=list)
    """Alertmanager matchers over the incident's labels; all must match."""
    continue_: bool = Field(default=False, alias="continue")
    """Go on to later siblings after this route matched."""
    group_wait: Duration | None = Field(
        default=None, description="Delay before the first notification of a new incident."
    )
    group_interval: Duration | None = Field(
        default=None,
        description="After an incident's first notification, its later changes reach a "
        "receiver at most once per interval, together; a resolve, a raise into "
        "paging_priorities and an escalation step are sent at once. 0s: every change at once.",
    )
    repeat_interval: Duration | None = Field(
        default=None, description="Resend an incident still firing after this; 0 never."
    )
    mute_time_intervals: list[str] = Field(
        default_factory=list,
        description="Names of time_intervals during which this route sends nothing "
        "(held until the interval ends); not inherited.",
    )
    active_time_intervals: list[str] = Field(
        default_factory=list,
        description="Names of time_intervals outside which this route sends nothing; "
        "empty: always active. Not inherited.",
    )
    escalation: str | None = Field(
        default=None,
        description="An escalation policy: its steps' receivers are paged in turn until "
        "someone acknowledges, instead of this route's receiver. Not inherited.",
    )
    routes: list[Route] = Field(default_factory=list)
    """Child routes, tried in order."""

    def parsed_matchers(self) -> list[Matcher]:
        return [parse_matcher(text) for text in self.matchers]


class EscalationStep(StrictModel):
    after: Duration = Field(description="When, from the start of a run of the policy.")
    receivers: list[str] = Field(min_length=1, description="The receivers this step pages.")


class EscalationPolicy(StrictModel):
    """Ordered steps paged in turn until the incident is acknowledged or resolved."""

    name: str = Field(min_length=1, description="What routes name in their escalation.")
    steps: list[EscalationStep] = Field(
        min_length=1, description="In order of after; the first usually after 0m."
    )
    repeat: int = Field(
        default=0, ge=0, le=10, description="Runs of all the steps after the first one."
    )
    repeat_after: Duration | None = Field(
        default=None,
        description="From the start of one run to the start of the next; required with "
        "repeat, and later than the last step's after.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        afters = [step.after for step in self.steps]
        if afters != sorted(afters):
            raise ValueError(f"escalation policy {self.name!r}: steps must be in order of after")
        if self.repeat:
            if self.repeat_after is None:
                raise ValueError(f"escalation policy {self.name!r}: repeat needs repeat_after")
            if self.repeat_after <= afters[-1]:
                raise ValueError(
                    f"escalation policy {self.name!r}: repeat_after must be later than the "
                    "last step's after"
                )
        return self


Priority = Annotated[str, Field(pattern=r"^P[1-5]$")]


class RetrySettings(StrictModel):
    """Backoff between attempts at a notification the receiver did not take."""

    initial_backoff: Duration = Field(default="500ms", validate_default=True)
    """Wait after the first failed attempt; doubles each time."""
    max_backoff: Duration = Field(default="30s", validate_default=True)
    """Longest wait between attempts."""
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
    """Characters of a silence's comment."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """Largest request body of the silences API."""


class NotifySettings(StrictModel):
    """Routing and delivery of incident revisions (docs/notify.md)."""

    listen: str = Field(default="127.0.0.1:9097", pattern=r"^[^:]*:\d+$")
    """host:port of the HTTP listener (silences, Alertmanager API v2, /metrics, health)."""
    group_id: str = "corral-notify"
    """Consumer group of notify workers; replicas share it and split the partitions."""
    route: Route = Route(receiver="log")
    """The routing tree's root; its receiver takes what no child route matches."""
    receivers: list[Receiver] = Field(
        default_factory=lambda: [Receiver(name="log", log_configs=[LogConfig()])]
    )
    """The receivers routes name."""
    time_intervals: list[NamedTimeInterval] = Field(
        default_factory=list,
        description="Alertmanager's time_intervals: named recurring windows (business hours, "
        "maintenance) that routes mute or activate by name.",
    )
    templates: list[str] = Field(
        default_factory=list,
        description="Jinja2 files whose macros and blocks the template fields can import.",
    )
    paging_priorities: list[Priority] = Field(
        default_factory=lambda: ["P1", "P2"],
        description="Priorities that page a person: a change into them is never held back "
        "by group_interval.",
    )
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    retry: RetrySettings = RetrySettings()
    """Retries of failed deliveries."""
    silences: SilenceLimits = SilenceLimits()
    shutdown_grace: Duration = Field(
        default="5s",
        validate_default=True,
        description="How long deliveries in flight may finish when the worker stops.",
    )
    retention: Duration = Field(
        default="1h",
        validate_default=True,
        description=(
            "How long after an incident resolved its sent log entries are kept (then "
            "tombstoned); keep it longer than triage's lifecycle.reopen_window."
        ),
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
        policies = [p.name for p in self.escalation_policies]
        if len(set(policies)) != len(policies):
            raise ValueError("escalation policy names must be unique")
        for policy in self.escalation_policies:
            for i, step in enumerate(policy.steps):
                for receiver in step.receivers:
                    if receiver not in names:
                        raise ValueError(
                            f"escalation policy {policy.name!r} step {i + 1} names receiver "
                            f"{receiver!r}, which is not defined"
                        )
        for name in _route_escalations(self.route):
            if name not in policies:
                raise ValueError(f"route names escalation policy {name!r}, which is not defined")
        return self

    @model_validator(mode="after")
    def _time_intervals_exist(self) -> Self:
        names = [t.name for t in self.time_intervals]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"time interval names must be unique: {sorted(duplicates)}")
        if self.route.mute_time_intervals or self.route.active_time_intervals:
            raise ValueError(
                "route: the root route cannot have mute_time_intervals or active_time_intervals "
                "(put them on a child route)"
            )
        for path, route in _routes(self.route, "route"):
            for field in ("mute_time_intervals", "active_time_intervals"):
                check_names(getattr(route, field), names, f"{path}.{field}")
        return self


def _routes(route: Route, path: str) -> list[tuple[str, Route]]:
    found = [(path, route)]
    for i, child in enumerate(route.routes):
        found.extend(_routes(child, f"{path}.routes[{i}]"))
    return found


def _route_escalations(route: Route) -> list[str]:
    found = [route.escalation] if route.escalation else []
    for child in route.routes:
        found.extend(_route_escalations(child))
    return found


def _route_receivers(route: Route) -> list[str]:
    found = [route.receiver] if route.receiver else []
    for child in route.routes:
        found.extend(_route_receivers(child))
    return found


class NotifyConfig(CommonConfig):
    notify: NotifySettings = NotifySettings()
