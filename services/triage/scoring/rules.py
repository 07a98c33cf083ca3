"""Scoring rules: Alertmanager matchers over an alert's labels and annotations.

Rules are tried in order, like the children of an Alertmanager route: the
first rule that matches applies and ends the search unless it says
``continue: true``. With ``continue``, later matching rules fill in what the
earlier ones left unset (an earlier rule wins for a field both set), so a
general rule can set the team while a later, more specific one sets severity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shared.config import StrictModel, read_yaml, validate
from shared.matchers import Matcher, matches_all, parse_matcher

OUTCOME_FIELDS = ("severity", "priority", "team", "runbook", "noise")


def _valid_matcher(text: str) -> str:
    parse_matcher(text)
    return text


MatcherText = Annotated[str, AfterValidator(_valid_matcher)]


class RuleConfig(StrictModel):
    name: str | None = Field(default=None, description="Shown in the explanation.")
    matchers: list[MatcherText] = Field(
        default_factory=list, description="Over labels; all must match. None: every alert."
    )
    annotation_matchers: list[MatcherText] = Field(
        default_factory=list, description="Over annotations (summary, description, ...)."
    )
    severity: Literal["critical", "warning", "info"] | None = None
    """The alert's severity, over its own severity label and the classifier."""
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    """Decides the priority alone for matching alerts (the score stays in its band)."""
    team: str | None = Field(default=None, min_length=1)
    """Becomes the incident label `team`, which notify routes can match."""
    runbook: str | None = Field(default=None, min_length=1)
    """Becomes the incident label `runbook_url`."""
    noise: bool | None = Field(
        default=None, description="true: the alert is noise and does not raise the priority."
    )
    continue_: bool = Field(default=False, alias="continue")
    """Go on to later rules, which fill in what this one left unset."""


class RuleFile(StrictModel):
    rules: list[RuleConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    name: str
    matchers: tuple[Matcher, ...]
    annotation_matchers: tuple[Matcher, ...]
    outcome: dict[str, str | bool]
    continue_: bool = False

    @classmethod
    def build(cls, config: RuleConfig, default_name: str) -> Rule:
        outcome = {
            name: value for name in OUTCOME_FIELDS if (value := getattr(config, name)) is not None
        }
        return cls(
            name=config.name or default_name,
            matchers=tuple(parse_matcher(text) for text in config.matchers),
            annotation_matchers=tuple(parse_matcher(text) for text in config.annotation_matchers),
            outcome=outcome,
            continue_=config.continue_,
        )

    def matches(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels) and matches_all(
            self.annotation_matchers, annotations
        )


@dataclass(frozen=True)
class RuleOutcome:
    """What the rules decided for one alert, and which rule decided each field."""

    values: dict[str, str | bool] = field(default_factory=dict)
    decided_by: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    @property
    def noise(self) -> bool:
        return self.values.get("noise") is True


_NO_OUTCOME = RuleOutcome()


def evaluate(
    rules: Sequence[Rule], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> RuleOutcome:
    values: dict[str, str | bool] = {}
    decided_by: dict[str, str] = {}
    for rule in rules:
        if not rule.matches(labels, annotations):
            continue
        for name, value in rule.outcome.items():
            if name not in values:
                values[name] = value
                decided_by[name] = rule.name
        if not rule.continue_:
            break
    # Most alerts match no rule: they share one outcome (it is never changed).
    return RuleOutcome(values, decided_by) if values else _NO_OUTCOME


def build_rules(configs: Sequence[RuleConfig], where: str) -> list[Rule]:
    return [Rule.build(config, f"{where} rule {i + 1}") for i, config in enumerate(configs)]


def load_rule_file(path: str | Path) -> list[Rule]:
    """Rules of one file; a problem raises ConfigError naming file and line."""
    source = read_yaml(path)
    parsed = validate(RuleFile, source)
    return [
        Rule.build(config, f"{source.name}:{source.lines.get(('rules', i), '?')}")
        for i, config in enumerate(parsed.rules)
    ]
