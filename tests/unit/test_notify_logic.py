"""notify's pure logic: silences, templates, Retry-After, the skip and send stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notify.config import NotifySettings, RetrySettings
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.pipeline import Failed, Job, Plan, Sent, Skipped
from services.notify.receivers.base import Delivery, DeliveryError
from services.notify.receivers.http import retry_after_seconds
from services.notify.receivers.log import LogIntegration
from services.notify.routing import RouteNode
from services.notify.send import SendStage
from services.notify.silences import SilenceStore
from services.notify.skip import SkipStage
from services.notify.templates import Flavor, Templates, template_context
from shared.messages import Silence
from tests.integration.notify_fakes import incident

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ROUTE = RouteNode.build(
    NotifySettings.model_validate({"route": {"receiver": "log", "group_wait": "30s"}}).route
)


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


def job(entry: SentLogEntry, integration: object) -> Job:
    assert entry.incident is not None
    return Job(
        key=EntryKey.of(0, entry.incident_id, entry.receiver, entry.integration),
        entry=entry,
        incident=entry.incident,
        integration=integration,  # type: ignore[arg-type]
        limiter=Limiter(NotifySettings().receivers[0].limits),
        plan=Plan(ROUTE),
    )


def entry(**fields: object) -> SentLogEntry:
    return SentLogEntry.model_validate(
        {"incident_id": "inc-1", "receiver": "r", "integration": "log/0", **fields}
    )


@pytest.mark.parametrize(
    ("fields", "skipped"),
    [
        ({"revision": 1, "status": "firing"}, None),
        ({"attempting": 1}, None),  # may have the trigger: resolve it
        ({}, "skipped_resolved"),  # never had it: nothing to resolve
        ({"revision": 2, "status": "resolved"}, "skipped_duplicate"),  # the resolve is no repeat
    ],
)
async def test_resolve_goes_only_where_the_trigger_may_be(
    fields: dict[str, object], skipped: str | None
) -> None:
    resolve = job(
        entry(incident=incident(2, "resolved").model_dump(), **fields), LogIntegration("log/0")
    )
    outcome = await SkipStage().process(resolve)
    assert (outcome.reason if isinstance(outcome, Skipped) else None) == skipped


class Flaky:
    name = "flaky/0"
    send_resolved = True
    acknowledges = False

    def __init__(self, errors: list[Exception]):
        self.errors = errors
        self.keys: list[str] = []

    async def notify(self, delivery: Delivery) -> None:
        self.keys.append(delivery.idempotency_key)
        if self.errors:
            raise self.errors.pop(0)


FAST = RetrySettings(initial_backoff="1ms", max_backoff="2ms", max_elapsed="5s")


async def test_send_stage_retries_retryable_errors_with_one_key() -> None:
    flaky = Flaky([DeliveryError("HTTP 503", True), DeliveryError("timeout", True)])
    outcome = await SendStage(FAST).process(job(entry(incident=incident().model_dump()), flaky))
    assert outcome == Sent(attempts=3)
    assert flaky.keys == ["inc-1-1"] * 3


async def test_send_stage_gives_up_on_client_errors_and_past_the_budget() -> None:
    settings = RetrySettings(initial_backoff="1ms", max_backoff="2ms", max_elapsed="1s")
    flaky = Flaky([DeliveryError("400", False)])
    outcome = await SendStage(settings).process(job(entry(incident=incident().model_dump()), flaky))
    assert isinstance(outcome, Failed)
    assert (outcome.attempts, str(outcome.error)) == (1, "400")
    limited = Flaky([DeliveryError("429", True, retry_after=60)])
    outcome = await SendStage(settings).process(
        job(entry(incident=incident().model_dump()), limited)
    )
    assert isinstance(outcome, Failed) and outcome.attempts == 1  # 60 s would overrun the budget


async def test_an_integration_that_breaks_fails_once_instead_of_retrying_forever() -> None:
    broken = Flaky([ZeroDivisionError("division by zero")])
    outcome = await SendStage(FAST).process(job(entry(incident=incident().model_dump()), broken))
    assert isinstance(outcome, Failed)
    assert (outcome.attempts, outcome.error.retryable) == (1, False)
    assert "ZeroDivisionError" in str(outcome.error)


def test_a_template_that_fails_at_render_time_falls_back_and_is_counted() -> None:
    failures: list[tuple[str, str]] = []
    templates = Templates(failed=lambda receiver, field: failures.append((receiver, field)))
    context = template_context(incident(), "pager", False)
    title = templates.render("{{ 1 / 0 }}", "title", context, Flavor.TEXT)
    assert title == "[P3] DiskFull: /var is 97% full"  # the built-in title
    assert failures == [("pager", "title")]
