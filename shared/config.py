"""Configuration from a YAML file plus ``CORRAL_*`` environment variables.

Every problem is reported with the file and line it comes from (or the
environment variable that set it), because a config that fails at 3 a.m.
must say where to look. Environment variables override the file:
``CORRAL_KAFKA__BOOTSTRAP_SERVERS=host:9092`` sets ``kafka.bootstrap_servers``;
values are read as YAML scalars, so ``CORRAL_TRIAGE__GROUP_WINDOW=10m`` and
``CORRAL_INGEST__MAX_BODY_BYTES=1048576`` both work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.durations import Duration

ENV_PREFIX = "CORRAL_"
ENV_NESTING = "__"
CONFIG_ENV = "CORRAL_CONFIG"

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` are ready to print, one a line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Source:
    """Parsed YAML with the line every key and list item starts on."""

    name: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    env_keys: dict[Path_, str] = field(default_factory=dict)

    def where(self, loc: Path_) -> str:
        """The most precise place a validation error location points to."""
        for end in range(len(loc), -1, -1):
            prefix = tuple(loc[:end])
            if prefix in self.env_keys:
                return f"environment variable {self.env_keys[prefix]}"
            if prefix in self.lines:
                return f"{self.name}:{self.lines[prefix]}"
        return self.name


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int], name: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in result:
                raise ConfigError([f"{name}:{key_node.start_mark.line + 1}: duplicate key {key!r}"])
            result[key] = _construct(value_node, (*path, key), lines, name)
            # Point at the key, which is where a reader looks for the field.
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, name) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def parse_yaml(text: str, name: str) -> Source:
    """Parse YAML text, keeping line numbers; syntax errors name file and line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{name}{line}: invalid YAML: {problem}"]) from None
    lines: dict[Path_, int] = {}
    data = {} if node is None else _construct(node, (), lines, name)
    return Source(name, data, lines)


def read_yaml(path: str | Path) -> Source:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_yaml(text, str(path))


def _env_value(raw: str) -> Any:
    """A YAML scalar (number, bool, list) where it parses as one, else the text."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return raw if value is None or isinstance(value, str | dict) else value


def apply_env(source: Source, env: Mapping[str, str]) -> Source:
    """Overlay ``CORRAL_A__B=v`` variables onto the parsed file."""
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        raise ConfigError([f"{source.where(())}: the top level must be a mapping of sections"])
    data = source.data
    overrides = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k != CONFIG_ENV}
    # The conventional variable that Kafka tooling and the test suite set.
    if "KAFKA_BOOTSTRAP_SERVERS" in env:
        overrides.setdefault(
            f"{ENV_PREFIX}KAFKA{ENV_NESTING}BOOTSTRAP_SERVERS", env["KAFKA_BOOTSTRAP_SERVERS"]
        )
    for variable, raw in sorted(overrides.items()):
        keys = [k.lower() for k in variable[len(ENV_PREFIX) :].split(ENV_NESTING) if k]
        if not keys:
            continue
        value = _env_value(raw)
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
        source.env_keys[tuple(keys)] = variable
    source.data = data
    return source


def validate(model: type[M], source: Source) -> M:
    """Validate parsed data against a model, translating errors to file:line."""
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            dotted = ".".join(str(p) for p in loc) or "(top level)"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{source.where(loc)}: {dotted}: {message}")
        raise ConfigError(problems) from None


def load_config(
    model: type[M], path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> M:
    """The config a worker runs with: file (or ``$CORRAL_CONFIG``), then env."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    source = read_yaml(path) if path else Source("(built-in defaults)", {})
    return validate(model, apply_env(source, env))


