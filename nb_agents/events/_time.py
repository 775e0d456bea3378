"""RFC 3339 timestamps as the wire carries them: UTC, microseconds, ``Z``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_time", "now", "parse_time", "time_to_us"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def format_time(dt: datetime) -> str:
    """Format a tz-aware datetime as ``2026-11-21T00:31:02.123456Z`` (converted to UTC).

    Raises:
        ValueError: If ``dt`` is naive.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: a wire timestamp needs a time zone")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    """Return the current time as ``2026-11-21T00:31:02.123456Z``."""
    return format_time(datetime.now(timezone.utc))


def parse_time(s: str) -> datetime:
    """Parse an RFC 3339 timestamp into a tz-aware datetime.

    Accepts ``Z`` or a ``+hh:mm`` offset and any number of fraction digits (truncated to
    microseconds). Works on Python 3.10, whose ``fromisoformat`` rejects ``Z``.

    Raises:
        ValueError: If ``s`` is not an RFC 3339 date-time with a time zone.
    """
    m = _RFC3339.fullmatch(s) if isinstance(s, str) else None
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp with a time zone: {s!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = timezone.utc
    else:
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(-offset if m.group(9) == "-" else offset)
    leap = second == 60  # RFC 3339 allows a leap second; datetime does not.
    dt = datetime(year, month, day, hour, minute, 59 if leap else second, micro, tzinfo=tz)
    return dt + timedelta(seconds=1) if leap else dt


def time_to_us(value: str | datetime) -> int:
    """Microseconds since the Unix epoch for an RFC 3339 string or a tz-aware datetime.

    Used to compare timestamps written in different formats (``...00Z`` vs ``...00.5+01:00``).

    Raises:
        ValueError: If the string does not parse or the datetime is naive.
    """
    dt = parse_time(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: a timestamp needs a time zone")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
