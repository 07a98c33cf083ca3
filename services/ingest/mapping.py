"""Generic JSON webhooks: a tool's own JSON turned into alerts by a configured mapping.

Each ``ingest.webhooks`` entry says, in JMESPath, where the alerts are in
the body and what each field of an alert is. The mapped alerts take the
shape of Prometheus' ``/api/v2/alerts`` body and are validated by the same
bounded model, so they meet the same limits and errors; a firing alert
without an end fires until the tool sends its resolve (``resolved``), as
Alertmanager's do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from services.ingest.config import WebhookMapping


class MappingError(Exception):
    """The body does not give what the mapping asks for; ``field`` names where."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _text(value: Any) -> str | None:
    """A value as label or annotation text: None (left out) for null and empty."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _true(value: Any) -> bool:
    """JMESPath's truth: false, null and empty text, lists and objects are false."""
    return value is not False and _text(value) is not None


@dataclass(frozen=True)
class Field:
    name: str
    expression: ParsedResult


class Mapping:
    """One webhook's mapping, its expressions compiled once."""

    def __init__(self, config: WebhookMapping):
        self.name = config.name
        self.alerts = jmespath.compile(config.alerts)
        self.labels = [Field(k, jmespath.compile(v)) for k, v in config.labels.items()]
        self.annotations = [Field(k, jmespath.compile(v)) for k, v in config.annotations.items()]
        self.single = {
            key: jmespath.compile(source)
            for key in ("resolved", "starts_at", "ends_at", "generator_url")
            if (source := getattr(config, key)) is not None
        }

    def _eval(self, expression: ParsedResult, data: Any, field: str) -> Any:
        try:
            return expression.search(data)
        except JMESPathError as exc:
            problem = str(exc).splitlines()[0]
            raise MappingError(field, f"{expression.expression!r} failed: {problem}") from None

    def apply(self, body: Any, now: datetime) -> dict[str, Any]:
        """``{"alerts": [...]}`` in the ``/api/v2/alerts`` shape, for the bounded model."""
        found = self._eval(self.alerts, body, "(body)")
        if isinstance(found, dict):
            items = [found]
        elif isinstance(found, list):
            items = found
        else:
            raise MappingError(
                "(body)",
                f"the alerts expression {self.alerts.expression!r} found "
                f"{'nothing' if found is None else type(found).__name__}, not an object or list",
            )
        return {"alerts": [self._alert(item, i, now) for i, item in enumerate(items)]}

    def _alert(self, item: Any, index: int, now: datetime) -> dict[str, Any]:
        where = f"alerts[{index}]"
        labels = {}
        for field in self.labels:
            value = _text(self._eval(field.expression, item, f"{where}.labels.{field.name}"))
            if value is not None:
                labels[field.name] = value
        if not labels:
            names = ", ".join(f.name for f in self.labels)
            raise MappingError(f"{where}.labels", f"no label has a value ({names})")
        annotations = {}
        for field in self.annotations:
            value = _text(self._eval(field.expression, item, f"{where}.annotations.{field.name}"))
            if value is not None:
                annotations[field.name] = value
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations}
        single = {key: self._eval(e, item, f"{where}.{key}") for key, e in self.single.items()}
        if single.get("starts_at") is not None:
            alert["startsAt"] = single["starts_at"]
        if _true(single.get("resolved")):
            alert["endsAt"] = now  # an end in the past is what resolves a v2 alert
        elif single.get("ends_at") is not None:
            alert["endsAt"] = single["ends_at"]
        url = _text(single.get("generator_url"))
        if url is not None:
            alert["generatorURL"] = url
        return alert
