"""The ``incidents`` section: where the store lives, the roles, the inbound integrations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.config import CommonConfig, StrictModel
from shared.durations import Duration
from shared.messages.action import BUILTIN_ROLES, ROLE_PATTERN
from shared.secrets import Secret as SecretValue
from shared.secrets import secret
from shared.web.client import HttpClientConfig


class Secret(StrictModel):
    """A secret given in the file or the environment, or read from ``*_file``
    (again whenever the file changes, as every secret of Corral's config)."""

    @staticmethod
    def _secret(value: SecretStr | None, file: str | None, name: str) -> SecretValue | None:
        return secret(None if value is None else value.get_secret_value(), file, name)

    @staticmethod
    def _one_of(value: SecretStr | None, file: str | None, name: str) -> None:
        if value is not None and file is not None:
            raise ValueError(f"give {name} or {name}_file, not both")
        if file is not None and not Path(file).is_file():
            raise ValueError(f"{name}_file {file!r} does not exist")


class PagerDutyInbound(Secret):
    """PagerDuty v3 webhook subscriptions (incident.acknowledged, .resolved,
    .unacknowledged) posted to /api/v1/integrations/pagerduty."""

    webhook_secret: SecretStr | None = Field(
        default=None, description="The subscription's signing secret (X-PagerDuty-Signature)."
    )
    webhook_secret_file: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_of(self.webhook_secret, self.webhook_secret_file, "webhook_secret")
        return self

    def secret(self) -> SecretValue | None:
        return self._secret(self.webhook_secret, self.webhook_secret_file, "webhook_secret")


class SlackInbound(Secret):
    """Slack interactivity (Acknowledge and Resolve buttons) posted to
    /api/v1/integrations/slack/interactivity."""

    signing_secret: SecretStr | None = Field(
        default=None, description="The Slack app's signing secret."
    )
    signing_secret_file: str | None = None
    response_url_prefix: str = Field(
        default="https://hooks.slack.com/",
        description="Replies to a click (e.g. 'already acknowledged') go only to "
        "response_urls starting with this.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_of(self.signing_secret, self.signing_secret_file, "signing_secret")
        return self

    def secret(self) -> SecretValue | None:
        return self._secret(self.signing_secret, self.signing_secret_file, "signing_secret")


class WorkerApi(StrictModel):
    """Another worker's API that the board's buttons reach through this worker."""

    url: str = Field(description="Its listen address as this worker reaches it.")
    http_config: HttpClientConfig = Field(
        default_factory=HttpClientConfig,
        description="Credentials (a user with that worker's admin role, password in a file) "
        "and TLS, in Prometheus' http_config format: basic_auth, authorization, tls_config.",
    )
    timeout: Duration = Field(
        default="10s", validate_default=True, description="How long it may take to answer."
    )


URL = r"^https?://[^/?#]+/?$"


class NotifyApi(WorkerApi):
    """notify's API, where the board's Silence button makes silences."""

    url: str = Field(default="http://127.0.0.1:9097", pattern=URL, description="notify's address.")


class IngestApi(WorkerApi):
    """ingest's API, where the board's verdicts (was this page right?) go."""

    url: str = Field(default="http://127.0.0.1:9095", pattern=URL, description="ingest's address.")


class BoardSettings(StrictModel):
    """The live incident board, served at / by this worker."""

    max_streams: int = Field(
        default=1000,
        ge=1,
        description="Pages following changes live (Server-Sent Events) at once; more are "
        "answered 503 and retry.",
    )
    max_rows: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Incidents one board shows; it says when more match.",
    )


class IncidentsSettings(StrictModel):
    """The incident store, its API and board, and the inbound PagerDuty and Slack integrations
    (docs/incidents.md)."""

    listen: str = Field(default="127.0.0.1:9098", pattern=r"^[^:]*:\d+$")
    """host:port of the HTTP listener (API, board, integrations, /metrics, health)."""
    group_id: str = Field(
        default="corral-incidents",
        description="Consumer group prefix; the store's id is appended, so workers sharing "
        "a store share the partitions and a store of its own reads them all.",
    )
    store: str = Field(
        default="sqlite",
        description="`sqlite` (a file under data_dir) or a postgresql:// URL; put the "
        "password in PGPASSWORD or a passfile rather than the URL.",
    )
    data_dir: str = Field(
        default="~/.local/share/corral", description="Where the SQLite store is kept."
    )
    roles: list[str] = Field(
        default_factory=list,
        description=f"Roles besides {', '.join(BUILTIN_ROLES)}, e.g. scribe.",
    )
    team_label: str = Field(default="team", description="The label naming an incident's team.")
    service_labels: list[str] = Field(
        default_factory=lambda: ["service", "job"],
        description="Labels naming the services an alert is about, first found wins.",
    )
    action_wait: Duration = Field(
        default="2s",
        validate_default=True,
        description="How long an action request waits for the store to show the action "
        "(200) before answering 202 with it accepted.",
    )
    retention: Duration = Field(
        default="0s",
        validate_default=True,
        description="Forget incidents resolved longer ago than this; 0s keeps them.",
    )
    max_body_bytes: int = Field(default=65_536, ge=1024)
    """Largest request body; larger ones get 413."""
    pagerduty: PagerDutyInbound = PagerDutyInbound()
    slack: SlackInbound = SlackInbound()
    board: BoardSettings = BoardSettings()
    notify_api: NotifyApi = NotifyApi()
    ingest_api: IngestApi = IngestApi()

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value != "sqlite" and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("store must be 'sqlite' or a postgresql:// URL")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        for role in value:
            if not re.match(ROLE_PATTERN, role):
                raise ValueError(f"role {role!r}: lower case letters, digits and _")
        return value

    def all_roles(self) -> list[str]:
        return [*BUILTIN_ROLES, *(r for r in self.roles if r not in BUILTIN_ROLES)]


class IncidentsConfig(CommonConfig):
    incidents: IncidentsSettings = IncidentsSettings()
