"""Alertmanager's ``time_intervals``: recurring windows of time.

Business hours, weekends, the second Tuesday's maintenance window: a named
interval is a list of ``TimeInterval``s, and a moment is in it when any of
them contains it. A ``TimeInterval`` contains a moment when every field it
sets contains it (an unset field contains everything; a field set to an
empty list contains nothing), evaluated on the wall clock of its
``location`` (UTC unless given), exactly as Alertmanager's
``timeinterval.ContainsTime`` does:

* ``times``: ``start_time`` inclusive, ``end_time`` exclusive, ``HH:MM`` from
  ``00:00`` to ``24:00``;
* ``weekdays``: names (any case), ranges ``monday:friday``; a range never
  wraps past Saturday (``friday:monday`` is an error);
* ``days_of_month``: 1 to 31, or -1 (the last day) to -31 counting from the
  month's end; ranges like ``1:5``, ``-3:-1``, ``20:-1``; a range starting
  after the month's last day is skipped, one ending after it stops there;
* ``months``: numbers or names, ``may:august``;
* ``years``: ``2026``, ``2026:2028``.

Routes use it (``mute_time_intervals``, ``active_time_intervals``); anything
else that needs "is it business hours now, and until when" uses
``TimeIntervals``. The module is pure: no I/O beyond the time zone database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from shared.config import StrictModel

WEEKDAYS = {
    name: number
    for number, name in enumerate(
        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    )
}
MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}
MINUTES_PER_DAY = 24 * 60
DEFAULT_HORIZON = timedelta(days=366)
"""How far ``next_change`` looks ahead; a window further away is looked for again later."""

_TIME = re.compile(r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


@dataclass(frozen=True)
class Span:
    """An inclusive range of numbers (weekdays, days, months, years)."""

    begin: int
    end: int

    def __contains__(self, value: int) -> bool:
        return self.begin <= value <= self.end


def _member(text: str, names: Mapping[str, int] | None, numbers: bool, what: str) -> int:
    if names is not None and text in names:
        return names[text]
    if numbers:
        try:
            return int(text)
        except ValueError:
            pass
    raise ValueError(f"{text} is not a valid {what}")


def _span(text: Any, names: Mapping[str, int] | None, numbers: bool, what: str) -> Span:
    """``"a:b"`` or ``"a"`` as a Span (case does not matter)."""
    text = str(text).strip().lower()
    parts = text.split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"couldn't parse range {text}, invalid format")
    begin = _member(parts[0], names, numbers, what)
    end = _member(parts[-1], names, numbers, what)
    return Span(begin, end)


def weekday_span(text: Any) -> Span:
    span = _span(text, WEEKDAYS, False, "weekday")
    if span.begin > span.end:
        raise ValueError(f"{text}: the start day is after the end day (ranges do not wrap)")
    return span


def day_of_month_span(text: Any) -> Span:
    span = _span(text, None, True, "day of the month")
    for day in (span.begin, span.end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a valid day of the month: out of range")
    if span.begin < 0 < span.end:
        raise ValueError("end day must be negative if start day is negative")
    # Which months the range fits cannot be known here; a range empty in
    # every month (even the shortest, 28 days) is an error.
    begin = 28 + span.begin if span.begin < 0 else span.begin
    end = 28 + span.end if span.end < 0 else span.end
    if begin > end:
        raise ValueError(f"end day {span.end} is always before start day {span.begin}")
    return span


def month_span(text: Any) -> Span:
    span = _span(text, MONTHS, True, "month")
    for month in (span.begin, span.end):
        if not 1 <= month <= 12:
            raise ValueError(f"{month} is not a valid month: out of range")
    if span.begin > span.end:
        raise ValueError(f"{text}: the end month is before the start month")
    return span


def year_span(text: Any) -> Span:
    span = _span(text, None, True, "year")
    if span.begin < 0 or span.end < 0:
        raise ValueError(f"{text}: years are positive")
    if span.begin > span.end:
        raise ValueError(f"end year {span.end} is before start year {span.begin}")
    return span


def _minutes(text: str) -> int:
    if not _TIME.match(text):
        raise ValueError(f"couldn't parse time {text!r}: use HH:MM from 00:00 to 24:00")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def load_location(name: str) -> tzinfo:
    """An IANA time zone by name; ``Local`` is this machine's zone, as in Go
    (``$TZ``, else ``/etc/localtime``, else UTC)."""
    if name == "Local":
        if os.environ.get("TZ"):
            return load_location(os.environ["TZ"].removeprefix(":"))
        try:
            with open("/etc/localtime", "rb") as file:
                return ZoneInfo.from_file(file, key="Local")
        except (OSError, ValueError):
            return UTC
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name like Europe/Berlin)") from None


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days


class TimeRange(StrictModel):
    start_time: str
    """HH:MM, inclusive."""
    end_time: str
    """HH:MM, exclusive; 24:00 for the end of the day."""
    _start: int = PrivateAttr(0)
    _end: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _parse(self) -> Self:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= end:
            raise ValueError("start_time must be before end_time (a range never spans midnight)")
        self._start, self._end = start, end
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        """Minutes after midnight: start inclusive, end exclusive."""
        return self._start, self._end


_SPANS = {
    "weekdays": weekday_span,
    "days_of_month": day_of_month_span,
    "months": month_span,
    "years": year_span,
}


class TimeInterval(StrictModel):
    """One window: every field it sets must contain the moment."""

    times: list[TimeRange] | None = None
    """Ranges within a day; unset: all day."""
    weekdays: list[str] | None = Field(default=None, description="e.g. ['monday:friday']")
    days_of_month: list[str] | None = Field(default=None, description="e.g. ['1:7', '-1']")
    months: list[str] | None = Field(default=None, description="e.g. ['may:august', '12']")
    years: list[str] | None = Field(default=None, description="e.g. ['2026:2027']")
    location: str | None = Field(default=None, description="IANA time zone; UTC if unset.")
    _spans: dict[str, tuple[Span, ...] | None] = PrivateAttr(default_factory=dict)
    _zone: tzinfo = PrivateAttr(UTC)

    @field_validator("weekdays", "days_of_month", "months", "years", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        # YAML reads ``years: [2026]`` as numbers; Alertmanager takes them.
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _parse(self) -> Self:
        for name, parse in _SPANS.items():
            texts = getattr(self, name)
            self._spans[name] = None if texts is None else tuple(parse(t) for t in texts)
        if self.location is not None:
            self._zone = load_location(self.location)
        return self

    @property
    def zone(self) -> tzinfo:
        return self._zone

    def local(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("a time interval needs an aware datetime")
        return when.astimezone(self._zone)

    def contains_day(self, day: date) -> bool:
        """Whether the day-level fields (weekday, day of month, month, year) hold on ``day``."""
        spans = self._spans
        days = spans["days_of_month"]
        if days is not None:
            length = _days_in_month(day.year, day.month)
            if not any(_day_in(span, day.day, length) for span in days):
                return False
        months = spans["months"]
        if months is not None and not any(day.month in s for s in months):
            return False
        weekdays = spans["weekdays"]
        # Python counts Monday 0; Alertmanager (Go) counts Sunday 0.
        if weekdays is not None and not any((day.weekday() + 1) % 7 in s for s in weekdays):
            return False
        years = spans["years"]
        return years is None or any(day.year in s for s in years)

    def contains_minute(self, minute: int) -> bool:
        """Whether ``times`` holds at this minute after midnight."""
        if self.times is None:
            return True
        return any(start <= minute < end for start, end in (r.minutes for r in self.times))

    def contains(self, when: datetime) -> bool:
        local = self.local(when)
        return self.contains_minute(local.hour * 60 + local.minute) and self.contains_day(
            local.date()
        )

    def changes(self, after: datetime, until: datetime) -> Iterable[datetime]:
        """Instants in ``(after, until]`` at which containment may change, in order:
        local midnights, and the edges of ``times`` on days the day fields hold.
        A wall-clock edge inside a daylight-saving gap comes out a little late;
        ``next_change`` narrows it down."""
        zone = self._zone
        day = self.local(after).date()
        last = self.local(until).date()
        edges = sorted({m for r in self.times or () for m in r.minutes if 0 < m < MINUTES_PER_DAY})
        while day <= last:
            instants = [datetime.combine(day, time(0), zone)]
            if edges and self.contains_day(day):
                instants += [datetime.combine(day, time(m // 60, m % 60), zone) for m in edges]
            for instant in instants:
                if after < instant <= until:
                    yield instant
            day += timedelta(days=1)


def _day_in(span: Span, day: int, length: int) -> bool:
    """Alertmanager's days_of_month rule for a month of ``length`` days."""
    begin = length + span.begin + 1 if span.begin < 0 else span.begin
    end = length + span.end + 1 if span.end < 0 else span.end
    if begin > length:
        return False
    return max(begin, -length) <= day <= min(end, length)


