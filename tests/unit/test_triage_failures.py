"""What one alert or incident that triage fails on does to the rest: nothing.

The worker-level handling (quarantine, restore, run again) is in
``tests/integration/test_quarantine.py``; here, the chain's part: a failing
step names its alert, and scoring or emitting one incident fails alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.triage.correlate import CorrelateStage
from services.triage.emit import EmitStage
from services.triage.scoring import stage as scoring_stage
from services.triage.scoring.features import AlertText, expr_from_generator_url
from services.triage.stages import AlertEvent, AlertFailed, TriageContext
from shared.messages import Alert, Incident
from tests.triage import Triage, alert


def emitted(ctx: TriageContext) -> list[Incident]:
    """The revisions a chain run wrote, as notify reads them."""
    return [
        Incident.from_bytes(r.value.to_bytes())
        for r in ctx.records
        if r.topic == "incidents" and r.value is not None
    ]


DB = {"alertname": "PrimaryDatabaseDown", "cluster": "c1", "namespace": "db"}
WEB = {"alertname": "HighErrorRate", "cluster": "c1", "namespace": "web"}


def with_url(a: Alert, url: str) -> Alert:
    return a.model_copy(update={"generator_url": url})


def test_an_unparsable_generator_url_has_no_expression() -> None:
    assert expr_from_generator_url("http://[") == ""
    assert expr_from_generator_url("http://[::1/graph?g0.expr=up") == ""
    assert expr_from_generator_url("http://p:9090/graph?g0.expr=up+%3D%3D+0") == "up == 0"
    text = AlertText.of(with_url(alert(DB), "http://["))  # type: ignore[arg-type]
    assert text.expr == ""


async def test_the_classifier_scores_an_alert_whose_generator_url_is_broken(
    tmp_path: Path,
) -> None:
    """The alert from the report: with a model loaded, ``http://[`` made
    feature extraction raise, and every batch holding it failed."""
    triage = Triage(scoring={"model_cache_dir": str(tmp_path)})
    [incident] = await triage.send(with_url(alert(DB), "http://["))
    assert incident.alerts[0].generator_url == "http://["
    assert any("classifier" in line for line in incident.explanation)


class Exploding:
    """A correlation step that raises on alerts with a given label."""

    def __init__(self, label: str):
        self.label = label

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        if self.label in event.alert.labels:
            raise RuntimeError(f"cannot handle {self.label}")
        return False


async def test_a_failing_step_names_the_alert_it_failed_on() -> None:
    triage = Triage(scopes=[["namespace"]])
    correlate = next(s for s in triage.chain.stages if isinstance(s, CorrelateStage))
    correlate.steps.insert(1, Exploding("poison"))
    seen: list[Alert] = []

    def reading() -> Any:
        for a in [alert(WEB), alert({**DB, "poison": "yes"}, at=1), alert(DB, at=2)]:
            seen.append(a)
            yield a, "c1"

    ctx = TriageContext(0, triage.state, reading())
    with pytest.raises(AlertFailed) as failure:
        await triage.chain.process(ctx)
    assert ctx.stage == "correlate"
    assert seen[-1].labels.get("poison") == "yes"
    assert isinstance(failure.value.__cause__, RuntimeError)


async def test_one_incident_that_cannot_be_scored_keeps_its_severity_and_the_rest_are_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    triage = Triage(scopes=[["namespace"]], scoring={"classifier": False})
    real = scoring_stage.assess

    def assess(incident: Any, scores: Any, problem: Any) -> Any:
        if incident.correlation_key == "namespace=db":
            raise ZeroDivisionError("a bug in scoring")
        return real(incident, scores, problem)

    monkeypatch.setattr(scoring_stage, "assess", assess)
    ctx = TriageContext(0, triage.state, [(alert(DB), "c1"), (alert(WEB, at=1), "c1")])
    await triage.chain.process(ctx)
    revisions = {r.correlation_key: r for r in emitted(ctx)}
    db, web = revisions["namespace=db"], revisions["namespace=web"]
    assert (db.severity, db.priority) == ("warning", "P3")  # what a new incident starts with
    assert any("severity not re-scored (ZeroDivisionError)" in line for line in db.explanation)
    assert web.score > 0 and not any("re-scored" in line for line in web.explanation)
    assert [(stage, type(e).__name__, i.id) for stage, e, i in ctx.failures] == [
        ("score", "ZeroDivisionError", db.id)
    ]


async def test_one_incident_that_cannot_be_emitted_leaves_its_revision_for_the_next_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    triage = Triage(scopes=[["namespace"]])
    real = EmitStage.revision
    broken = {"on": True}

    def revision(ctx: TriageContext, incident: Any) -> Any:
        if broken["on"] and incident.correlation_key == "namespace=db":
            raise ValueError("cannot build the revision")
        return real(ctx, incident)

    monkeypatch.setattr(EmitStage, "revision", staticmethod(revision))
    ctx = TriageContext(0, triage.state, [(alert(DB), "c1"), (alert(WEB, at=1), "c1")])
    await triage.chain.process(ctx)
    assert [r.correlation_key for r in emitted(ctx)] == ["namespace=web"]
    [(stage, _, incident)] = ctx.failures
    assert stage == "emit" and incident.revision == 0
    # Its state is written all the same (with no revision yet)...
    assert f"i/{incident.id}" in {r.key for r in ctx.records if r.topic == "state"}
    # ...and its next change is its first revision.
    broken["on"] = False
    [first] = await triage.send(alert({**DB, "pod": "db-2"}, at=5))
    assert (first.id, first.revision, first.event) == (incident.id, 1, "opened")
    assert len(first.alerts) == 2
