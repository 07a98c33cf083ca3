"""Reading recorded alerts: exported records, captured webhooks and verdicts, with
errors that name the file, the line and the field."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.fingerprint import fingerprint
from shared.history import HistoryError, read_history
from shared.messages import Alert, AlertStatus, Feedback, FeedbackVerdict
from tests.history import T0, Recording

POD = {"alertname": "KubePodNotReady", "cluster": "c1", "namespace": "shop", "pod": "api-1"}
NODE = {"alertname": "KubeNodeNotReady", "cluster": "c2", "node": "n1"}


def test_captured_webhooks_are_normalized_as_ingest_does(tmp_path: Path) -> None:
    path = Recording().fire(60, POD).resolve(120, POD).write(tmp_path / "captured.jsonl")
    history = read_history([path])
    first, second = history.alerts
    assert first.fingerprint == fingerprint(POD) and first.labels == POD
    assert first.status == AlertStatus.FIRING and second.status == AlertStatus.RESOLVED
    assert first.source == "alertmanager" and first.receiver == "corral"
    assert (second.received_at - first.received_at).total_seconds() == 60
    assert first.ends_at is None  # Go's zero time, as ingest reads it


def test_exported_alerts_and_webhooks_mix_in_event_time_order(tmp_path: Path) -> None:
    exported = Alert(
        fingerprint=fingerprint(NODE),
        status=AlertStatus.FIRING,
        labels=NODE,
        source="prometheus",
        received_at=datetime(2026, 11, 2, 0, 0, 30, tzinfo=UTC),
    )
    verdict = Feedback(incident_id="abc", verdict=FeedbackVerdict.NOISE, received_at=T0)
    captured = Recording().fire(60, POD).fire(0, POD).write(tmp_path / "a.jsonl")
    other = tmp_path / "b.jsonl.gz"
    with gzip.open(other, "wt") as out:
        out.write(exported.to_bytes().decode() + "\n\n" + verdict.to_bytes().decode() + "\n")
    history = read_history([captured, other])
    assert [a.received_at.second for a in history.alerts] == [0, 30, 0]
    assert [a.received_at.minute for a in history.alerts] == [0, 0, 1]
    assert history.alerts[1] == exported
    assert history.feedback == [verdict]
    assert [a for a, key in history.keyed(["cluster"])][1] == exported
    assert [key for _, key in history.keyed(["cluster"])] == ["c1", "c2", "c1"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"hello": 1}', "neither an exported alert"),
        (
            json.dumps({"received_at": "2026-11-02T00:00:00Z", "payload": {"version": "4"}}),
            "payload.groupKey: Field required",
        ),
        (
            json.dumps({"received_at": "2026-11-02T00:00:00", "payload": {}}),
            "received_at: Input should have timezone info",
        ),
        (
            json.dumps(
                {"fingerprint": "x", "labels": {}, "status": "firing", "source": "prometheus"}
            ),
            "received_at: Field required",
        ),
    ],
)
def test_a_bad_line_names_file_line_and_field(tmp_path: Path, line: str, problem: str) -> None:
    path = Recording().fire(0, POD).write(tmp_path / "history.jsonl")
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(HistoryError) as raised:
        read_history([path])
    assert str(raised.value).startswith(f"{path}:2: ")
    assert problem in str(raised.value)


def test_a_bad_label_name_in_a_captured_webhook_is_named(tmp_path: Path) -> None:
    path = Recording().fire(0, {**POD, "bad-name": "x"}).write(tmp_path / "history.jsonl")
    with pytest.raises(HistoryError, match=r":1: payload\.alerts\[0\]\.labels\.bad-name"):
        read_history([path])


def test_a_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="No such file"):
        read_history([tmp_path / "nope.jsonl"])
