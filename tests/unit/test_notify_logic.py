"""notify's pure logic: admitting revisions, silences, templates, Retry-After, the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notify.config import NotifySettings, RetrySettings
from services.notify.dedup import DedupStage
from services.notify.limits import Limiter
from services.notify.outbox import admit
from services.notify.receivers.base import Delivery, DeliveryError
from services.notify.receivers.http import retry_after_seconds
from services.notify.receivers.log import LogIntegration
from services.notify.retry import RetryStage
from services.notify.routing import RouteNode
from services.notify.silences import SilenceStore
from services.notify.stages import Notification
from services.notify.templates import Flavor, Templates, template_context
from shared.messages import SentNotification, Silence
from tests.integration.notify_fakes import incident

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ROUTE = RouteNode.build(
    NotifySettings.model_validate({"route": {"receiver": "log", "group_wait": "30s"}}).route
)


def entry(**fields: object) -> SentNotification:
    return SentNotification.model_validate(
        {"incident_id": "inc-1", "receiver": "r", "integration": "log/0", **fields}
    )


def test_first_firing_revision_waits_for_group_wait_from_opening() -> None:
    opened = incident(opened_at=NOW - timedelta(seconds=10))
    admitted = admit(None, opened, "r", "log/0", ROUTE, NOW)
    assert admitted is not None and admitted.due_at == NOW + timedelta(seconds=20)
    late = incident(opened_at=NOW - timedelta(minutes=5))
    assert admit(None, late, "r", "log/0", ROUTE, NOW).due_at == NOW  # type: ignore[union-attr]


def test_changes_after_the_first_delivery_are_due_at_once() -> None:
    delivered = entry(revision=1, status="firing", incident=incident(1).model_dump())
    admitted = admit(delivered, incident(2, opened_at=NOW), "r", "log/0", ROUTE, NOW)
    assert admitted is not None
    assert (admitted.due_at, admitted.incident.revision, admitted.revision) == (NOW, 2, 1)  # type: ignore[union-attr]


def test_repeated_and_older_revisions_are_not_admitted() -> None:
    known = entry(revision=1, status="firing", incident=incident(2).model_dump(), due_at=NOW)
    assert admit(known, incident(2), "r", "log/0", ROUTE, NOW) is None
    assert admit(known, incident(1), "r", "log/0", ROUTE, NOW) is None
    assert admit(entry(revision=3, status="firing"), incident(2), "r", "log/0", ROUTE, NOW) is None


def test_a_dead_lettered_revision_is_admitted_again_for_replay() -> None:
    failed = entry(failed=1, incident=incident(1).model_dump())
    admitted = admit(failed, incident(1), "r", "log/0", ROUTE, NOW)
    assert admitted is not None and admitted.due_at is not None
    delivered = entry(failed=1, revision=1, status="firing", incident=incident(1).model_dump())
    assert admit(delivered, incident(1), "r", "log/0", ROUTE, NOW) is None


def silence(*matchers: str, minutes: int = 60, starts_in: int = -1) -> Silence:
    return Silence(
        id=f"s-{'-'.join(matchers)}-{minutes}",
        matchers=list(matchers),
        starts_at=NOW + timedelta(minutes=starts_in),
        ends_at=NOW + timedelta(minutes=minutes),
        created_by="alice",
        comment="maintenance",
        updated_at=NOW,
    )


def add(store: SilenceStore, silence: Silence) -> None:
    store.apply(silence.id, silence)


def test_silence_matches_incident_labels_priority_and_severity() -> None:
    store = SilenceStore()
    add(store, silence('team="storage"', 'priority=~"P3|P4"'))
    assert store.muting(incident(), NOW) is not None
    assert store.muting(incident(priority="P1"), NOW) is None
    add(store, silence('incident_id="inc-9"'))  # acknowledging one incident
    assert store.muting(incident(id="inc-9", priority="P1"), NOW) is not None


def test_silence_mutes_when_every_firing_alert_is_silenced() -> None:
    store = SilenceStore()
    add(store, silence('instance="db-1:9100"', minutes=30))
    add(store, silence('instance="db-1:9100"', minutes=90))
    muting = store.muting(incident(), NOW)
    assert muting is not None and muting.ends_at == NOW + timedelta(minutes=30)
    two = incident()
    two = two.model_copy(
        update={
            "alerts": [
                *two.alerts,
                two.alerts[0].model_copy(update={"labels": {"instance": "db-2"}}),
            ]
        }
    )
    assert store.muting(two, NOW) is None


def test_pending_and_expired_silences_mute_nothing() -> None:
    store = SilenceStore()
    add(store, silence('team="storage"', starts_in=5))
    add(store, silence('team="storage"', minutes=-1, starts_in=-10))
    assert store.muting(incident(), NOW) is None


def test_templates_import_user_files_and_fall_back_on_errors(tmp_path: Path) -> None:
    macros = tmp_path / "corral.j2"
    macros.write_text("{% macro line(i) %}{{ i.priority }} {{ i.labels.team }}{% endmacro %}")
    templates = Templates([str(macros)])
    context = template_context(incident(), "r", False)
    source = '{% import "corral.j2" as c %}{{ c.line(incident) }} {{ incident.labels.none.x }}!'
    assert templates.render(source, "summary", context, Flavor.TEXT) == "P3 storage !"
    broken = "{{ incident.title | no_such_filter }}"
    assert templates.render(broken, "summary", context, Flavor.TEXT) == "/var on db-1 is 97% full"


def test_templates_are_sandboxed() -> None:
    context = template_context(incident(), "r", False)
    escape = "{{ incident.__class__.__mro__ }}"
    assert Templates().render(escape, "summary", context, Flavor.TEXT) == ""


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 26 Nov 2026 10:00:30 GMT", now=NOW) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def notification(entry_: SentNotification, integration: object) -> Notification:
    settings = NotifySettings()
    return Notification(
        partition=0,
        entry=entry_,
        incident=entry_.incident,  # type: ignore[arg-type]
        integration=integration,  # type: ignore[arg-type]
        limiter=Limiter(settings.receivers[0].limits),
        route=ROUTE,
    )


@pytest.mark.parametrize(
    ("fields", "passes"),
    [
        ({"revision": 1, "status": "firing"}, True),
        ({"attempting": 1}, True),  # may have the trigger: resolve it
        ({}, False),  # never had it: nothing to resolve
        ({"revision": 2, "status": "resolved"}, False),  # the resolve is no repeat
    ],
)
async def test_resolve_goes_only_where_the_trigger_may_be(
    fields: dict[str, object], passes: bool
) -> None:
    n = notification(
        entry(incident=incident(2, "resolved").model_dump(), **fields), LogIntegration("log/0")
    )
    assert await DedupStage().process(n) is passes


class Flaky:
    name = "flaky/0"
    send_resolved = True

    def __init__(self, errors: list[DeliveryError]):
        self.errors = errors
        self.keys: list[str] = []

    async def notify(self, delivery: Delivery) -> None:
        self.keys.append(delivery.idempotency_key)
        if self.errors:
            raise self.errors.pop(0)


async def test_retry_stage_retries_retryable_errors_with_one_key() -> None:
    flaky = Flaky([DeliveryError("HTTP 503", True), DeliveryError("timeout", True)])
    n = notification(entry(incident=incident().model_dump()), flaky)
    stage = RetryStage(RetrySettings(initial_backoff="1ms", max_backoff="2ms", max_elapsed="5s"))
    assert await stage.process(n)
    assert (n.error, n.attempts, n.outcome, flaky.keys) == (None, 3, "sent", ["inc-1-1"] * 3)


async def test_retry_stage_gives_up_on_client_errors_and_past_the_budget() -> None:
    settings = RetrySettings(initial_backoff="1ms", max_backoff="2ms", max_elapsed="1s")
    n = notification(entry(incident=incident().model_dump()), Flaky([DeliveryError("400", False)]))
    await RetryStage(settings).process(n)
    assert (n.attempts, n.outcome, str(n.error)) == (1, "failed", "400")
    limited = Flaky([DeliveryError("429", True, retry_after=60)])
    n = notification(entry(incident=incident().model_dump()), limited)
    await RetryStage(settings).process(n)
    assert (n.attempts, n.outcome) == (1, "failed")  # waiting 60 s would overrun the budget