class NamedTimeInterval(StrictModel):
    """An entry of ``time_intervals``: a name and the windows it stands for."""

    name: str = Field(min_length=1)
    """What routes' mute_time_intervals and active_time_intervals name."""
    time_intervals: list[TimeInterval] = Field(default_factory=list)
    """The windows; the moment is inside when any of them holds it."""

    def contains(self, when: datetime) -> bool:
        return any(interval.contains(when) for interval in self.time_intervals)


class TimeIntervals:
    """Named intervals by name, and the questions asked of a set of them:
    is this moment in any, and when does that next change."""

    def __init__(self, named: Iterable[NamedTimeInterval] = ()):
        self.named = {n.name: n for n in named}

    def __contains__(self, name: object) -> bool:
        return name in self.named

    def active(self, names: Sequence[str], when: datetime) -> list[str]:
        """The names among ``names`` whose intervals contain ``when``."""
        return [name for name in names if self.named[name].contains(when)]

    def contains(self, names: Sequence[str], when: datetime) -> bool:
        return any(self.named[name].contains(when) for name in names)

    def next_change(
        self, names: Sequence[str], after: datetime, horizon: timedelta = DEFAULT_HORIZON
    ) -> datetime | None:
        """The first instant after ``after`` at which ``contains(names, ·)`` differs
        from its value at ``after``; None if that is further than ``horizon``."""
        return _next_change(self, tuple(names), _minute(after), horizon)


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


