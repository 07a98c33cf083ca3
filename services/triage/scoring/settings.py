"""The ``triage.scoring`` section of the configuration."""

from __future__ import annotations

from typing import Self

from pydantic import Field, PrivateAttr, model_validator

from services.triage.scoring.rulefiles import DatasetError, read_rules
from services.triage.scoring.rules import Rule, RuleConfig, build_rules, load_rule_file
from shared.config import ConfigError, StrictModel
from shared.durations import Duration


class ScoringSettings(StrictModel):
    """Severity and priority: rules first, then the classifier (docs/scoring.md)."""

    rules: list[RuleConfig] = Field(
        default_factory=list, description="Rules tried before the rule files, in order."
    )
    rule_files: list[str] = Field(
        default_factory=list,
        description="YAML files with a top-level `rules:` list; read at start and by check-config.",
    )
    use_severity_label: bool = Field(
        default=True,
        description="Take an alert's own severity label when no rule set its severity.",
    )
    classifier: bool = Field(default=True, description="Run the severity classifier.")
    model: str | None = Field(
        default=None,
        description="Model file from `corral train`; unset: the default model, built from "
        "the catalogue Corral ships on first use.",
    )
    adapt_rule_files: list[str] = Field(
        default_factory=list,
        description="Your Prometheus alerting rule files (`groups:` files or PrometheusRule "
        "manifests): the default model adapts to them when built (their severity words, "
        "paging rate, wording), as `corral train --adapt` does. Read at start and by "
        "check-config; ignored when `model` is set.",
    )
    model_cache_dir: str | None = Field(
        default=None,
        description="Where the default model is built; unset: $XDG_CACHE_HOME/corral.",
    )
    reload_interval: Duration = Field(
        default="10s",
        validate_default=True,
        description="How often the model file is checked for a change.",
    )
    cache_size: int = Field(
        default=100_000, ge=0, description="Classifier verdicts remembered per alert."
    )
    _rules: list[Rule] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _load_rules(self) -> Self:
        # Rule files are read here so that `corral check-config` reports their
        # problems (ConfigError with file:line) before a worker starts with them.
        rules = build_rules(self.rules, "triage.scoring.rules")
        for path in self.rule_files:
            rules.extend(load_rule_file(path))
        self._rules = rules
        try:
            read_rules(self.adapt_rule_files)
        except DatasetError as exc:
            raise ConfigError([f"triage.scoring.adapt_rule_files: {exc}"]) from None
        return self

    @property
    def compiled_rules(self) -> list[Rule]:
        return self._rules
