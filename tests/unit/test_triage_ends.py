"""Alerts end as in Alertmanager: at their endsAt, or after resolve_timeout without one."""

from __future__ import annotations

from datetime import timedelta

from shared.messages import Alert
from tests.triage import T0, Triage, alert

DISK = {"alertname": "NodeFilesystemAlmostOutOfSpace", "cluster": "c1", "node": "w1"}
SETTINGS = {"lifecycle": {"quiet_period": "1m", "reopen_window": "30m"}}


def pushed(at: float, ends_in: float | None, status: str = "firing") -> Alert:
    """What Prometheus posts on /api/v2/alerts: endsAt a few intervals ahead."""
    sent = alert(DISK, status, at=at, source="prometheus")
    if ends_in is None:
        return sent
    return sent.model_copy(update={"ends_at": T0 + timedelta(seconds=at + ends_in)})


async def test_an_alert_whose_ends_at_passed_resolves_without_a_resolve() -> None:
    """Prometheus stopped sending (it was shut down): Alertmanager resolves
    the alert at its endsAt; so does Corral."""
    triage = Triage(**SETTINGS)
    [opened] = await triage.send(pushed(0, ends_in=240))
    assert await triage.tick(at=239) == []
    # The alert ended at 240; the incident resolves after the quiet period.
    assert await triage.tick(at=240 + 59) == []
    [resolved] = await triage.tick(at=240 + 60)
    assert (resolved.id, resolved.status, resolved.event) == (opened.id, "resolved", "resolved")
    assert resolved.alerts[0].status == "resolved"
    assert resolved.alerts[0].ends_at == T0 + timedelta(seconds=240)
    assert resolved.resolved_at == T0 + timedelta(seconds=300)


async def test_every_resend_pushes_the_end_on() -> None:
    triage = Triage(**SETTINGS)
    await triage.send(pushed(0, ends_in=240))
    for at in (60, 120, 180):
        assert await triage.send(pushed(at, ends_in=240)) == []
    assert await triage.tick(at=180 + 239 + 60) == []
    [resolved] = await triage.tick(at=180 + 240 + 60)
    assert resolved.status == "resolved"


async def test_without_ends_at_the_resolve_timeout_ends_it() -> None:
    triage = Triage(lifecycle={"quiet_period": "0s", "resolve_timeout": "5m"})
    await triage.send(pushed(0, ends_in=None))
    assert await triage.send(pushed(100, ends_in=None)) == []
    assert await triage.tick(at=100 + 299) == []
    [resolved] = await triage.tick(at=100 + 300)
    assert resolved.status == "resolved"


async def test_alertmanager_alerts_wait_for_alertmanager_to_resolve_them() -> None:
    """Alertmanager sends firing alerts without endsAt and the resolve itself
    (with send_resolved, the webhook default): no timeout applies."""
    triage = Triage(**SETTINGS)
    await triage.send(alert(DISK))
    assert await triage.tick(at=7 * 24 * 3600) == []


async def test_an_ended_alert_that_fires_again_reopens_its_incident() -> None:
    triage = Triage(**SETTINGS)
    [opened] = await triage.send(pushed(0, ends_in=60))
    [resolved] = await triage.tick(at=60 + 60)
    [reopened] = await triage.send(pushed(600, ends_in=240))
    assert resolved.id == reopened.id == opened.id
    assert reopened.event == "reopened"


async def test_the_end_survives_a_restore() -> None:
    first = Triage(**SETTINGS)
    await first.send(pushed(0, ends_in=240))
    await first.send(pushed(100, ends_in=240))
    second = first.restored()
    assert await second.tick(at=100 + 239 + 60) == []
    [resolved] = await second.tick(at=100 + 240 + 60)
    assert resolved.status == "resolved"