@lru_cache(maxsize=256)
def _next_change(
    intervals: TimeIntervals, names: tuple[str, ...], after: datetime, horizon: timedelta
) -> datetime | None:
    # Cached per minute: every incident muted by the same route at the same
    # moment asks the same question.
    until = after + horizon
    state = intervals.contains(names, after)
    windows = [w for name in names for w in intervals.named[name].time_intervals]
    candidates = sorted({c for w in windows for c in w.changes(after, until)})
    previous = after
    for candidate in candidates:
        if intervals.contains(names, candidate) != state:
            return _first_different(intervals, names, state, previous, candidate)
        previous = candidate
    return None


def _first_different(
    intervals: TimeIntervals, names: tuple[str, ...], state: bool, low: datetime, high: datetime
) -> datetime:
    """The first whole minute in ``(low, high]`` whose state differs from ``state``;
    ``high``'s does. Narrows an edge a daylight-saving gap moved."""
    low_minutes = int(low.timestamp() // 60)
    high_minutes = int(high.timestamp() // 60)
    while high_minutes - low_minutes > 1:
        middle = (low_minutes + high_minutes) // 2
        if intervals.contains(names, datetime.fromtimestamp(middle * 60, UTC)) != state:
            high_minutes = middle
        else:
            low_minutes = middle
    return datetime.fromtimestamp(high_minutes * 60, UTC)


def check_names(names: Sequence[str], known: Iterable[str], field: str) -> None:
    """Config validation: every name a route gives must be defined."""
    defined = set(known)
    for name in names:
        if name not in defined:
            raise ValueError(f"{field}: time interval {name!r} is not defined in time_intervals")
