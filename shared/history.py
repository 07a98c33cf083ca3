"""Recorded alerts, read back for the offline tools (``corral rules suggest``,
``corral replay``, ``corral explain``).

A history is one or more JSONL files whose lines may be, mixed freely:

* an alert as ``corral.alerts`` holds it (what ``corral alerts export`` writes);
* a captured webhook, ``{"received_at": "<RFC 3339>", "payload": <Alertmanager
  webhook v4 body>}``, which anyone can record in front of Alertmanager today:
  it is validated and normalized exactly as ingest does on receipt;
* an on-call verdict as ``corral.feedback`` holds it (``export --with-feedback``).

Alerts come back in event-time order (``received_at``, ties in file order),
which is the order triage decides in. A bad line is an error naming the file,
the line and the field, never a skipped alert: a what-if answer computed on
part of the history would look complete and be wrong.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from shared.messages import Alert, Feedback
from shared.normalize import from_webhook
from shared.partitioning import alert_key
from shared.payloads import WebhookPayload, field_path


class HistoryError(Exception):
    """A history file that cannot be read: ``file:line: problem``."""


class CapturedWebhook(BaseModel):
    """One webhook as Alertmanager sent it, with the time it arrived."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: AwareDatetime
    payload: WebhookPayload


@dataclass
class History:
    alerts: list[Alert] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def start(self) -> datetime | None:
        return self.alerts[0].received_at if self.alerts else None

    @property
    def end(self) -> datetime | None:
        return self.alerts[-1].received_at if self.alerts else None

    def keyed(self, key_labels: Sequence[str]) -> Iterator[tuple[Alert, str]]:
        """Each alert with the key ingest gives it (``ingest.key_labels``), in order."""
        for alert in self.alerts:
            yield alert, alert_key(alert.labels, key_labels)

    def describe(self) -> str:
        unique = len({a.fingerprint for a in self.alerts})
        span = f" from {self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S}"
        return (
            f"{', '.join(self.sources)}: {len(self.alerts)} alerts ({unique} unique)"
            + (span if self.alerts else "")
            + (f", {len(self.feedback)} verdicts" if self.feedback else "")
        )


def read_history(paths: Sequence[str | Path]) -> History:
    """Every alert and verdict of the files (``-`` is standard input; ``.gz`` is read as gzip)."""
    history = History()
    for path in paths:
        name = str(path)
        history.sources.append(name)
        with _open(name) as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    _add(history, line, f"{name}:{number}")
    history.alerts.sort(key=lambda a: a.received_at)
    return history


def _open(name: str) -> IO[str]:
    if name == "-":
        return sys.stdin
    try:
        if name.endswith(".gz"):
            return gzip.open(name, "rt", encoding="utf-8")
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise HistoryError(f"{name}: {exc.strerror or exc}") from None


def _add(history: History, line: str, where: str) -> None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{where}: not UTF-8: {exc.reason}") from None
    if not isinstance(data, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(data).__name__}")
    try:
        if "payload" in data:
            captured = CapturedWebhook.model_validate(data)
            normalized = from_webhook(captured.payload, captured.received_at)
            history.alerts.extend(Alert.from_bytes(n.data) for n in normalized)
        elif "incident_id" in data and "verdict" in data:
            history.feedback.append(Feedback.model_validate(data))
        elif "fingerprint" in data and "labels" in data:
            history.alerts.append(Alert.model_validate(data))
        else:
            raise HistoryError(
                f"{where}: neither an exported alert (fingerprint, labels, …), a captured "
                'webhook ({"received_at", "payload"}) nor a feedback verdict'
            )
    except ValidationError as exc:
        raise HistoryError(f"{where}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    error: dict[str, Any] = dict(exc.errors(include_url=False, include_input=False)[0])
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    return f"{field_path(loc)}: {error['msg']}"
