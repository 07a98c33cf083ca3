"""The board's pure parts: its filters, the time open, links, the live stream's events."""

from __future__ import annotations

import json

import pytest
from multidict import MultiDict

from services.incidents.api import BadParameter
from services.incidents.board.filters import BoardFilter
from services.incidents.board.live import Stream, event
from services.incidents.board.pages import age_text, clock, member_links


def summary(**fields: object) -> dict[str, object]:
    return {"state": "firing", "priority": "P2", "team": "db", **fields}


def test_a_filter_comes_from_the_url_as_a_form_or_a_person_writes_it() -> None:
    assert BoardFilter.from_query(MultiDict()) == BoardFilter(("open",), (), None)
    written = BoardFilter.from_query(MultiDict(priority="P1,P2", team=" db ", state="firing"))
    form = BoardFilter.from_query(
        MultiDict([("priority", "P1"), ("priority", "P2"), ("team", "db"), ("state", "firing")])
    )
    assert written == form == BoardFilter(("firing",), ("P1", "P2"), "db")
    assert form.query_string() == "?state=firing&priority=P1%2CP2&team=db"
    assert BoardFilter().query_string() == ""
    assert BoardFilter.from_query(MultiDict(team="")).team is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"priority": "P0"}, "priority"),
        ({"state": "closed"}, "state"),
        ({"team": "x" * 257}, "team"),
    ],
)
def test_a_wrong_filter_names_its_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(BadParameter) as raised:
        BoardFilter.from_query(MultiDict(params))
    assert raised.value.field == field


def test_a_filter_matches_the_state_shown_now() -> None:
    open_board = BoardFilter()
    assert open_board.matches(summary(state="firing"))
    assert open_board.matches(summary(state="acknowledged"))
    assert not open_board.matches(summary(state="resolved"))
    assert BoardFilter(("resolved",)).matches(summary(state="resolved"))
    assert not BoardFilter(("acknowledged",)).matches(summary(state="firing"))
    assert BoardFilter(priorities=("P1", "P2")).matches(summary())
    assert not BoardFilter(priorities=("P1",)).matches(summary())
    assert BoardFilter(team="db").matches(summary())
    assert not BoardFilter(team="web").matches(summary())


def test_time_open_reads_at_a_glance() -> None:
    assert [age_text(s) for s in (0, 59.9, 60, 754, 3600 + 300, 86400 * 2 + 3600 * 4)] == [
        "<1m",
        "<1m",
        "1m",
        "12m",
        "1h 05m",
        "2d 4h",
    ]
    assert clock("2026-11-26T10:00:03.120Z") == "2026-11-26 10:00:03"
    assert clock(None) == "—"


def test_only_http_links_of_an_alert_become_links() -> None:
    member = {
        "generator_url": "http://prometheus:9090/graph?g0.expr=up",
        "annotations": {
            "summary": "not a link",
            "runbook_url": "https://runbooks.example/disk",
            "evil": "javascript:alert(1)",
            "data": "data:text/html,<b>x</b>",
        },
    }
    assert member_links(member) == [
        ("source", "http://prometheus:9090/graph?g0.expr=up"),
        ("runbook url", "https://runbooks.example/disk"),
    ]
    assert member_links({"generator_url": "", "annotations": {}}) == []


def test_an_event_is_one_server_sent_event_whatever_its_data() -> None:
    encoded = event("rows", {"rows": [{"id": "a", "html": "<tr>\n<td>x</td>\n</tr>"}]})
    lines = encoded.decode().split("\n")
    assert lines[0] == "event: rows"
    assert lines[1].startswith("data: ") and lines[2:] == ["", ""]
    assert json.loads(lines[1].removeprefix("data: "))["rows"][0]["html"] == (
        "<tr>\n<td>x</td>\n</tr>"
    )


def test_a_stream_that_falls_behind_is_marked_stale_not_blocked() -> None:
    stream = Stream(board_filter=BoardFilter())
    for n in range(stream.queue.maxsize + 5):
        stream.send(event("rows", {"n": n}))
    assert stream.stale and stream.queue.full()
    stream.close()
    assert stream.queue.get_nowait() is None
