"""Time intervals with Alertmanager's semantics: the cases of its documentation
and of its own test suite (moments written as Go's RFC822Z, "02 Jan 06 15:04 -0700"),
and when a window next opens or closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from shared.timeintervals import NamedTimeInterval, TimeInterval, TimeIntervals


def at(text: str) -> datetime:
    return datetime.strptime(text, "%d %b %y %H:%M %z")


def interval(text: str) -> TimeInterval:
    return TimeInterval.model_validate(yaml.safe_load(text))


def intervals(**named: Any) -> TimeIntervals:
    return TimeIntervals(
        NamedTimeInterval(name=name, time_intervals=[TimeInterval.model_validate(w) for w in ws])
        for name, ws in named.items()
    )


CASES = [
    # Nothing set: always.
    ("{}", ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000"], []),
    # 9am to 5pm, Monday to Friday.
    (
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday']}",
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    # Easter 2020.
    (
        "{days_of_month: ['4:6'], months: ['april'], years: ['2020']}",
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        [
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    ),
    # The last three days of each month, February of a leap year included.
    (
        "{days_of_month: ['-3:-1']}",
        [
            "31 Jan 20 15:04 +0000",
            "30 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
        ],
        ["27 Jan 20 15:04 +0000", "03 Apr 20 23:59 +0000", "01 Mar 20 00:00 +0000"],
    ),
    # Days beyond the month are clamped to it.
    (
        "{months: ['6'], days_of_month: ['1:31']}",
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
    ),
    (
        "{months: ['6'], days_of_month: ['-31:-1']}",
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
    ),
    # A range starting after the month's end is skipped, not clamped: 30:31 in February.
    (
        "{days_of_month: ['30:31'], years: ['2020:2023'], months: [february]}",
        [],
        ["28 Feb 21 13:00 +0000"],
    ),
    # Another time zone: 9 to 5 in Sydney.
    (
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'],"
        " location: Australia/Sydney}",
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    # ... during daylight saving time there.
    (
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'],"
        " months: ['11'], location: Australia/Sydney}",
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
    # The documentation's complete example.
    (
        "{weekdays: ['monday:wednesday', 'saturday', 'sunday'],"
        " times: [{start_time: '13:00', end_time: '15:00'}],"
        " days_of_month: ['1', '10', '20:-1'], years: ['2020:2023'], months: ['january:march']}",
        ["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
        ["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"],
    ),
    # The last week of the first quarter, business hours, without Saturdays, some years.
    (
        "{weekdays: ['monday:friday', 'sunday'], months: ['january:march'],"
        " days_of_month: ['-7:-1'], years: ['2020:2025', '2030:2035'],"
        " times: [{start_time: '09:00', end_time: '17:00'}]}",
        [
            "27 Jan 21 09:00 +0000",
            "28 Jan 21 16:59 +0000",
            "29 Jan 21 13:00 +0000",
            "31 Mar 25 13:00 +0000",
            "31 Jan 35 13:00 +0000",
        ],
        [
            "30 Jan 21 13:00 +0000",  # a Saturday
            "01 Apr 21 13:00 +0000",
            "30 Jan 26 13:00 +0000",
            "31 Jan 35 17:01 +0000",
        ],
    ),
    # Case does not matter; end_time 24:00 is the end of the day.
    (
        "{months: ['January:december'], times: [{start_time: '00:00', end_time: '24:00'}]}",
        ["31 Dec 26 23:59 +0000"],
        [],
    ),
    # An empty list contains nothing.
    ("{weekdays: []}", [], ["04 May 20 15:04 +0000"]),
]


@pytest.mark.parametrize(("text", "inside", "outside"), CASES)
def test_contains_as_alertmanager(text: str, inside: list[str], outside: list[str]) -> None:
    window = interval(text)
    for moment in inside:
        assert window.contains(at(moment)), moment
    for moment in outside:
        assert not window.contains(at(moment)), moment


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{times: [{start_time: '01:99', end_time: '23:59'}]}", "couldn't parse time"),
        ("{times: [{start_time: '00:00', end_time: '99:99'}]}", "couldn't parse time"),
        ("{times: [{start_time: '12:30', end_time: '24:01'}]}", "couldn't parse time"),
        ("{times: [{start_time: '17:31', end_time: '17:31'}]}", "before end_time"),
        ("{times: [{start_time: '09:30', end_time: '07:41'}]}", "before end_time"),
        ("{times: [{start_time: '14:03'}]}", "end_time"),
        ("{weekdays: ['friday:monday']}", "do not wrap"),
        ("{weekdays: ['blurgsday:flurgsday']}", "blurgsday is not a valid weekday"),
        ("{weekdays: ['1:3']}", "1 is not a valid weekday"),
        ("{days_of_month: ['0']}", "0 is not a valid day of the month"),
        ("{days_of_month: ['-50:-20']}", "-50 is not a valid day of the month"),
        ("{days_of_month: ['1:50']}", "50 is not a valid day of the month"),
        ("{days_of_month: ['-15:5']}", "end day must be negative"),
        ("{days_of_month: ['10:-25']}", "end day -25 is always before start day 10"),
        ("{months: ['martius:june']}", "martius is not a valid month"),
        ("{months: ['december:january']}", "end month is before the start month"),
        ("{months: ['13']}", "13 is not a valid month"),
        ("{years: ['2022:2020']}", "end year 2020 is before start year 2022"),
        ("{location: Mars/Olympus_Mons}", "unknown time zone"),
        ("{weekdays: ['monday::friday']}", "invalid format"),
        ("{weekday: [monday]}", "Extra inputs"),
    ],
)
def test_invalid_intervals_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        interval(text)


def test_days_of_month_spanning_signs_and_numeric_years() -> None:
    window = interval("{days_of_month: ['1:-1'], years: [2026]}")
    assert window.contains(at("31 Dec 26 12:00 +0000"))
    assert not window.contains(at("01 Jan 27 00:00 +0000"))


BUSINESS_HOURS = [
    {
        "weekdays": ["monday:friday"],
        "times": [{"start_time": "09:00", "end_time": "17:00"}],
        "location": "Europe/Berlin",
    }
]


def test_next_change_opens_and_closes_business_hours() -> None:
    named = intervals(business=BUSINESS_HOURS)
    friday_evening = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)  # 19:30 in Berlin
    assert not named.contains(["business"], friday_evening)
    # Monday 09:00 in Berlin is 08:00 UTC in winter.
    assert named.next_change(["business"], friday_evening) == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC
    )
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert named.contains(["business"], monday)
    assert named.next_change(["business"], monday) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_next_change_of_several_names_is_of_their_union() -> None:
    named = intervals(
        nights=[{"times": [{"start_time": "00:00", "end_time": "06:00"}]}],
        evenings=[{"times": [{"start_time": "18:00", "end_time": "24:00"}]}],
    )
    evening = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    # 18:00 to 06:00 the next morning is one window: midnight changes nothing.
    assert named.next_change(["nights", "evenings"], evening) == datetime(
        2026, 3, 3, 6, 0, tzinfo=UTC
    )


def test_next_change_across_a_daylight_saving_gap() -> None:
    # Berlin springs from 02:00 to 03:00 on 29 March 2026: a window from 02:30
    # opens when the clocks read 03:00, at 01:00 UTC.
    window = {"times": [{"start_time": "02:30", "end_time": "04:00"}], "location": "Europe/Berlin"}
    named = intervals(night=[window])
    before = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    opens = named.next_change(["night"], before)
    assert opens == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert named.contains(["night"], opens)
    assert not named.contains(["night"], opens - timedelta(minutes=1))


def test_next_change_beyond_the_horizon_is_none() -> None:
    named = intervals(later=[{"years": ["2040"]}])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert named.next_change(["later"], now) is None
    assert named.next_change(["later"], now, horizon=timedelta(days=366 * 15)) == datetime(
        2040, 1, 1, tzinfo=UTC
    )


def test_next_change_agrees_with_a_minute_by_minute_walk() -> None:
    """The plain definition: step minute by minute until the answer flips."""
    named = intervals(
        odd=[
            {
                "weekdays": ["tuesday", "thursday:saturday"],
                "days_of_month": ["-10:-1", "3"],
                "times": [
                    {"start_time": "07:15", "end_time": "07:45"},
                    {"start_time": "22:00", "end_time": "24:00"},
                ],
                "location": "America/New_York",
            }
        ]
    )
    start = datetime(2026, 10, 28, 0, 0, tzinfo=UTC)
    moment = start
    for _ in range(12):
        expected = moment + timedelta(minutes=1)
        state = named.contains(["odd"], moment)
        while named.contains(["odd"], expected) == state:
            expected += timedelta(minutes=1)
        assert named.next_change(["odd"], moment) == expected
        moment = expected + timedelta(minutes=7)


def test_active_names() -> None:
    named = intervals(business=BUSINESS_HOURS, always=[{}])
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert named.active(["business", "always"], monday) == ["business", "always"]
    assert named.active(["business", "always"], sunday) == ["always"]
