"""Message text from Jinja2 templates that users may override.

Templates run sandboxed (a template cannot reach Python internals) with
lenient undefined values: ``{{ incident.labels.team }}`` on an incident
without a team renders as nothing rather than failing the page. What a
template outputs is escaped for where it goes: HTML for email bodies, Slack's
``&``, ``<`` and ``>`` for mrkdwn; literal template text is left alone, so a
user can still write ``<{{ link }}|runbook>``. A template that fails while
rendering is logged, counted (``corral_notify_template_failures_total``) and
replaced by the built-in one, so a typo never loses or holds up a page.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from jinja2 import ChainableUndefined, DictLoader, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from shared.links import safe_link
from shared.messages import Incident, IncidentAlert

if TYPE_CHECKING:
    from services.notify.receivers.base import Delivery

log = structlog.get_logger(__name__)


class Flavor(enum.Enum):
    TEXT = "text"
    HTML = "html"
    SLACK = "slack"


def escape_mrkdwn(value: Any) -> Any:
    """Slack's three control characters, in text a template inserts."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


DEFAULTS: dict[str, str] = {
    "title": (
        "{% if incident.merged_into %}Merged into {{ incident.merged_into }}: "
        "{% elif incident.status == 'resolved' %}Resolved: {% elif repeat %}Still firing: "
        "{% endif %}[{{ incident.priority }}] {{ incident.title }}"
    ),
    "summary": "{% if changes %}{{ changes.summary }}\n{% endif %}{{ summary }}",
    "changes": "{{ changes.summary if changes else '' }}",
    "link": "{{ link }}",
    "source": "{{ incident.labels.cluster or incident.labels.instance or 'corral' }}",
    "component": "{{ incident.labels.service or incident.labels.job }}",
    "group": "{{ incident.labels.cluster }}",
    "class": "{{ incident.labels.alertname }}",
    "email_text": """{{ title }}
{% if changes %}
Changed:   {{ changes.summary }}
{% endif %}
{{ summary }}

Status:    {{ incident.status }} ({{ incident.event }}, revision {{ incident.revision }})
Priority:  {{ incident.priority }}    Severity: {{ incident.severity }}
Opened:    {{ incident.opened_at }}
{% if incident.resolved_at %}Resolved:  {{ incident.resolved_at }}
{% endif %}Incident:  {{ incident.id }}
{% if link %}Link:      {{ link }}
{% endif %}
Why:
{% for line in incident.explanation %}  - {{ line }}
{% endfor %}
Alerts ({{ firing | length }} firing of {{ incident.alerts | length }}):
{% for alert in incident.alerts %}  [{{ alert.status }}] {{ alert.labels.alertname }} \
{{ alert.annotations.summary or alert.annotations.description }}
{% endfor %}""",
    "telegram": """<b>{{ title }}</b>
{{ summary }}

Priority {{ incident.priority }} · severity {{ incident.severity }} · \
{{ firing | length }} of {{ incident.alerts | length }} alerts firing
{% if link %}<a href="{{ link }}">Open</a>
{% endif %}<i>Incident {{ incident.id }}, revision {{ incident.revision }}</i>""",
    "email_html": """<!doctype html>
<html><body style="font-family: sans-serif">
<h2>{{ title }}</h2>
{% if changes %}<p><b>Changed:</b> {{ changes.summary }}</p>{% endif %}
<p>{{ summary }}</p>
<table cellpadding="4">
<tr><th align="left">Status</th><td>{{ incident.status }} ({{ incident.event }}, revision \
{{ incident.revision }})</td></tr>
<tr><th align="left">Priority</th><td>{{ incident.priority }}</td></tr>
<tr><th align="left">Severity</th><td>{{ incident.severity }}</td></tr>
<tr><th align="left">Opened</th><td>{{ incident.opened_at }}</td></tr>
<tr><th align="left">Incident</th><td>{{ incident.id }}</td></tr>
</table>
{% if link %}<p><a href="{{ link }}">Open</a></p>{% endif %}
<h3>Why</h3>
<ul>{% for line in incident.explanation %}<li>{{ line }}</li>{% endfor %}</ul>
<h3>Alerts ({{ firing | length }} firing of {{ incident.alerts | length }})</h3>
<ul>{% for alert in incident.alerts %}<li>[{{ alert.status }}] {{ alert.labels.alertname }} \
{{ alert.annotations.summary or alert.annotations.description }}</li>{% endfor %}</ul>
</body></html>""",
}


