"""``corral replay`` on small hand-made histories: incidents, merges and splits,
pages per receiver and priority, accuracy against a truth file or the on-call
verdicts, and the gate a CI job uses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.corral.config import CorralConfig
from services.corral.replay import replay
from shared.config import read_yaml, validate
from shared.fingerprint import fingerprint
from shared.history import read_history
from shared.messages import Feedback, FeedbackVerdict
from tests.history import T0, Recording, corral

RULE = {
    "name": "node down",
    "source_matchers": ['alertname="NodeDown"'],
    "target_matchers": ['alertname="PodNotReady"'],
    "equal": ["cluster", "node"],
}
NODE = {"alertname": "NodeDown", "cluster": "c1", "node": "n1", "severity": "critical"}
PODS = [
    {"alertname": "PodNotReady", "cluster": "c1", "node": "n1", "namespace": ns, "pod": f"{ns}-1"}
    for ns in ("shop", "auth", "web")
]
CRON = {"alertname": "JobFailed", "cluster": "c1", "namespace": "batch", "job": "sync"}
SCORING = {
    "scoring": {
        "classifier": False,
        "rules": [{"matchers": ['alertname="NodeDown"'], "severity": "critical", "priority": "P1"}],
    }
}


def node_failure() -> Recording:
    """Three pods on one node in three namespaces, then the node, then an unrelated job."""
    r = Recording().fire(0, PODS[0]).fire(20, PODS[1]).fire(40, PODS[2])
    return r.fire(90, NODE).fire(120, CRON)


def truth() -> dict[str, str]:
    return {
        **{fingerprint(p): "node" for p in [NODE, *PODS]},
        fingerprint(CRON): "job",
    }


def config(tmp_path: Path, name: str, **triage: object) -> Path:
    routes = {
        "receiver": "chat",
        "routes": [{"receiver": "pager", "matchers": ['priority="P1"']}],
    }
    receivers = [{"name": n, "log_configs": [{}]} for n in ("chat", "pager")]
    body = {"triage": {**SCORING, **triage}, "notify": {"route": routes, "receivers": receivers}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return path


async def test_a_rule_joins_what_scope_kept_apart(tmp_path: Path) -> None:
    history = read_history([node_failure().write(tmp_path / "h.jsonl")])
    plain = CorralConfig.model_validate({"triage": SCORING})
    ruled = CorralConfig.model_validate({"triage": {**SCORING, "causes": {"rules": [RULE]}}})
    before, after = await replay(plain, history), await replay(ruled, history)
    assert before.scores(truth()).f1 < 0.5
    assert after.scores(truth()).f1 == 1.0
    # Without the rule: one incident per namespace, the node and the job. With
    # it, the pods wait for their cause together, and the node joins them.
    assert len(before.latest()) == 5 and len(after.latest()) == 2
    assert [p.policy for p in after.placements if p.fingerprint == fingerprint(NODE)] == [
        "cause_symptom"
    ]
    summary = after.summary(truth())
    assert summary["pages"] == 2 and summary["truth"]["pages_per_true_incident"] == 1.0


def test_command_compares_candidate_and_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = node_failure().write(tmp_path / "h.jsonl")
    truth_file = tmp_path / "truth.jsonl"
    truth_file.write_text(
        "".join(json.dumps({"fingerprint": k, "incident": v}) + "\n" for k, v in truth().items())
    )
    current = config(tmp_path, "current.yml")
    candidate = config(tmp_path, "candidate.yml", causes={"rules": [RULE]})
    args = ["replay", "--from", str(history), "--config", str(candidate)]
    args += ["--against", str(current), "--truth", str(truth_file), "--json"]
    assert corral(*args, "--max-page-increase", "0", "--min-f1", "0.9") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gate"] == {"passed": True, "failures": []}
    assert report["candidate"]["incidents"] == 2 and report["current"]["incidents"] == 5
    assert report["candidate"]["truth"]["f1"] == 1.0
    # The node makes the incident P1: the pager hears of it too.
    assert report["candidate"]["pages_by_receiver"] == {"chat": 2, "pager": 1}
    assert report["current"]["pages_by_receiver"] == {"chat": 4, "pager": 1}
    [joined] = report["changes"]["joined"]
    assert joined["alerts"] == 4 and len(joined["current"]) == 4
    assert report["changes"]["split"] == []

    # The other way round, the gate fails: more pages, and F1 below the floor.
    args = ["replay", "--from", str(history), "--config", str(current)]
    args += ["--against", str(candidate), "--truth", str(truth_file)]
    assert corral(*args, "--max-page-increase", "10", "--min-f1", "0.9") == 1
    captured = capsys.readouterr()
    assert "gate failed: candidate pages 5 times, current 3" in captured.err
    assert "gate failed: candidate's pairwise F1 is" in captured.err
    assert "against current: 1 incidents split, 0 joined" in captured.out
    assert "precision / recall / F1" in captured.out


def test_pages_follow_routes_priorities_and_group_wait(tmp_path: Path) -> None:
    history = read_history([node_failure().write(tmp_path / "h.jsonl")])
    routes = {
        "receiver": "chat",
        "routes": [
            {"receiver": "pager", "matchers": ['alertname="NodeDown"'], "group_wait": "60s"}
        ],
    }
    receivers = [{"name": n, "log_configs": [{}]} for n in ("chat", "pager")]
    body = {"triage": SCORING, "notify": {"route": routes, "receivers": receivers}}
    run = asyncio.run(replay(CorralConfig.model_validate(body), history))
    pages = {(p.receiver, p.incident_id): p for p in run.paging.pages}
    assert sorted(receiver for receiver, _ in pages) == ["chat"] * 4 + ["pager"]
    [paged] = [p for (receiver, _), p in pages.items() if receiver == "pager"]
    assert (paged.at - paged.opened_at).total_seconds() == 60  # its group_wait


def test_verdicts_in_the_history_score_the_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = node_failure().write(tmp_path / "h.jsonl")
    history = read_history([recorded])
    current = validate(CorralConfig, read_yaml(config(tmp_path, "current.yml")))
    live = asyncio.run(replay(current, history))
    cron = next(p.incident for p in live.placements if p.fingerprint == fingerprint(CRON))
    node = next(p.incident for p in live.placements if p.fingerprint == fingerprint(NODE))
    verdicts = [
        Feedback(incident_id=cron, verdict=FeedbackVerdict.NOISE, received_at=T0),
        Feedback(incident_id=node, verdict=FeedbackVerdict.RIGHT, received_at=T0),
    ]
    with recorded.open("a") as out:
        out.writelines(v.to_bytes().decode() + "\n" for v in verdicts)
    candidate = config(tmp_path, "candidate.yml", causes={"rules": [RULE]})
    args = ["replay", "--from", str(recorded), "--config", str(candidate), "--json"]
    corral(*args, "--against", str(config(tmp_path, "current.yml")))
    report = json.loads(capsys.readouterr().out)
    # Current pages the job (noise), the node (right) and three pods nobody
    # judged; the candidate pages the job, and the pods waiting for the node
    # twice (chat, then the pager once the node made it P1).
    assert report["current"]["feedback"] == {
        "verdicts": 2,
        "judged_pages": 2,
        "precision": 0.5,
        "recall": 1.0,
    }
    assert report["candidate"]["feedback"] == {
        "verdicts": 2,
        "judged_pages": 3,
        "precision": 0.6667,
        "recall": 1.0,
    }


def test_a_bad_history_is_an_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = node_failure().write(tmp_path / "h.jsonl")
    history.write_text(history.read_text() + "{}\n")
    assert corral("replay", "--from", str(history), "--config", str(config(tmp_path, "c.yml"))) == 1
    assert "h.jsonl:6: neither an exported alert" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["alerts", "export"], ["rules", "suggest"], ["replay"], ["explain"]]
)
def test_each_command_explains_itself(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert corral(*command, "--help") == 0
    assert "--from" in capsys.readouterr().out or command == ["alerts", "export"]


async def test_an_alert_a_step_fails_on_is_set_aside_as_the_worker_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.triage.scope import ScopePolicy

    plain = ScopePolicy.process

    def fragile(self: ScopePolicy, ctx: Any, event: Any) -> bool:
        if event.alert.labels.get("pod") == "auth-1":
            raise RuntimeError("a bug")
        return plain(self, ctx, event)

    monkeypatch.setattr(ScopePolicy, "process", fragile)
    # The failing pod arrives in one webhook with another: that one still counts.
    recording = Recording().fire(0, PODS[0]).fire(20, PODS[1], PODS[2]).fire(120, CRON)
    history = read_history([recording.write(tmp_path / "h.jsonl")])
    run = await replay(CorralConfig.model_validate({"triage": SCORING}), history)
    assert [(a.labels["pod"], why) for a, why in run.set_aside] == [
        ("auth-1", "RuntimeError('a bug')")
    ]
    placed = {p.labels.get("pod") or p.labels["alertname"] for p in run.placements}
    assert placed == {"shop-1", "web-1", "JobFailed"}
    assert run.summary()["set_aside"] == 1
