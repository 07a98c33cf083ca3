"""``corral rules suggest`` on small hand-made histories whose right answer is known."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from services.corral.config import CorralConfig
from services.corral.suggest import Thresholds, episodes, mine, render, suggest
from shared.config import read_yaml, validate
from shared.history import read_history
from tests.alertmanager import am_alert, webhook
from tests.history import Recording, corral, stamp

HOUR = 3600.0


def node_down(node: str) -> dict[str, str]:
    return {"alertname": "NodeDown", "cluster": "c1", "node": node, "severity": "critical"}


def pod(node: str, namespace: str, n: int) -> dict[str, str]:
    return {
        "alertname": "PodNotReady",
        "cluster": "c1",
        "node": node,
        "namespace": namespace,
        "pod": f"{namespace}-{node}-{n}",
    }


def target_down(node: str, job: str) -> dict[str, str]:
    return {
        "alertname": "TargetDown",
        "cluster": "c1",
        "node": node,
        "job": job,
        "namespace": "monitoring",
    }


def db(service: str) -> dict[str, str]:
    return {"alertname": "PostgresqlDown", "cluster": "c1", "service": service}


def errors(service: str) -> dict[str, str]:
    return {"alertname": "HTTPErrors", "cluster": "c1", "service": service}


def job(n: int) -> dict[str, str]:
    return {"alertname": "JobFailed", "cluster": "c1", "namespace": "batch", "job": f"job-{n}"}


def history() -> Recording:
    """Two days: five node failures (the node, then its pods, some before it),
    six database outages (two databases, the services above each erroring),
    a service erroring on its own now and then, and failed jobs at any time."""
    r = Recording()
    for i, node in enumerate(["n1", "n2", "n3", "n4", "n5"]):
        t = (1 + 6 * i) * HOUR
        pods = [pod(node, ns, k) for k, ns in enumerate(["a", "b", "c"])]
        targets = [target_down(node, job) for job in ("kubelet", "node-exporter")]
        r.fire(t - 20, pods[0]).fire(t, node_down(node)).fire(t + 10, *targets)
        r.fire(t + 40, *pods[1:]).resolve(t + 600, node_down(node), *pods, *targets)
    for i in range(3):
        t = (3 + 8 * i) * HOUR
        r.fire(t, db("db-orders")).fire(t + 50, errors("orders"), errors("checkout"))
        r.resolve(t + 500, db("db-orders"), errors("orders"), errors("checkout"))
        t += 4 * HOUR
        r.fire(t, db("db-pay")).fire(t + 30, errors("payments"))
        r.resolve(t + 500, db("db-pay"), errors("payments"))
    for i in range(6):
        t = (2.5 + 7 * i) * HOUR
        r.fire(t, errors("search")).resolve(t + 300, errors("search"))
    for i in range(12):
        t = (0.5 + 3.9 * i) * HOUR  # some of them during the failures above
        r.fire(t, job(i)).resolve(t + 900, job(i))
    r.lines.sort(key=lambda line: line["received_at"])
    return r


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    return history().write(tmp_path / "history.jsonl")


def suggested(path: Path, **thresholds: object) -> list[dict[str, object]]:
    made = suggest(read_history([path]).keyed(["cluster"]), ["cluster"], Thresholds(**thresholds))
    return [rule.as_config() for rule in made]


def test_finds_the_causes_their_symptoms_and_what_they_share(recorded: Path) -> None:
    assert suggested(recorded) == [
        {
            # TargetDown → PodNotReady holds too, but NodeDown explains those pods.
            "name": "NodeDown causes PodNotReady, TargetDown",
            "source_matchers": ['{alertname="NodeDown"}'],
            "target_matchers": ['{alertname=~"PodNotReady|TargetDown"}'],
            "equal": ["cluster", "node"],
        },
        {
            "name": "PostgresqlDown{service=db-orders} causes HTTPErrors",
            "source_matchers": ['{alertname="PostgresqlDown", service="db-orders"}'],
            "target_matchers": ['{alertname="HTTPErrors", service=~"checkout|orders"}'],
            "equal": ["cluster"],
        },
        {
            "name": "PostgresqlDown{service=db-pay} causes HTTPErrors",
            "source_matchers": ['{alertname="PostgresqlDown", service="db-pay"}'],
            "target_matchers": ['{alertname="HTTPErrors", service="payments"}'],
            "equal": ["cluster"],
        },
    ]


def test_evidence_counts_what_happened(recorded: Path) -> None:
    found = episodes(read_history([recorded]).keyed(["cluster"]))
    relations = mine(found, ["cluster"])
    [node] = [r for r in relations if r.source == "NodeDown" and r.target == "PodNotReady"]
    assert (node.support, node.sources, node.explained, node.targets) == (5, 5, 15, 15)
    assert node.confidence == 1.0 and node.lift > 10
    # One pod of each failure fires 20s before its node, two 40s after.
    assert sorted(set(node.lags)) == [-20.0, 40.0]
    assert [count for _, count in node.examples] == [3, 3, 3]


def test_thresholds_on_the_command_line_leave_weak_relations_out(recorded: Path) -> None:
    # Six outages make the database rule, but three per database do not split
    # it; five node failures are too few, and ten TargetDown make their own rule.
    assert suggested(recorded, min_support=6) == [
        {
            "name": "TargetDown causes PodNotReady",
            "source_matchers": ['{alertname="TargetDown"}'],
            "target_matchers": ['{alertname="PodNotReady"}'],
            "equal": ["cluster", "node"],
        },
        {
            "name": "PostgresqlDown causes HTTPErrors",
            "source_matchers": ['{alertname="PostgresqlDown"}'],
            "target_matchers": ['{alertname="HTTPErrors", service=~"checkout|orders|payments"}'],
            "equal": ["cluster"],
        },
    ]
    assert suggested(recorded, min_lift=1e9) == []
    # A window shorter than the lag between cause and symptoms finds nothing.
    assert suggested(recorded, window=timedelta(seconds=5)) == []


def test_same_history_same_rules_whatever_the_line_order(recorded: Path, tmp_path: Path) -> None:
    lines = recorded.read_text().splitlines()
    random.Random(7).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(lines) + "\n")
    first = render(suggest(read_history([recorded]).keyed(["cluster"]), ["cluster"]), [])
    again = render(suggest(read_history([shuffled]).keyed(["cluster"]), ["cluster"]), [])
    assert first == again


def test_command_writes_rules_that_check_config_accepts(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert corral("rules", "suggest", "--from", str(recorded), "--out", str(out)) == 0
    text = out.read_text()
    assert "# 1. NodeDown causes PodNotReady, TargetDown" in text
    assert "PodNotReady: support 5 of 5 NodeDown, confidence 1.00" in text
    assert "e.g. 2026-11-02 01:00 cluster=c1, node=n1: NodeDown with 3 PodNotReady" in text
    assert corral("check-config", str(out)) == 0
    config = validate(CorralConfig, read_yaml(out))
    assert [r.name for r in config.triage.causes.rules] == [
        r["name"] for r in suggested(out.parent / "history.jsonl")
    ]
    assert yaml.safe_load(text)["triage"]["causes"]["rules"][0]["equal"] == ["cluster", "node"]


def test_command_names_a_bad_line(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded.write_text(recorded.read_text() + json.dumps({"received_at": "x"}) + "\n")
    assert corral("rules", "suggest", "--from", str(recorded)) == 1
    lines = len(recorded.read_text().splitlines())
    assert f"history.jsonl:{lines}: " in capsys.readouterr().err


def test_one_to_one_the_first_to_fire_is_the_cause(tmp_path: Path) -> None:
    filling = {"alertname": "DiskFilling", "cluster": "c1", "node": "n1", "mount": "/var"}
    full = {**filling, "alertname": "DiskFull"}
    r = Recording()
    for i in range(4):
        t = (1 + 10 * i) * HOUR
        # Alertmanager delivers both together; their startsAt says which began first.
        r.lines.append(
            {
                "received_at": stamp(t),
                "payload": webhook(
                    [
                        am_alert(full, starts_at=stamp(t - 60)),
                        am_alert(filling, starts_at=stamp(t - 300)),
                    ]
                ),
            }
        )
        r.resolve(t + 900, filling, full)
    [rule] = suggested(r.write(tmp_path / "h.jsonl"))
    assert rule["source_matchers"] == ['{alertname="DiskFilling"}']
    assert rule["equal"] == ["cluster", "mount", "node"]
