"""``corral import``: an Alertmanager configuration turned into Corral's.

What maps is converted: the route tree (``matchers`` and the older ``match``
and ``match_re``, ``continue``, ``group_wait``, ``repeat_interval``, time
intervals), receivers of the kinds Corral has, with their secrets and
``*_file`` forms and the ``global`` defaults they inherit, ``inhibit_rules``
as cause → symptom rules, ``time_intervals`` and ``resolve_timeout``. Each
value keeps Alertmanager's meaning: a default that differs between the two
(``send_resolved`` of Slack and email) is written out.

Everything else becomes a ``Note``: where it is (file and line), and what
Corral does instead. Go templates are the common case: Corral's templates are
Jinja2, so a templated field is left to Corral's default text and noted; a
plain text is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from services.triage.scoring.levels import SEVERITIES, normalize_severity
from shared.config import ConfigError, Path_, Source
from shared.matchers import Matcher, MatchType, parse_matcher
from shared.timeintervals import NamedTimeInterval

GROUP_BY = (
    "Corral groups alerts into incidents itself (triage.scopes, triage.causes.rules, "
    "triage.topology), across routes; the closest setting is triage.scopes, e.g. "
    "[[{labels}]]"
)
TEMPLATE = "a Go template: Corral renders its default {what} (Jinja2 templates can replace it)"
NO_INTEGRATION = (
    "Corral has no {kind} integration: send to a webhook_configs receiver with "
    "payload: alertmanager (Alertmanager's webhook body) through a bridge, or another receiver"
)
SMTP_AUTH = (
    "Corral logs in with AUTH LOGIN/PLAIN (auth_username, auth_password); CRAM-MD5 "
    "and a PLAIN identity are not supported"
)
HTTP_CONFIG = (
    "Corral sends with the system's CA store and no proxy; only a webhook's "
    "http_config.authorization (or bearer_token) is configurable"
)

OVERRIDDEN = {
    "priority": "routes match triage's priority (P1 to P5, from its score), not the alert's label",
    "status": "routes match the incident's status (firing or resolved)",
    "incident_id": "routes match Corral's incident id here, not a label",
}
RECEIVER_DEFAULTS = {
    "smtp_from",
    "smtp_smarthost",
    "smtp_hello",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_require_tls",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "opsgenie_api_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "telegram_api_url",
}
# Alertmanager's send_resolved defaults where they are not Corral's (true).
RESOLVED_DEFAULT_FALSE = ("slack_configs", "email_configs")


@dataclass(frozen=True)
class Note:
    """Something of the Alertmanager config that Corral does not take as it is."""

    where: str
    field: str
    instead: str

    def line(self) -> str:
        return f"{self.where}: {self.field}: {self.instead}"


@dataclass
class Imported:
    config: dict[str, Any]
    notes: list[Note]


def _path_text(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def is_template(value: Any) -> bool:
    """Go template text (or anything Jinja2 would read as its own syntax)."""
    return isinstance(value, str) and any(mark in value for mark in ("{{", "{%", "{#"))


class Section:
    """A mapping of the source config; remembers which keys were read, so
    whatever was not is reported."""

    def __init__(self, importer: Importer, data: Any, path: Path_):
        if not isinstance(data, dict):
            raise ConfigError(
                [
                    f"{importer.source.where(path)}: {_path_text(path) or '(top level)'}: "
                    "expected a mapping"
                ]
            )
        self.importer = importer
        self.data = data
        self.path = path
        self.read: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.data.get(key, default)

    def at(self, *keys: str | int) -> Path_:
        return (*self.path, *keys)

    def section(self, key: str) -> Section:
        return Section(self.importer, self.get(key) or {}, self.at(key))

    def note(self, key: str, instead: str) -> None:
        self.read.add(key)
        self.importer.note(self.at(key), instead)

    def unread(self) -> Iterator[str]:
        return (key for key in self.data if key not in self.read)


class Importer:
    def __init__(self, source: Source):
        self.source = source
        self.notes: list[Note] = []
        top = Section(self, source.data if source.data is not None else {}, ())
        self.top = top
        self.globals = top.section("global")
        self.receiver_kinds: dict[str, Callable[[Section], dict[str, Any] | None]] = {
            "webhook_configs": self.webhook,
            "slack_configs": self.slack,
            "pagerduty_configs": self.pagerduty,
            "email_configs": self.email,
            "opsgenie_configs": self.opsgenie,
            "msteams_configs": self.teams,
            "msteamsv2_configs": self.teams,
            "discord_configs": self.discord,
            "telegram_configs": self.telegram,
        }

    def note(self, path: Path_, instead: str) -> None:
        self.notes.append(Note(self.source.where(path), _path_text(path), instead))

    def fail(self, path: Path_, problem: str) -> ConfigError:
        return ConfigError([f"{self.source.where(path)}: {_path_text(path)}: {problem}"])

    # -- the whole file --------------------------------------------------------

    def convert(self) -> Imported:
        top = self.top
        notify: dict[str, Any] = {}
        triage: dict[str, Any] = {}
        intervals = self.time_intervals()
        notify["route"] = self.route(top.section("route"))
        notify["receivers"] = [
            self.receiver(Section(self, r, ("receivers", i)))
            for i, r in enumerate(top.get("receivers") or [])
        ]
        if intervals:
            notify["time_intervals"] = intervals
        rules = [
            rule
            for i, r in enumerate(top.get("inhibit_rules") or [])
            if (rule := self.inhibit_rule(Section(self, r, ("inhibit_rules", i)), i)) is not None
        ]
        if rules:
            triage["causes"] = {"rules": rules}
            self.note(
                ("inhibit_rules",),
                "mapped to triage.causes.rules: a firing target (symptom) joins the incident "
                "of its source (cause) and is sent with it, instead of being dropped",
            )
        templates = top.get("templates")
        if templates:
            self.note(
                ("templates",),
                "Go template files are not read: Corral's templates are Jinja2 "
                "(notify.templates); every templated field gets Corral's default text",
            )
        self.global_settings(triage)
        for key in top.unread():
            self.note((key,), "not an Alertmanager setting Corral knows; ignored")
        config: dict[str, Any] = {}
        if triage:
            config["triage"] = triage
        config["notify"] = notify
        return Imported(config, sorted(self.notes, key=_note_order))

    def global_settings(self, triage: dict[str, Any]) -> None:
        settings = self.globals
        timeout = settings.get("resolve_timeout")
        if timeout is not None:
            triage["lifecycle"] = {"resolve_timeout": str(timeout)}
        for key in ("smtp_auth_identity", "smtp_auth_secret", "smtp_auth_secret_file"):
            if key in settings:
                settings.note(key, SMTP_AUTH)
        if "http_config" in settings:
            settings.note("http_config", HTTP_CONFIG)
        # What the receivers took from here was read while converting them.
        for key in settings.unread():
            if key in RECEIVER_DEFAULTS:
                settings.note(
                    key,
                    "used by no receiver of this file (Corral has no global "
                    "defaults: the importer writes them into each receiver)",
                )
            else:
                settings.note(key, "Corral has no such setting; ignored")

    # -- time intervals ---------------------------------------------------------

    def time_intervals(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for key in ("time_intervals", "mute_time_intervals"):  # the latter: before 0.24
            for i, entry in enumerate(self.top.get(key) or []):
                path = (key, i)
                named = Section(self, entry, path)
                windows = []
                for window in named.get("time_intervals") or []:
                    if isinstance(window, dict) and "time_zone" in window:
                        window = {**window, "location": window["time_zone"]}
                        del window["time_zone"]
                    windows.append(window)
                value = {"name": named.get("name"), "time_intervals": windows}
                try:
                    NamedTimeInterval.model_validate(value)
                except ValidationError as exc:
                    error = exc.errors(include_url=False)[0]
                    where = (*path, *error["loc"])
                    raise self.fail(where, error["msg"]) from None
                found.append(value)
                for extra in named.unread():
                    named.note(extra, "not a time interval setting; ignored")
        return found

    # -- routes ------------------------------------------------------------------

    def matchers(self, section: Section, prefix: str = "") -> list[str]:
        """``matchers``, ``match`` and ``match_re`` (with ``prefix``: ``source_``,
        ``target_`` in inhibit rules) as Corral's matcher texts."""
        texts: list[str] = []
        for key, kind in (("match", MatchType.EQUAL), ("match_re", MatchType.REGEX)):
            key = prefix + key
            for name, value in (section.get(key) or {}).items():
                try:
                    texts.append(str(Matcher.create(str(name), kind, str(value))))
                except ValueError as exc:
                    raise self.fail(section.at(key, name), str(exc)) from None
        key = f"{prefix}matchers"
        for i, text in enumerate(section.get(key) or []):
            try:
                texts.append(str(parse_matcher(str(text))))
            except ValueError as exc:
                raise self.fail(section.at(key, i), str(exc)) from None
        return texts

    def routing_matchers(self, section: Section) -> list[str]:
        """A route's matchers; routes see triage's verdict in ``severity`` and
        ``priority`` (and the incident's ``status``), not the alert's labels."""
        texts = []
        for text in self.matchers(section):
            matcher = parse_matcher(text)
            if matcher.name == "severity":
                level = normalize_severity(matcher.value)
                if matcher.type == MatchType.EQUAL and level and level != matcher.value:
                    text = str(Matcher.create("severity", MatchType.EQUAL, level))
                    self.note(
                        section.path,
                        f"{matcher}: routes match triage's severity, where "
                        f"{matcher.value!r} is {level!r}: written as {text}",
                    )
                elif not any(matcher.matches(level) for level in SEVERITIES):
                    self.note(
                        section.path,
                        f"{matcher}: routes match triage's severity "
                        "(critical, warning or info): this route never matches",
                    )
            elif matcher.name in OVERRIDDEN:
                self.note(section.path, f"{matcher}: {OVERRIDDEN[matcher.name]}")
            texts.append(text)
        return texts

    def route(self, section: Section) -> dict[str, Any]:
        route: dict[str, Any] = {}
        receiver = section.get("receiver")
        if receiver is not None:
            route["receiver"] = str(receiver)
        matchers = self.routing_matchers(section)
        if matchers:
            route["matchers"] = matchers
        if section.get("continue"):
            route["continue"] = True
        for key in ("group_wait", "group_interval", "repeat_interval"):
            value = section.get(key)
            if value is not None:
                route[key] = str(value)
        for key in ("mute_time_intervals", "active_time_intervals"):
            names = section.get(key)
            if names:
                route[key] = [str(n) for n in names]
        if "group_by" in section:
            labels = section.get("group_by") or []
            section.note("group_by", GROUP_BY.format(labels=", ".join(map(str, labels))))
        children = section.get("routes") or []
        if children:
            route["routes"] = [
                self.route(Section(self, child, section.at("routes", i)))
                for i, child in enumerate(children)
            ]
        for key in section.unread():
            section.note(key, "not a route setting Corral knows; ignored")
        return route

    # -- inhibition ----------------------------------------------------------------

    def inhibit_rule(self, section: Section, index: int) -> dict[str, Any] | None:
        source = self.matchers(section, "source_")
        target = self.matchers(section, "target_")
        equal = [str(label) for label in section.get("equal") or []]
        for key in section.unread():
            section.note(key, "not an inhibition setting Corral knows; ignored")
        if not source or not target:
            missing = "source" if not source else "target"
            self.note(
                section.path,
                f"a rule without {missing} matchers (every alert would be its {missing}) has no "
                "cause → symptom equivalent; not mapped (to keep an alert from notifying, "
                "route it to a receiver without integrations)",
            )
            return None
        name = source[0] if len(source) == 1 else f"inhibit_rules[{index}]"
        rule: dict[str, Any] = {
            "name": f"{name} → {', '.join(target)}",
            "source_matchers": source,
            "target_matchers": target,
        }
        if equal:
            rule["equal"] = equal
        return rule

    # -- receivers -----------------------------------------------------------------

    def receiver(self, section: Section) -> dict[str, Any]:
        name = section.get("name")
        if not name:
            raise self.fail(section.at("name"), "a receiver needs a name")
        receiver: dict[str, Any] = {"name": str(name)}
        for key in list(section.data):
            if key == "name":
                continue
            configs = section.get(key) or []
            convert = self.receiver_kinds.get(key)
            if convert is None:
                kind = key.removesuffix("_configs")
                section.note(key, NO_INTEGRATION.format(kind=kind))
                continue
            target = {"msteamsv2_configs": "msteams_configs"}.get(key, key)
            for i, entry in enumerate(configs):
                config = Section(self, entry, section.at(key, i))
                converted = convert(config)
                for extra in config.unread():
                    config.note(
                        extra,
                        f"Corral's {target.removesuffix('_configs')} "
                        "integration has no such setting; ignored",
                    )
                if converted is None:
                    continue
                if key in RESOLVED_DEFAULT_FALSE and "send_resolved" not in converted:
                    converted["send_resolved"] = False
                receiver.setdefault(target, []).append(converted)
        return receiver

    def secret(
        self,
        config: Section,
        out: dict[str, Any],
        name: str,
        target: str | None = None,
        fallback: str | None = None,
    ) -> bool:
        """``name``/``name_file`` (or the global ``fallback``, ``fallback_file``) into
        ``out`` as ``target``/``target_file``; False if none of them is set."""
        target = target or name
        for section, key in ((config, name), (self.globals, fallback)):
            if key is None:
                continue
            value, path = section.get(key), section.get(f"{key}_file")
            if value is not None:
                out[target] = str(value)
                return True
            if path is not None:
                out[f"{target}_file"] = str(path)
                return True
        return False

    def common(self, config: Section, out: dict[str, Any]) -> None:
        resolved = config.get("send_resolved")
        if resolved is not None:
            out["send_resolved"] = bool(resolved)
        if "http_config" in config:
            config.note("http_config", HTTP_CONFIG)

    def text(self, config: Section, key: str, out: dict[str, Any], target: str, what: str) -> None:
        """A template field: kept when it is plain text, noted when it is a Go template."""
        value = config.get(key)
        if value is None:
            return
        if is_template(value):
            config.note(key, TEMPLATE.format(what=what))
        else:
            out[target] = str(value)

    def webhook(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        self.secret(config, out, "url")
        resolved = config.get("send_resolved")
        if resolved is not None:
            out["send_resolved"] = bool(resolved)
        out["payload"] = "alertmanager"
        timeout = config.get("timeout")
        if timeout:
            out["timeout"] = str(timeout)
        if config.get("max_alerts"):
            config.note(
                "max_alerts",
                "Corral lists at most triage.max_alerts alerts of an incident "
                "(truncatedAlerts counts the rest)",
            )
        http = config.get("http_config")
        if http:
            self._webhook_http(Section(self, http, config.at("http_config")), out)
        return out

    def _webhook_http(self, http: Section, out: dict[str, Any]) -> None:
        authorization = http.get("authorization")
        if authorization:
            auth = Section(self, authorization, http.at("authorization"))
            converted: dict[str, Any] = {"type": str(auth.get("type") or "Bearer")}
            self.secret(auth, converted, "credentials")
            out["http_config"] = {"authorization": converted}
        elif http.get("bearer_token") is not None or http.get("bearer_token_file") is not None:
            self.secret(http, out, "bearer_token")
        for key in http.unread():
            http.note(key, HTTP_CONFIG)

    def slack(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "api_url", fallback="slack_api_url"):
            config.note(
                "api_url",
                "no api_url here or in global: a Slack app token "
                "(app_token) is not supported; use an incoming webhook URL",
            )
            return None
        self.common(config, out)
        for key in ("channel", "username", "icon_emoji"):
            value = config.get(key)
            if value is not None and not is_template(value):
                out[key] = str(value)
            elif value is not None:
                config.note(key, TEMPLATE.format(what="(none)"))
        self.text(config, "title", out, "title", "title")
        self.text(config, "text", out, "text", "summary")
        self.text(config, "title_link", out, "link", "link (the first alert's generatorURL)")
        return out

    def pagerduty(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "routing_key"):
            if not self.secret(config, out, "service_key", target="routing_key"):
                raise self.fail(config.path, "needs routing_key or service_key")
            config.note(
                "service_key" if "service_key" in config else "service_key_file",
                "an Events API v1 key, used as routing_key: Corral sends Events API v2; "
                "create an Events API v2 integration on the service if PagerDuty refuses it",
            )
        self.common(config, out)
        url = config.get("url") or self.globals.get("pagerduty_url")
        if url:
            out["url"] = str(url)
        for key in ("client", "client_url"):
            self.text(config, key, out, key, key)
        self.text(config, "description", out, "summary", "summary (the incident's title)")
        for key in ("source", "component", "group", "class"):
            self.text(config, key, out, key, key)
        if "severity" in config:
            config.note(
                "severity",
                "Corral maps its own severity (critical, warning, info; anything else error) "
                "with pagerduty_configs[].severity, a mapping",
            )
        for key, instead in (
            ("details", "Corral's custom_details hold the triage explanation and firing alerts"),
            ("links", "Corral links each alert's generatorURL"),
            ("images", "not supported"),
        ):
            if key in config:
                config.note(key, instead)
        return out

    def email(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        to = config.get("to")
        if to is None or is_template(to):
            config.note("to", "a templated or missing address: this email config is left out")
            return None
        out["to"] = str(to)
        for key, fallback in (("from", "smtp_from"), ("smarthost", "smtp_smarthost")):
            value = config.get(key) or self.globals.get(fallback)
            if value is None:
                config.note(key, f"not set here nor as global.{fallback}: left out")
                return None
            out[key] = str(value)
        hello = config.get("hello") or self.globals.get("smtp_hello")
        if hello:
            out["hello"] = str(hello)
        username = config.get("auth_username") or self.globals.get("smtp_auth_username")
        if username:
            out["auth_username"] = str(username)
            self.secret(config, out, "auth_password", fallback="smtp_auth_password")
        require_tls = config.get("require_tls")
        if require_tls is None:
            require_tls = self.globals.get("smtp_require_tls")
        if require_tls is not None:
            out["require_tls"] = bool(require_tls)
        self.common(config, out)
        for key in ("auth_identity", "auth_secret", "auth_secret_file"):
            if key in config:
                config.note(key, SMTP_AUTH)
        tls = config.get("tls_config")
        if tls:
            self._tls(Section(self, tls, config.at("tls_config")), out)
        headers = config.section("headers")
        kept = {}
        for name in list(headers.data):
            value = headers.get(name)
            if is_template(value):
                what = "subject" if name.lower() == "subject" else f"{name} header (left out)"
                headers.note(name, TEMPLATE.format(what=what))
            elif name.lower() == "subject":
                out["subject"] = str(value)
            else:
                kept[str(name)] = str(value)
        if kept:
            out["headers"] = kept
        self.text(config, "text", out, "text", "plain text body")
        self.text(config, "html", out, "html", "HTML body")
        return out

    def _tls(self, tls: Section, out: dict[str, Any]) -> None:
        converted: dict[str, Any] = {}
        if tls.get("ca_file"):
            converted["ca_file"] = str(tls.get("ca_file"))
        if tls.get("insecure_skip_verify"):
            converted["insecure_skip_verify"] = True
        if converted:
            out["tls_config"] = converted
        for key in tls.unread():
            tls.note(
                key,
                "Corral verifies the server with ca_file (or skips that); client "
                "certificates and TLS versions are not configurable",
            )

    def opsgenie(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "api_key", fallback="opsgenie_api_key"):
            config.note("api_key", "no api_key here or in global: this config is left out")
            return None
        self.common(config, out)
        url = config.get("api_url") or self.globals.get("opsgenie_api_url")
        if url:
            out["api_url"] = str(url)
        for key in ("message", "description", "source", "entity", "note", "priority"):
            self.text(config, key, out, key, key)
        for key in ("tags", "actions"):
            value = config.get(key)
            if value is None:
                continue
            if is_template(value):
                config.note(key, TEMPLATE.format(what=f"{key} (none)"))
            else:
                out[key] = [part.strip() for part in str(value).split(",") if part.strip()]
        details = config.section("details")
        for name in list(details.data):
            value = details.get(name)
            if is_template(value):
                details.note(name, TEMPLATE.format(what="details (incident, priority, labels)"))
            else:
                out.setdefault("details", {})[str(name)] = str(value)
        responders = []
        for i, responder in enumerate(config.get("responders") or []):
            part = Section(self, responder, config.at("responders", i))
            kind = str(part.get("type") or "")
            kind = {"teams": "team"}.get(kind, kind)
            converted = {"type": kind}
            for key in ("id", "name", "username"):
                if part.get(key):
                    converted[key] = str(part.get(key))
            if any(is_template(v) for v in converted.values()):
                config.note("responders", TEMPLATE.format(what="responders (none)"))
                continue
            responders.append(converted)
        if responders:
            out["responders"] = responders
        if config.get("update_alerts"):
            out["update_alerts"] = True
        return out

    def teams(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "webhook_url"):
            config.note("webhook_url", "no webhook_url: this config is left out")
            return None
        self.common(config, out)
        if config.path[-2] == "msteams_configs":
            config.note(
                "webhook_url",
                "Office 365 connector URLs are retired: Corral posts an Adaptive Card to a "
                "Teams Workflows webhook; give it the URL of a 'When a Teams webhook request "
                "is received' workflow",
            )
        self.text(config, "title", out, "title", "title")
        self.text(config, "text", out, "text", "summary")
        if "summary" in config:
            config.note("summary", "Corral's card shows the title and the summary text")
        return out

    def discord(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "webhook_url"):
            config.note("webhook_url", "no webhook_url: this config is left out")
            return None
        self.common(config, out)
        self.text(config, "title", out, "title", "title")
        self.text(config, "message", out, "message", "message")
        self.text(config, "content", out, "content", "content (none)")
        for key in ("username", "avatar_url"):
            value = config.get(key)
            if value:
                out[key] = str(value)
        return out

    def telegram(self, config: Section) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        if not self.secret(config, out, "bot_token"):
            config.note("bot_token", "no bot_token: this config is left out")
            return None
        chat = config.get("chat_id")
        try:
            out["chat_id"] = int(chat)
        except (TypeError, ValueError):
            config.note("chat_id", "missing or not a number: this config is left out")
            return None
        self.common(config, out)
        url = config.get("api_url") or self.globals.get("telegram_api_url")
        if url:
            out["api_url"] = str(url)
        thread = config.get("message_thread_id")
        if thread:
            out["message_thread_id"] = int(thread)
        if config.get("disable_notifications"):
            out["disable_notifications"] = True
        self.text(config, "message", out, "message", "message")
        mode = config.get("parse_mode")
        if mode in ("Markdown", "MarkdownV2"):
            config.note("parse_mode", 'Corral writes Telegram\'s HTML (or plain text: "")')
        elif mode is not None:
            out["parse_mode"] = str(mode)
        return out


def _note_order(note: Note) -> tuple[int, str]:
    _, _, line = note.where.rpartition(":")
    return (int(line) if line.isdigit() else 0, note.field)


def convert(source: Source) -> Imported:
    return Importer(source).convert()


def render(imported: Imported, name: str) -> str:
    """The Corral config as YAML, headed by what did not map."""
    header = [f"# Imported from {name} by `corral import`."]
    if imported.notes:
        header.append("# Not taken as it is (file:line: field: what Corral does instead):")
        header += [f"#   {note.line()}" for note in imported.notes]
    body = yaml.safe_dump(imported.config, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body