def _environment(flavor: Flavor, files: Mapping[str, str] | None = None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=DictLoader(dict(files or {})),
        undefined=ChainableUndefined,
        autoescape=flavor is Flavor.HTML,
        finalize=escape_mrkdwn if flavor is Flavor.SLACK else None,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_link
    return env


_CHECKER = _environment(Flavor.TEXT)


def check_template(source: str) -> str:
    """Config validation: the template must at least parse."""
    try:
        _CHECKER.parse(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error on its line {exc.lineno}: {exc.message}") from None
    return source


def check_template_file(path: str) -> None:
    try:
        source = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"template file {path}: cannot read: {exc.strerror}") from None
    try:
        _CHECKER.parse(source, filename=path)
    except TemplateSyntaxError as exc:
        raise ValueError(f"{path}:{exc.lineno}: template syntax error: {exc.message}") from None


def delivery_context(delivery: Delivery) -> dict[str, Any]:
    """``template_context`` for a delivery."""
    return template_context(
        delivery.incident,
        delivery.receiver,
        delivery.repeat,
        changes=None if delivery.changes is None else delivery.changes.body(),
        notification=delivery.kind.value,
        acknowledged_by=delivery.acknowledged_by,
        step=delivery.step,
    )


def template_context(
    incident: Incident,
    receiver: str,
    repeat: bool,
    changes: dict[str, Any] | None = None,
    notification: str = "trigger",
    acknowledged_by: str | None = None,
    step: int | None = None,
) -> dict[str, Any]:
    """What every template sees: the incident as its JSON, plus ready-made
    pieces, and what changed since the receiver's previous notification
    (``changes``, the webhook body's field; None for the first)."""
    data = incident.model_dump(mode="json", exclude={"schema_version", "received_at"})
    for alert in data["alerts"]:
        alert["generator_url"] = safe_link(alert["generator_url"])
    firing = [a for a in data["alerts"] if a["status"] == "firing"]
    summary = next(
        (
            a["annotations"].get("summary") or a["annotations"].get("description")
            for a in firing + data["alerts"]
            if a["annotations"].get("summary") or a["annotations"].get("description")
        ),
        incident.title,
    )
    link = next((a["generator_url"] for a in firing + data["alerts"] if a["generator_url"]), "")
    return {
        "incident": data,
        "receiver": receiver,
        "repeat": repeat,
        "firing": firing,
        "summary": summary,
        "link": link,
        "changes": changes,
        "notification": notification,
        "acknowledged_by": acknowledged_by,
        "escalation_step": step,
    }


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, the last an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_line(alert: IncidentAlert) -> str:
    """``alertname: summary`` of one alert, as the lists of chat receivers show it."""
    text = alert.annotations.get("summary") or alert.annotations.get("description", "")
    name = alert.labels.get("alertname", "")
    return f"{name}: {text}" if text else name


class Templates:
    """Renders user templates (or the defaults), with the user's template files loadable."""

    def __init__(
        self,
        paths: list[str] | None = None,
        failed: Callable[[str, str], None] = lambda receiver, template: None,
    ):
        """``failed(receiver, template)`` hears of every template replaced by
        the built-in one (the worker counts them)."""
        files = {Path(p).name: Path(p).read_text() for p in paths or []}
        self.failed = failed
        self._envs = {flavor: _environment(flavor, files) for flavor in Flavor}
        self._compiled: dict[tuple[Flavor, str], Template] = {}

    def _template(self, source: str, flavor: Flavor) -> Template:
        compiled = self._compiled.get((flavor, source))
        if compiled is None:
            compiled = self._compiled[(flavor, source)] = self._envs[flavor].from_string(source)
        return compiled

    def render(
        self, source: str | None, default: str, context: Mapping[str, Any], flavor: Flavor
    ) -> str:
        if source is not None:
            try:
                return self._template(source, flavor).render(context).strip()
            except Exception as exc:
                # Any failure, not only Jinja's own (``{{ 1 / 0 }}`` raises
                # ZeroDivisionError): a page must never wait on a typo.
                receiver = str(context.get("receiver", ""))
                self.failed(receiver, default)
                log.error(
                    "template failed; using the built-in one",
                    receiver=receiver,
                    template=source,
                    error=f"{type(exc).__name__}: {exc}",
                )
        return self._template(DEFAULTS[default], flavor).render(context).strip()
