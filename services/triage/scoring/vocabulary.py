"""A team's severity vocabulary: which label carries severity, and what its values mean.

Corral understands the common spellings of a ``severity`` label out of the
box (``levels.SEVERITY_ALIASES``, P1-P5, sev1-sev4). A team may use another
label (``level``, ``priority``) or words of its own (``blocker``, ``ticket``);
adapting to the team's rule files learns both, and scoring then reads an
alert's own severity the way the team meant it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import SEVERITIES, normalize_severity

# Labels that carry a rule's severity somewhere, in order of preference.
SEVERITY_LABELS = ("severity", "level", "priority", "urgency", "criticality", "sev")


@dataclass(frozen=True)
class Vocabulary:
    label: str = "severity"
    # Values (lower case) the team uses that the common spellings do not cover.
    values: Mapping[str, str] = field(default_factory=dict)

    def raw(self, labels: Mapping[str, str]) -> str | None:
        """The severity the alert states, as written; None without one."""
        value = labels.get(self.label)
        if value is None and self.label != "severity":
            value = labels.get("severity")
        return value

    def severity(self, labels: Mapping[str, str]) -> str | None:
        """The alert's own severity as one of SEVERITIES, or None."""
        return self.level(self.raw(labels))

    def level(self, value: str | None) -> str | None:
        if not value:
            return None
        return self.values.get(value.strip().lower()) or normalize_severity(value)

    def without(self, alert: AlertText) -> AlertText:
        """The alert without the label that states its severity (the model's answer)."""
        if self.label not in alert.labels:
            return alert
        labels = {k: v for k, v in alert.labels.items() if k != self.label}
        return replace(alert, labels=labels)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "values": dict(sorted(self.values.items()))}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Vocabulary:
        if not data:
            return cls()
        values = {str(k): str(v) for k, v in (data.get("values") or {}).items() if v in SEVERITIES}
        return cls(label=str(data.get("label") or "severity"), values=values)
