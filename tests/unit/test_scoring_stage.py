"""Priority, score and explanation of incidents as the scoring stage sets them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.triage.scoring.stage import ScoringStage
from services.triage.stages import TriageContext
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus, Incident
from tests.triage import Triage as ChainRunner

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RESOLVED = {"status": AlertStatus.RESOLVED}


def alert(
    name: str, at: int = 0, annotations: dict[str, str] | None = None, **labels: str
) -> Alert:
    labels = {"alertname": name, "cluster": "c1", **labels}
    return Alert(
        fingerprint=fingerprint(labels),
        status="firing",
        labels=labels,
        annotations=annotations or {},
        starts_at=T0,
        source="alertmanager",
        received_at=T0 + timedelta(seconds=at),
    )


class Triage:
    """The real triage chain, every alert in one scope, scoring as configured;
    every batch that grows an incident gets its revision (no growth hold)."""

    def __init__(self, **scoring: Any):
        self.triage = ChainRunner(
            scopes=[["cluster"]],
            group_window="6h",
            growth_hold="0s",
            scoring={"classifier": False, **scoring},
        )
        self.stage = next(s for s in self.triage.chain.stages if isinstance(s, ScoringStage))
        self.state = self.triage.state

    async def run(self, *alerts: Alert) -> Incident:
        *_, last = await self.triage.send(*alerts)
        return last


@pytest.mark.parametrize(
    ("label", "severity", "priority", "score"),
    [
        ("critical", "critical", "P1", 85),
        ("page", "critical", "P1", 85),
        ("warning", "warning", "P3", 50),
        ("info", "info", "P5", 15),
    ],
)
async def test_severity_label_alone(label: str, severity: str, priority: str, score: int) -> None:
    incident = await Triage().run(alert("A", severity=label))
    assert (incident.severity, incident.priority, incident.score) == (severity, priority, score)
    assert f"severity {severity}: label severity={label!r} of A" in incident.explanation


async def test_context_raises_priority_and_every_contribution_is_listed() -> None:
    triage = Triage()
    await triage.run(alert("Slow", service="api", severity="warning", pod="1"))
    incident = await triage.run(
        alert("Slow", at=3600, service="api", severity="warning", pod="2"),
        alert("Slow", at=3600, service="web", severity="warning", pod="3"),
        alert("Slow", at=3600, service="web", severity="warning", pod="4"),
    )
    # 50 warning + 10 (4 alerts) + 5 (2 services) + 4 (firing 1h)
    assert (incident.severity, incident.priority, incident.score) == ("warning", "P2", 69)
    assert (
        "score 69 = base 50 (warning by label) +10 4 alerts +5 2 services +4 firing 1h00m"
        in incident.explanation
    )
    assert "priority P2 from the score" in incident.explanation


async def test_flapping_lowers_the_score() -> None:
    triage = Triage()
    first = await triage.run(alert("Flappy", severity="critical"))
    triage.state.incidents[first.id].flapping = True
    incident = await triage.run(alert("Flappy2", severity="critical"))
    assert incident.score == 85 + 5 - 10
    assert any(line.endswith("-10 flapping") for line in incident.explanation)


async def test_a_rule_priority_decides_alone_and_sets_team_and_runbook() -> None:
    triage = Triage(
        rules=[
            {
                "name": "payments",
                "matchers": ['service="payments"'],
                "priority": "P2",
                "team": "payments",
                "runbook": "https://runbooks.example/payments",
            }
        ]
    )
    incident = await triage.run(alert("Down", service="payments", severity="critical"))
    assert (incident.severity, incident.priority) == ("critical", "P2")
    assert 60 <= incident.score <= 79  # kept inside P2's band
    assert incident.labels["team"] == "payments"
    assert incident.labels["runbook_url"] == "https://runbooks.example/payments"
    assert "priority P2: rule 'payments' on Down" in incident.explanation
    assert "team payments: rule 'payments'" in incident.explanation


async def test_rule_severity_overrides_the_label() -> None:
    triage = Triage(
        rules=[{"name": "quiet", "matchers": ['alertname="Noisy"'], "severity": "info"}]
    )
    incident = await triage.run(alert("Noisy", severity="critical"))
    assert (incident.severity, incident.priority) == ("info", "P5")
    assert "severity info: rule 'quiet' on Noisy" in incident.explanation


async def test_noise_does_not_raise_priority() -> None:
    triage = Triage(
        rules=[{"name": "watchdog", "matchers": ['alertname="Watchdog"'], "noise": True}]
    )
    only_noise = await triage.run(alert("Watchdog", severity="critical"))
    assert (only_noise.priority, only_noise.score, only_noise.labels["noise"]) == ("P5", 0, "true")
    assert only_noise.explanation[-1] == "noise: all 1 alerts marked noise by rule 'watchdog'"
    mixed = await triage.run(alert("DiskFull", at=10, severity="warning"))
    assert (mixed.priority, mixed.score) == ("P3", 50)
    assert "noise: 1 of 2 alerts marked noise by rule 'watchdog'" in mixed.explanation
    assert "noise" not in mixed.labels


async def test_severity_label_can_be_ignored() -> None:
    incident = await Triage(use_severity_label=False).run(alert("A", severity="critical"))
    assert incident.severity == "warning"
    assert "severity warning: default, nothing else decided for A" in incident.explanation


async def test_classifier_decides_without_label_and_caches_verdicts(tmp_path: Path) -> None:
    triage = Triage(classifier=True, model_cache_dir=str(tmp_path))
    down = alert(
        "PrimaryDatabaseDown",
        annotations={"summary": "The primary database is down"},
        instance="db-1",
    )
    incident = await triage.run(down)
    assert incident.severity == "critical" and incident.priority in ("P1", "P2")
    [line] = [line for line in incident.explanation if line.startswith("severity")]
    assert line.startswith("severity critical: classifier on PrimaryDatabaseDown")
    assert "confidence 0." in line
    assert '; moved most by "down"' in line or ', "down"' in line  # the words that decided
    assert any(
        line.startswith("score ") and "(critical by classifier)" in line
        for line in incident.explanation
    )

    model = await triage.stage.models.current()  # type: ignore[union-attr]
    calls = []
    original = model.predict
    model.predict = lambda alerts: calls.append(len(alerts)) or original(alerts)  # type: ignore[method-assign]
    labelled = alert("DiskFilling", at=5, severity="warning")
    second = await triage.run(labelled)
    assert calls == [1]  # only the new alert went to the model
    # The first alert's verdict came from the cache and still leads the incident.
    assert any(
        line.startswith("severity critical: classifier on PrimaryDatabaseDown")
        for line in second.explanation
    )


async def test_a_growing_incident_is_scored_as_if_scored_afresh(tmp_path: Path) -> None:
    """Member scores are kept between revisions: every revision of an incident
    that grows, changes and loses members is scored as a new stage would."""
    scoring: dict[str, Any] = {
        "classifier": True,
        "model_cache_dir": str(tmp_path),
        "rules": [
            {"name": "watchdog", "matchers": ['alertname="Watchdog"'], "noise": True},
            {"name": "pay", "matchers": ['service="pay"'], "priority": "P2", "team": "pay"},
        ],
    }
    triage = Triage(**scoring)
    fresh = ScoringStage(triage.triage.settings.scoring)
    batches = [
        [alert("Watchdog", severity="critical")],
        [alert("Slow", at=60, service="api", severity="warning", pod=str(i)) for i in range(3)],
        [alert("PrimaryDatabaseDown", at=120, instance="db-1")],
        [alert("Down", at=3600, service="pay", severity="critical")],
        [alert("Down", at=3700, service="pay", severity="critical").model_copy(update=RESOLVED)],
        [alert("Slow", at=4000, service="web", pod=str(i)) for i in range(5)],
    ]
    teams: list[str | None] = []
    for batch in batches:
        incident = await triage.run(*batch)
        state = triage.state.incidents[incident.id]
        scored = (state.severity, state.priority, state.score, state.severity_reason)
        await fresh.process(TriageContext(0, triage.state, changed={state.id: state}))
        assert scored == (state.severity, state.priority, state.score, state.severity_reason)
        assert incident.explanation[-len(state.severity_reason) :] == state.severity_reason
        teams.append(incident.labels.get("team"))
    assert teams[3:5] == ["pay", None]  # the member the rule matched resolved


async def test_an_incident_grown_past_its_list_is_scored_as_if_scored_afresh() -> None:
    """Past ``max_alerts`` its growth leaves the listed members as they were:
    the alerts it counts and how long it fires still score as a new stage
    would score them."""
    runner = ChainRunner(
        scopes=[["cluster"]],
        group_window="6h",
        growth_hold="0s",
        max_alerts=3,
        scoring={"classifier": False},
    )
    fresh = ScoringStage(runner.settings.scoring)

    def slow(pod: int, at: int = 0) -> Alert:
        severity = "critical" if pod == 0 else "warning"  # the lead, until it resolves
        return alert("Slow", at=at, service="api", severity=severity, pod=str(pod))

    batches = [
        [slow(0), slow(1)],
        [slow(2, at=60)],
        [slow(3, at=120)],  # counted, not listed
        [slow(4, at=3600)],  # and firing for an hour
        [slow(0, at=3700).model_copy(update=RESOLVED)],  # a listed member changes
        [slow(5, at=3800)],
    ]
    scores = []
    for batch in batches:
        *_, incident = await runner.send(*batch)
        state = runner.state.incidents[incident.id]
        scored = (state.severity, state.priority, state.score, state.severity_reason)
        await fresh.process(TriageContext(0, runner.state, changed={state.id: state}))
        assert scored == (state.severity, state.priority, state.score, state.severity_reason)
        scores.append(incident.score)
    assert scores[3] > scores[2] > scores[1] > scores[0]  # more alerts, then longer
    assert incident.severity == "warning"
