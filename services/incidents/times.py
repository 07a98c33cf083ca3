"""Times as the store keeps them: milliseconds since the epoch, UTC.

Integers sort and compare the same in SQLite, PostgreSQL and Python, which
keeps the SQL of both stores one text.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_ms(value: datetime | str) -> int:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def iso(ms: int | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as the API writes every time."""
    if ms is None:
        return None
    return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return to_ms(datetime.now(UTC))


def human(seconds: float | None) -> str:
    """``4m 12s``, ``1h 02m``, ``2d 3h``: how a reviewer says a duration."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
