"""The ``triage`` section of the configuration, with the files it refers to."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, PrivateAttr, RootModel, field_validator, model_validator

from services.triage.scoring.settings import ScoringSettings
from services.triage.servicemap import find_cycle
from shared.config import CommonConfig, ConfigError, StrictModel, read_yaml, validate
from shared.durations import Duration
from shared.matchers import Matcher, parse_matchers


def compile_matchers(texts: list[str]) -> list[Matcher]:
    """Alertmanager's list form: each item one matcher or a ``{a="b", c=~"d"}`` set."""
    return [matcher for text in texts for matcher in parse_matchers(text)]


class DedupSettings(StrictModel):
    """Which alerts are the same alert (docs/triage.md)."""

    ignore_labels: list[str] = Field(
        default_factory=list,
        description="Labels left out of the identity hash of alerts without an "
        "Alertmanager fingerprint (e.g. the replica label of an HA Prometheus pair).",
    )


class FlappingSettings(StrictModel):
    """An alert that keeps changing status is marked flapping instead of paging at every change."""

    changes: int = Field(
        default=4, ge=1, description="More status changes than this within `window` is flapping."
    )
    window: Duration = Field(default="20m", validate_default=True)
    """The span over which status changes are counted."""
    settle: Duration = Field(
        default="10m",
        validate_default=True,
        description="A flapping alert settles after this long without a status change.",
    )


class CauseRule(StrictModel):
    """Alertmanager's ``inhibit_rules`` shape: a target (symptom) joins its source (cause)."""

    name: str = ""
    """Shown in the incident's explanation; default: the rule's matchers."""
    source_matchers: list[str] = Field(min_length=1)
    """Matchers of the cause alert."""
    target_matchers: list[str] = Field(min_length=1)
    """Matchers of the symptom alerts."""
    equal: list[str] = Field(default_factory=list)
    """Labels that must have equal values on cause and symptom (e.g. cluster)."""

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        compile_matchers(value)  # raises ValueError naming the bad matcher
        return value


class CauseSettings(StrictModel):
    """Cause → symptom rules: a symptom joins the incident of its cause (docs/triage.md; `corral
    rules suggest` mines them from history)."""

    window: Duration = Field(
        default="30m",
        validate_default=True,
        description="How long after a cause's incident last changed a symptom may still join.",
    )
    hold: Duration = Field(
        default="0s",
        validate_default=True,
        description="An incident of symptoms waiting for their cause is announced this long "
        "after it opened, unless the cause (or an alert that waits for nothing) joins it first.",
    )
    rules: list[CauseRule] = Field(default_factory=list)
    """The rules, Alertmanager's inhibit_rules shape; `corral import` converts them."""


class ServiceMap(RootModel[dict[str, list[str]]]):
    """A topology file: each service with the services it depends on."""


class TopologySettings(StrictModel):
    """Service dependencies: an alert of a service joins the incident of a service it depends on."""

    label: str = Field(default="service", description="The label naming an alert's service.")
    depends_on: dict[str, list[str]] = Field(
        default_factory=dict, description="Service → the services it depends on."
    )
    file: str | None = Field(default=None, description="A YAML file of the same map.")
    _services: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load(self) -> Self:
        services = {name: list(deps) for name, deps in self.depends_on.items()}
        source = None
        if self.file is not None:
            source = read_yaml(self.file)
            loaded = validate(ServiceMap, source).root
            for name, deps in loaded.items():
                services.setdefault(name, []).extend(d for d in deps if d not in services[name])
        cycle = find_cycle(services)
        if cycle is not None:
            problem = f"dependency cycle: {' → '.join(cycle)}"
            if source is not None and not set(cycle) <= set(self.depends_on):
                raise ConfigError([f"{source.where((cycle[0],))}: {problem}"])
            raise ValueError(problem)
        self._services = services
        return self

    @property
    def services(self) -> dict[str, list[str]]:
        """The whole map: ``depends_on`` plus the file."""
        return self._services


class LifecycleSettings(StrictModel):
    """When an incident resolves, reopens, and is forgotten."""

    quiet_period: Duration = Field(
        default="5m",
        validate_default=True,
        description="An incident resolves this long after its last alert resolved.",
    )
    reopen_window: Duration = Field(
        default="30m",
        validate_default=True,
        description="A member firing again this soon after resolution reopens the incident.",
    )
    retention: Duration = Field(
        default="24h",
        validate_default=True,
        description="Resolved alerts and incidents are forgotten this long after resolving.",
    )
    resolve_timeout: Duration = Field(
        default="5m",
        validate_default=True,
        description="Alertmanager's resolve_timeout: a firing alert without endsAt from a "
        "sender that does not send its resolves (Prometheus; not Alertmanager, Grafana or "
        "a JSON webhook) resolves this long after it was last sent; 0 never.",
    )


class TriageSettings(StrictModel):
    """Deduplication, correlation into incidents and scoring (docs/triage.md)."""

    listen: str = Field(default="127.0.0.1:9096", pattern=r"^[^:]*:\d+$")
    """host:port of the HTTP listener (/metrics, health and readiness)."""
    group_id: str = "corral-triage"
    """Consumer group of triage workers; replicas share it and split the partitions."""
    group_window: Duration = Field(
        default="5m",
        validate_default=True,
        description="Scope and topology: how long after an incident's last alert a related "
        "one may still join it.",
    )
    scopes: list[list[str]] = Field(
        default_factory=lambda: [["namespace"], ["node"], ["alertname"]],
        description="Label sets tried in order; alerts with equal values of the first set "
        "they carry in full join one incident.",
    )
    max_alerts: int = Field(
        default=100, ge=1, description="Member alerts an incident lists; the rest are counted."
    )
    growth_hold: Duration = Field(
        default="1s",
        validate_default=True,
        description="An announced incident that only grows (new alerts firing, nothing else) "
        "gets at most one revision per this interval; an opening, a priority or severity raise, "
        "a resolve, a reopen or a merge goes out at once. 0 disables.",
    )
    dedup: DedupSettings = DedupSettings()
    flapping: FlappingSettings = FlappingSettings()
    causes: CauseSettings = CauseSettings()
    topology: TopologySettings = TopologySettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    scoring: ScoringSettings = ScoringSettings()

    @field_validator("scopes")
    @classmethod
    def _scopes_not_empty(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not labels for labels in value):
            raise ValueError("a scope needs at least one label")
        return value

    @model_validator(mode="after")
    def _retention_covers_windows(self) -> Self:
        lifecycle = self.lifecycle
        retention = lifecycle.retention
        for name, needed in (
            (
                "lifecycle.quiet_period + lifecycle.reopen_window",
                lifecycle.quiet_period + lifecycle.reopen_window,
            ),
            ("flapping.window", self.flapping.window),
            ("flapping.settle", self.flapping.settle),
        ):
            if retention < needed:
                raise ValueError(f"lifecycle.retention must be at least {name}")
        if self.lifecycle.quiet_period < timedelta(0):
            raise ValueError("lifecycle.quiet_period must not be negative")
        if self.growth_hold < timedelta(0):
            raise ValueError("growth_hold must not be negative")
        return self


class TriageConfig(CommonConfig):
    triage: TriageSettings = TriageSettings()
