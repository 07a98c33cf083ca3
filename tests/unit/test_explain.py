"""``corral explain``: why an alert did or did not join an incident, on small
hand-made histories where the answer is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.corral.config import CorralConfig
from services.corral.explain import ExplainError, explain
from services.corral.replay import replay
from shared.fingerprint import fingerprint
from shared.history import read_history
from tests.history import Recording, corral

SHOP = {"alertname": "KubePodCrashLooping", "cluster": "c1", "namespace": "shop", "pod": "api-1"}
SHOP_2 = {**SHOP, "pod": "api-2"}
JOB = {"alertname": "KubeJobFailed", "cluster": "c1", "namespace": "batch", "job_name": "sync"}
DISK = {"alertname": "NodeDiskFull", "cluster": "c1", "node": "n1"}
CONFIG = CorralConfig.model_validate({"triage": {"scoring": {"classifier": False}}})


async def verdict(recording: Recording, tmp_path: Path, alert: str, incident: str) -> str:
    history = read_history([recording.write(tmp_path / "h.jsonl")])
    return "\n".join(await explain(CONFIG, history, alert, incident))


async def incident_of(recording: Recording, tmp_path: Path, labels: dict[str, str]) -> str:
    history = read_history([recording.write(tmp_path / "h.jsonl")])
    run = await replay(CONFIG, history)
    return run.grouping()[fingerprint(labels)]


async def test_joined_by_scope(tmp_path: Path) -> None:
    recording = Recording().fire(0, SHOP).fire(60, SHOP_2)
    incident = await incident_of(recording, tmp_path, SHOP)
    text = await verdict(recording, tmp_path, fingerprint(SHOP_2), incident)
    assert f"placed in incident {incident} by scope: same namespace=shop within 5m" in text
    assert f"→ it is in incident {incident}" in text
    assert "what would change it: triage.scopes" in text


async def test_too_late_for_the_window(tmp_path: Path) -> None:
    recording = Recording().fire(0, SHOP).fire(600, SHOP_2)
    incident = await incident_of(recording, tmp_path, SHOP)
    text = await verdict(recording, tmp_path, '{pod="api-2"}', incident)
    assert f"→ not in incident {incident}" in text
    assert "same scope namespace=shop, but the incident last changed 10m before the alert" in text
    assert "(group_window 5m)" in text


async def test_another_key(tmp_path: Path) -> None:
    elsewhere = {**SHOP_2, "cluster": "c2"}
    recording = Recording().fire(0, SHOP).fire(30, elsewhere)
    incident = await incident_of(recording, tmp_path, SHOP)
    text = await verdict(recording, tmp_path, fingerprint(elsewhere), incident)
    assert "key: the alert's key is 'c2' (cluster), the incident's 'c1'" in text
    assert "correlation never crosses the key" in text


async def test_nothing_relates_them_and_a_rule_would(tmp_path: Path) -> None:
    recording = Recording().fire(0, JOB).fire(30, DISK)
    incident = await incident_of(recording, tmp_path, JOB)
    text = await verdict(recording, tmp_path, fingerprint(DISK), incident)
    assert "scope: the alert's is node=n1; the incident's alerts': namespace=batch." in text
    assert (
        "nothing relates them: a cause rule would join them, e.g. {source_matchers: "
        "['alertname=\"KubeJobFailed\"'], target_matchers: ['alertname=\"NodeDiskFull\"'], "
        "equal: [cluster]}" in text
    )
    recording = Recording().fire(0, JOB).fire(30, {**JOB, "alertname": "KubeCronJobLate"})
    incident = await incident_of(recording, tmp_path, JOB)
    late = fingerprint({**JOB, "alertname": "KubeCronJobLate"})
    text = await verdict(recording, tmp_path, late, incident)
    # Same namespace: scope joined them.
    assert "by scope: same namespace=batch" in text


async def test_an_incident_that_opened_later(tmp_path: Path) -> None:
    recording = Recording().fire(0, JOB).fire(30, SHOP)
    incident = await incident_of(recording, tmp_path, SHOP)
    text = await verdict(recording, tmp_path, fingerprint(JOB), incident)
    assert f"incident {incident} opened only 30s later" in text


async def test_a_rule_that_took_the_alert(tmp_path: Path) -> None:
    node = {"alertname": "NodeDown", "cluster": "c1", "node": "n1"}
    pod = {**SHOP, "alertname": "PodNotReady", "node": "n1"}
    rule = {
        "name": "node down",
        "source_matchers": ['alertname="NodeDown"'],
        "target_matchers": ['alertname="PodNotReady"'],
        "equal": ["cluster", "node"],
    }
    config = CorralConfig.model_validate(
        {"triage": {"scoring": {"classifier": False}, "causes": {"rules": [rule]}}}
    )
    history = read_history(
        [Recording().fire(0, SHOP).fire(20, pod).fire(60, node).write(tmp_path / "h.jsonl")]
    )
    run = await replay(config, history)
    rollout = run.grouping()[fingerprint(SHOP)]
    text = "\n".join(await explain(config, history, fingerprint(pod), rollout))
    # It joined the crash-looping pods by scope, then its cause took it.
    assert f"placed in incident {rollout} by scope: same namespace=shop" in text
    assert f"moved from incident {rollout} to" in text and "rule 'node down'" in text
    assert (
        f"→ it was in incident {rollout} until 2026-11-02 00:01:00, when its cause took it" in text
    )
    node_incident = run.grouping()[fingerprint(node)]
    text = "\n".join(await explain(config, history, fingerprint(pod), node_incident))
    assert f"→ it is in incident {node_incident}" in text


async def test_unknown_alert_or_incident_is_an_error(tmp_path: Path) -> None:
    recording = Recording().fire(0, SHOP).fire(10, SHOP_2)
    with pytest.raises(ExplainError, match="2 alerts match"):
        await verdict(recording, tmp_path, '{namespace="shop"}', "x")
    with pytest.raises(ExplainError, match="no alert in the history matches"):
        await verdict(recording, tmp_path, '{namespace="nope"}', "x")
    with pytest.raises(ExplainError, match="no incident 0123 in the replay"):
        await verdict(recording, tmp_path, fingerprint(SHOP), "0123")


def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = Recording().fire(0, SHOP).fire(60, SHOP_2).write(tmp_path / "h.jsonl")
    assert corral("explain", '{pod="api-2"}', "--incident", "nope", "--from", str(history)) == 1
    assert "no incident nope" in capsys.readouterr().err