class StrictModel(BaseModel):
    """Config sections reject unknown fields, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TopicNames(StrictModel):
    """Topic names, for a cluster whose naming rules or ACLs want others
    (docs/architecture.md lists each topic's key and partitioning)."""

    alerts: str = "corral.alerts"
    """Normalized alerts from ingest, keyed by `ingest.key_labels`."""
    incidents: str = "corral.incidents"
    """Incident revisions from triage, keyed by incident id."""
    feedback: str = "corral.feedback"
    """People's verdicts on severity, read by `corral train --feedback`."""
    silences: str = "corral.silences"
    """Silences (compacted), shared by every notify worker."""
    dead_letters: str = "corral.notify.dead-letters"
    """Notifications given up on, with the receiver's last error."""
    notify_sent: str = "corral.notify.sent"
    """Notify's sent log (compacted): what each receiver got, and when."""
    triage_state: str = "corral.triage.state"
    """Triage's state changelog (compacted): open incidents and their alerts."""
    quarantine: str = "corral.quarantine"
    """Records a worker could not handle, set aside so the partition moves on."""
    actions: str = "corral.actions"
    """People's actions on incidents (acknowledge, resolve, assign, ...)."""
    notify_outcomes: str = "corral.notify.outcomes"
    """How each delivery ended, for the incident store's timeline."""


class TopicRetention(StrictModel):
    """How long each topic keeps records (Kafka's `retention.ms`), applied
    when Corral creates it; unset, the broker's default (7 days on Kafka).
    Compacted topics (state, sent log, silences) keep each key's latest value."""

    alerts: Duration | None = None
    """Also how far back `corral alerts export` and a replay can read."""
    incidents: Duration | None = None
    """How far back a new consumer of revisions (the incident store) can start."""
    feedback: Duration | None = None
    """Verdicts older than this are lost to retraining: keep it long."""
    dead_letters: Duration | None = None
    """Time to inspect and replay a failed notification."""
    quarantine: Duration | None = None
    """Time to inspect a quarantined record and fix what refused it."""
    actions: Duration | None = Field(
        default=None,
        description="With incidents and notify_outcomes: how far back the incident "
        "store can be rebuilt from the topics.",
    )
    notify_outcomes: Duration | None = None
    """See `actions`."""


class KafkaSettings(StrictModel):
    """The Kafka cluster every worker uses, and the topics Corral creates on it."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port of brokers to start from."""
    client_id: str = "corral"
    """The client id brokers log and apply quotas by."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """Kafka's security.protocol: TLS (SSL), SASL authentication, or both."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """Required with a SASL protocol."""
    sasl_username: str | None = None
    """Required with a SASL protocol."""
    sasl_password: str | None = None
    """Prefer `sasl_password_file`, which keeps it out of the config."""
    sasl_password_file: str | None = Field(
        default=None, description="File holding the SASL password (a mounted Secret)."
    )
    ssl_cafile: str | None = None
    """CA bundle that signed the brokers' certificates; unset: the system's."""
    ssl_certfile: str | None = None
    """Client certificate, for brokers that require mutual TLS."""
    ssl_keyfile: str | None = None
    """Private key of `ssl_certfile`."""
    topics: TopicNames = TopicNames()
    partitions: int = Field(default=6, ge=1, description="Partitions of topics Corral creates.")
    replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replicas of each topic Corral creates; 3 on a production cluster.",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="Topics' min.insync.replicas: with acks=all, a write counts once this "
        "many replicas have it (2 of 3 in production). Unset: the broker's default.",
    )
    max_message_bytes: int = Field(
        default=1_048_588,
        ge=64 * 1024,
        description="Largest record Corral writes, and the max.message.bytes of topics it "
        "creates; a larger output is quarantined, a larger alert refused with 413.",
    )
    retention: TopicRetention = TopicRetention()
    create_topics: bool = True
    """Create missing topics at start; false where ACLs forbid it (topics must then exist,
    with the settings docs/reliability.md lists)."""
    stall_timeout: Duration = Field(
        default="2m",
        validate_default=True,
        description="A consumer that made no progress on a partition for this long while "
        "records wait there reports not ready.",
    )
    linger: Duration = Field(
        default="0ms",
        validate_default=True,
        description="Producer batching delay added to every write. Writes already gather "
        "while a partition's previous batch is on its way to the broker, so a delay only "
        "helps a producer that sends many small batches at a steady rate.",
    )
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="zstd",
        description="Producer batch compression. Alert JSON shrinks several times over, "
        "which halves the broker's work per alert; zstd needs Kafka 2.1 or newer.",
    )
    request_timeout: Duration = Field(default="10s", validate_default=True)
    """How long a request to a broker may take before it is retried elsewhere."""
    session_timeout: Duration = Field(default="10s", validate_default=True)
    """A consumer silent this long loses its partitions to the others in its group."""
    heartbeat_interval: Duration = Field(default="1s", validate_default=True)
    """How often consumers tell the group they live; well under `session_timeout`."""
    fetch_max_wait: Duration = Field(default="20ms", validate_default=True)
    """Longest a fetch waits for records: the floor of idle pipeline latency."""
    max_batch: int = Field(
        default=10_000,
        ge=1,
        description="Records handled per batch before a commit. Under a backlog a batch "
        "emits one revision per changed incident, so larger batches mean fewer, fuller "
        "revisions for triage to write and notify to read (and more memory in flight); "
        "when caught up, batches are small whatever the limit.",
    )
    max_batch_bytes: int = Field(
        default=1024 * 1024, ge=16 * 1024, description="Producer batch size per partition."
    )

    @model_validator(mode="after")
    def _security_settings_fit_the_protocol(self) -> Self:
        """A TLS or SASL setting the protocol ignores means the operator believes
        the connection is protected when it is not: refuse it."""
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        sasl = self.security_protocol.startswith("SASL_")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name) is not None and not tls:
                raise ValueError(f"{name} needs security_protocol SSL or SASL_SSL")
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("give sasl_password or sasl_password_file, not both")
        for name in ("sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_file"):
            if getattr(self, name) is not None and not sasl:
                raise ValueError(f"{name} needs security_protocol SASL_PLAINTEXT or SASL_SSL")
        if sasl and (self.sasl_mechanism is None or self.sasl_username is None):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism "
                "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and sasl_username"
            )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate)")
        return self

    @model_validator(mode="after")
    def _insync_replicas_exist(self) -> Self:
        """With fewer replicas than min.insync.replicas, every write with
        acks=all is refused: a config that can never work."""
        if self.min_insync_replicas is not None and (
            self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) must not exceed "
                f"replication_factor ({self.replication_factor})"
            )
        return self


class LogSettings(StrictModel):
    """JSON logs on standard error (structlog)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    """The least severe level logged."""


class WebSettings(StrictModel):
    """TLS and authentication of every HTTP listener (docs/security.md)."""

    config_file: str | None = Field(
        default=None,
        description="Web configuration file in Prometheus' format (TLS, basic auth users, "
        "bearer tokens, roles); `--web.config.file` on the command line. None: plain HTTP, "
        "no authentication, as Prometheus without one.",
    )


class CommonConfig(BaseModel):
    """What every worker reads. Workers ignore other services' sections;
    ``corral check-config`` validates all of them strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)
    kafka: KafkaSettings = KafkaSettings()
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()
