"""Routes' mute_time_intervals and active_time_intervals: which routes a window
holds, until when, and what the config refuses; broker-free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.notify import transitions
from services.notify.config import NotifySettings
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.mute import MuteStage
from services.notify.pipeline import Held, Job, Plan
from services.notify.routing import RouteNode, held_by, released_at, routes_for
from services.notify.silences import SilenceStore
from shared.timeintervals import TimeIntervals
from tests.integration.notify_fakes import incident

WINDOWS: list[dict[str, Any]] = [
    {
        "name": "business-hours",
        "time_intervals": [
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:00", "end_time": "17:00"}],
                "location": "Europe/Berlin",
            }
        ],
    },
    {
        "name": "tuesday-maintenance",
        "time_intervals": [
            {"weekdays": ["tuesday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}
        ],
    },
    {"name": "always", "time_intervals": [{}]},
]


def settings(**route: Any) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "route": {
                "receiver": "team",
                "routes": [
                    {
                        "matchers": ['team="db"'],
                        "receiver": "db",
                        "mute_time_intervals": ["tuesday-maintenance"],
                        "routes": [{"matchers": ['severity="info"'], "receiver": "db-low"}],
                    },
                    {"matchers": ['team="web"'], "receiver": "chat", **route},
                ],
            },
            "receivers": [{"name": n} for n in ("team", "db", "db-low", "chat")],
            "time_intervals": WINDOWS,
        }
    )


def tree(**route: Any) -> tuple[RouteNode, TimeIntervals]:
    config = settings(**route)
    return RouteNode.build(config.route), TimeIntervals(config.time_intervals)


TUESDAY_3AM = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def test_a_route_in_its_mute_window_is_held_until_it_ends() -> None:
    root, intervals = tree()
    [db] = routes_for(root, {"team": "db"})
    assert held_by(db, intervals, TUESDAY_3AM) == ["tuesday-maintenance"]
    assert released_at(db, intervals, TUESDAY_3AM) == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    assert held_by(db, intervals, TUESDAY_3AM + timedelta(hours=1)) == []
    # Not inherited, as in Alertmanager: the child route sends.
    [low] = routes_for(root, {"team": "db", "severity": "info"})
    assert (low.receiver, held_by(low, intervals, TUESDAY_3AM)) == ("db-low", [])


def test_a_route_outside_its_active_window_waits_for_it() -> None:
    root, intervals = tree(active_time_intervals=["business-hours"])
    [chat] = routes_for(root, {"team": "web"})
    friday_night = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    assert held_by(chat, intervals, friday_night) == ["business-hours"]
    # Monday 09:00 in Berlin.
    assert released_at(chat, intervals, friday_night) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert held_by(chat, intervals, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)) == []


def test_mute_inside_active_chains_to_the_first_free_moment() -> None:
    root, intervals = tree(
        active_time_intervals=["business-hours"], mute_time_intervals=["tuesday-maintenance"]
    )
    [chat] = routes_for(root, {"team": "web"})
    assert released_at(chat, intervals, TUESDAY_3AM) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        ({"mute_time_intervals": ["nope"]}, "time interval 'nope' is not defined"),
        ({"active_time_intervals": ["nope"]}, "route.routes[1].active_time_intervals"),
    ],
)
def test_undefined_intervals_are_refused(route: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        settings(**route)


def test_the_root_route_cannot_be_muted() -> None:
    with pytest.raises(ValidationError, match="root route cannot have mute_time_intervals"):
        NotifySettings.model_validate(
            {
                "route": {"receiver": "team", "mute_time_intervals": ["business-hours"]},
                "receivers": [{"name": "team"}],
                "time_intervals": WINDOWS,
            }
        )


class Integration:
    name = "log/0"
    send_resolved = True
    acknowledges = False


async def test_mute_stage_holds_a_firing_incident_but_never_a_resolve() -> None:
    root, intervals = tree(mute_time_intervals=["always"])
    [route] = routes_for(root, {"team": "web"})
    stage = MuteStage(SilenceStore(), intervals, clock=lambda: TUESDAY_3AM)

    def job(status: str) -> Job:
        item = incident(status=status, revision=1 if status == "firing" else 2)
        entry = SentLogEntry(incident_id=item.id, receiver="chat", integration="log/0")
        return Job(
            key=EntryKey.of(0, item.id, "chat", "log/0"),
            entry=entry.model_copy(update={"incident": item, "due_at": TUESDAY_3AM}),
            incident=item,
            integration=Integration(),  # type: ignore[arg-type]
            limiter=Limiter(NotifySettings().receivers[0].limits),
            plan=Plan(route),
        )

    firing = job("firing")
    outcome = await stage.process(firing)
    assert isinstance(outcome, Held)
    # Never released within the horizon: looked at again a year later.
    assert outcome.until > TUESDAY_3AM + timedelta(days=365)
    # Held, not silenced: a change of silences is no news for it.
    entry = transitions.recorded(firing.entry, firing, outcome, TUESDAY_3AM)
    assert entry.due_at == outcome.until and entry.silenced_by is None
    resolved = job("resolved")
    assert await stage.process(resolved) is resolved
