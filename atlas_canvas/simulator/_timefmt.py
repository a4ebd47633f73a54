"""Timestamps: parse what clients send, render what PagerDuty renders.

Times are stored as integer epoch seconds (UTC). PagerDuty renders UTC as
``2025-03-04T09:12:31Z`` and other zones with a colon offset (``2025-03-04T04:12:31-05:00``).
Clients send ``Z``, ``+00:00`` and, from python-pagerduty's ``iter_history``, ``+0000``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import time
import zoneinfo

__all__ = ["add_months", "format_ts", "get_zone", "parse_ts"]

UTC = dt.timezone.utc

# Python 3.10's fromisoformat knows neither "Z" nor "+0000"; normalise both first.
_OFFSET_FIX = re.compile(r"(?:Z|z|([+-])(\d\d)(\d\d))$")


def format_ts(epoch: int, zone: dt.tzinfo | None = None) -> str:
    """Render epoch seconds like PagerDuty: ``Z`` for UTC, ``±HH:MM`` for other zones."""
    if zone is None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return dt.datetime.fromtimestamp(epoch, zone).isoformat()


@functools.lru_cache(maxsize=64)
def get_zone(name: str) -> dt.tzinfo | None:
    """The zone called ``name`` (``None`` for UTC); ``KeyError`` if unknown."""
    if name in ("UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT"):
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise KeyError(name) from exc


def parse_ts(text: str, zone: dt.tzinfo | None = None) -> int:
    """Parse an ISO 8601 date or date-time into epoch seconds.

    A value without an offset is read in ``zone`` (UTC when ``None``), like PagerDuty reads
    it in the account's zone. Raises ``ValueError`` for anything else.
    """
    s = text.strip()
    if not s or len(s) > 40:
        raise ValueError(f"not a date: {text!r}")

    def fix(m: re.Match[str]) -> str:
        return "+00:00" if m.group(1) is None else f"{m.group(1)}{m.group(2)}:{m.group(3)}"

    if "T" in s or " " in s:
        s = _OFFSET_FIX.sub(fix, s)
    parsed = dt.datetime.fromisoformat(s)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or UTC)
    return calendar.timegm(parsed.utctimetuple())


def add_months(epoch: int, months: int, zone: dt.tzinfo | None = None) -> int:
    """``epoch`` moved by whole calendar months in ``zone`` (UTC if None), day clamped.

    Calendar arithmetic happens on the local wall clock, so "six months after
    2025-06-01 00:00 New York" is "2025-12-01 00:00 New York" across the DST change.
    """
    d = dt.datetime.fromtimestamp(epoch, zone or UTC)
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    moved = d.replace(tzinfo=None).replace(year=year, month=month + 1, day=day)
    local = moved.replace(tzinfo=zone or UTC)
    return calendar.timegm(local.utctimetuple())
