"""The post-incident review of a scripted incident: the right sections, times and people."""

from __future__ import annotations

from pathlib import Path

from services.incidents.review import build_review, human, render_review
from services.incidents.store import IncidentStore, database_for
from services.incidents.times import to_ms
from services.incidents.views import Describer
from tests.incidents import action, alert, at, outcome, revision

NODE = alert("KubeNodeNotReady", fingerprint="fp-node", service="kubelet", node="worker-7")
PODS = alert("KubePodNotReady", fingerprint="fp-pods", service="checkout", node="worker-7")
EXPLANATION = [
    'opened by KubeNodeNotReady{node="worker-7"}',
    "KubePodNotReady joined: node worker-7",
    "probable root: KubeNodeNotReady",
]
SCRIPT = [
    revision(1, [NODE], 3, explanation=EXPLANATION[:1], title="KubeNodeNotReady: worker-7"),
    outcome(4, "oncall", escalation_step=1, escalation_policy="platform"),
    revision(
        2,
        [NODE, PODS],
        40,
        explanation=EXPLANATION,
        root_cause="fp-node",
        title="KubeNodeNotReady: worker-7",
    ),
    outcome(904, "secondary", escalation_step=2, escalation_policy="platform"),
    action("acknowledge", 1000, "alice", source="pagerduty"),
    action("assign", 1010, "alice", role="incident_commander", person="alice"),
    action("assign", 1020, "alice", role="communications_lead", person="bob"),
    action("note", 1500, "alice", text="worker-7 lost its disk; cordoned"),
    action("resolve", 2803, "alice", text="node replaced"),
]


async def scripted_review(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = IncidentStore(database_for("sqlite", str(tmp_path)), Describer())
    await store.open()
    try:
        for n, message in enumerate(SCRIPT):
            await store.apply([message], {("t", 0): n + 1})  # type: ignore[list-item]
        stored = await store.get("inc-1")
    finally:
        await store.close()
    assert stored is not None
    return build_review(stored, to_ms(at(4000)))


async def test_review_of_a_scripted_incident(tmp_path: Path) -> None:
    review = await scripted_review(tmp_path)
    assert review.time_to_acknowledge_seconds == 1000
    assert review.time_to_resolve_seconds == 2803
    assert review.duration_seconds == 2803
    assert (review.acknowledged_by, review.resolved_by) == ("alice", "alice")
    assert review.services == ["kubelet", "checkout"]
    assert review.alert_total == 2
    assert review.root_cause is not None and review.root_cause["fingerprint"] == "fp-node"
    assert review.root_cause_reasoning == ["probable root: KubeNodeNotReady"]
    assert [(p.name, p.roles) for p in review.people] == [
        ("alice", ["incident_commander"]),
        ("bob", ["communications_lead"]),
    ]
    assert review.summary == (
        "KubeNodeNotReady: worker-7: a P1 critical incident of team storage, affecting "
        "kubelet, checkout, 2 alerts. Acknowledged by alice after 16m 40s. "
        "Resolved by alice after 46m 43s."
    )
    document = review.as_json()
    assert document["follow_up_actions"] == [] and document["lessons"] == []


async def test_review_as_markdown_and_html(tmp_path: Path) -> None:
    review = await scripted_review(tmp_path)
    markdown = render_review(review, "markdown")
    sections = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Summary",
        "## Impact",
        "## Response",
        "## Root cause",
        "## People and roles",
        "## Timeline",
        "## Notes",
        "## Follow-up actions",
        "## Lessons learned",
    ]
    assert "| Time to acknowledge | 16m 40s (alice) |" in markdown
    assert "| Time to resolve | 46m 43s (alice) |" in markdown
    assert "| Duration | 46m 43s |" in markdown
    assert "| Services | kubelet, checkout |" in markdown
    assert "Triage named **KubeNodeNotReady** as the probable root" in markdown
    assert "- **alice**: incident commander (acknowledge, assign, note, resolve)" in markdown
    assert "- **bob**: communications lead" in markdown
    assert (
        "| 2026-11-26T10:15:04.000Z | escalation step 2 of platform: trigger to secondary "
        "(pagerduty/0): sent |" in markdown
    )
    assert "| 2026-11-26T10:46:43.000Z | resolved by alice via api: node replaced |" in markdown
    assert "worker-7 lost its disk; cordoned" in markdown
    html = render_review(review, "html")
    assert "<h2>Lessons learned</h2>" in html
    assert "<td>16m 40s (alice)</td>" in html


def test_html_escapes_what_alerts_and_people_wrote() -> None:
    from services.incidents.review import Review

    review = Review(
        "inc-x",
        "<script>alert(1)</script>",
        "s",
        "P1",
        "critical",
        "firing",
        "",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        [],
        [],
        0,
        None,
        [],
        [],
        [],
        [],
    )
    html = render_review(review, "html")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


async def test_a_root_cause_without_a_summary_or_a_name_renders(tmp_path: Path) -> None:
    review = await scripted_review(tmp_path)
    review.root_cause = {"fingerprint": "fp-bare", "status": "firing", "labels": {}}
    review.root_cause["annotations"] = {}
    assert "Triage named **fp-bare** as the probable root." in render_review(review, "markdown")
    assert "<strong>fp-bare</strong> as the probable root." in render_review(review, "html")


def test_human_durations() -> None:
    assert [human(s) for s in (None, 5, 65, 3600 + 120, 86400 * 2 + 3600 * 3)] == [
        "—",
        "5s",
        "1m 05s",
        "1h 02m",
        "2d 3h",
    ]
