"""The arguments of an incidents fetch, read and validated: times, lists, the window.

The window a fetch covers (``IncidentQuery.window``) is decided here, once:

==================  ===========================================================================
given               fetched
==================  ===========================================================================
since and until     exactly that window (split into pieces of at most 6 months)
since only          from ``since`` until now (PagerDuty alone would give one month from since)
until only          the calendar month before ``until``, as PagerDuty reads a lone ``until``;
                    sent as an explicit window so the frame says what it holds
neither             PagerDuty's default, the month before now (no bounds are sent)
date_range="all"    the whole history (since/until are ignored, as PagerDuty does)
==================  ===========================================================================

Example::

    q = IncidentQuery.build(statuses="triggered,acknowledged", since="90d")
    q.since, q.until      # 90 days ago, now
    q.window_basis        # 'since..now'
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .._errors import UsageError
from .._routing import adapter_path

__all__ = [
    "STATUSES",
    "URGENCIES",
    "IncidentQuery",
    "add_months",
    "fmt_time",
    "parse_time",
]

STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")
_RELATIVE_RE = re.compile(r"^\s*-?(\d+(?:\.\d+)?)\s*([smhdw])\s*(?:ago)?\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(
    value: str | datetime | date | None, *, now: datetime | None = None
) -> datetime | None:
    """A UTC datetime from ISO 8601 text, a date/datetime, or a relative ``7d``/``12h``/``30m``.

    Naive values are taken as UTC. Example: ``parse_time("2025-03-01")``, ``parse_time("7d")``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=timezone.utc)
            if value.tzinfo is None
            else value.astimezone(timezone.utc)
        )
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise UsageError(
            f"cannot read a time from {type(value).__name__}",
            hint="pass an ISO 8601 string, a datetime, or a relative time like '7d'",
        )
    text = value.strip()
    if text.lower() == "now":
        return now or datetime.now(timezone.utc)
    m = _RELATIVE_RE.match(text)
    if m:
        delta = timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
        return (now or datetime.now(timezone.utc)) - delta
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    # PagerDuty clients send '+0000' (no colon); Python < 3.11 cannot read that.
    iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f"cannot read {value!r} as a time",
            hint="use ISO 8601 like 2025-03-01 or 2025-03-01T12:00:00Z, or relative like 7d, 12h",
        ) from None
    return parse_time(parsed)


def fmt_time(ts: datetime) -> str:
    """``ts`` as PagerDuty reads it: UTC, seconds, ``Z``."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_list(
    name: str, value: str | Iterable[str] | None, allowed: Sequence[str] = ()
) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if allowed and part not in allowed:
                close = difflib.get_close_matches(part, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "use " + ", ".join(allowed)
                raise UsageError(f"unknown {name} {part!r}", hint=hint)
            out.append(part)
    return out


@dataclass(frozen=True)
class IncidentQuery:
    """The filters of one incidents fetch, validated; ``since``/``until`` are the window sent.

    :meth:`build` resolves the window (see the module notes): ``since``/``until`` hold the
    bounds actually sent (both ``None`` for PagerDuty's default and for ``date_range="all"``)
    and ``window_basis`` says how they were chosen.
    """

    adapter: str = "pagerduty"
    statuses: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    service_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    date_range: str | None = None
    window_basis: str = "explicit"
    #: When the window was resolved (the "now" of a lone ``since`` and of the default window).
    resolved_at: datetime | None = None

    @classmethod
    def build(
        cls,
        adapter: str = "pagerduty",
        *,
        statuses: str | Iterable[str] | None = None,
        urgencies: str | Iterable[str] | None = None,
        service_ids: str | Iterable[str] | None = None,
        team_ids: str | Iterable[str] | None = None,
        since: str | datetime | date | None = None,
        until: str | datetime | date | None = None,
        date_range: str | None = None,
    ) -> IncidentQuery:
        if (
            not isinstance(adapter, str)
            or not adapter
            or "/" in adapter
            or adapter != adapter.strip()
        ):
            raise UsageError(f"bad adapter name {adapter!r}", hint="e.g. adapter='pagerduty'")
        if date_range not in (None, "all"):
            raise UsageError(f"date_range must be 'all' or None, got {date_range!r}")
        now = datetime.now(timezone.utc)
        s, u = parse_time(since, now=now), parse_time(until, now=now)
        if date_range == "all":
            # PagerDuty ignores since/until with date_range=all; so do we.
            s, u, basis = None, None, "all"
        elif s is not None and u is None:
            if s >= now:
                raise UsageError(
                    f"since ({fmt_time(s)}) is in the future",
                    hint="a lone since fetches from then until now; pass a time in the past",
                )
            # PagerDuty reads a lone since as one month from there; the user means until now.
            u, basis = now.replace(microsecond=0) + timedelta(seconds=1), "since..now"
        elif s is None and u is not None:
            s, basis = add_months(u, -1), "month before until"
        elif s is None:
            basis = "default"
        else:
            basis = "explicit"
        if s is not None and u is not None and s >= u:
            raise UsageError(f"since ({fmt_time(s)}) must be before until ({fmt_time(u)})")
        return cls(
            adapter=adapter,
            statuses=tuple(_as_list("status", statuses, STATUSES)),
            urgencies=tuple(_as_list("urgency", urgencies, URGENCIES)),
            service_ids=tuple(_as_list("service id", service_ids)),
            team_ids=tuple(_as_list("team id", team_ids)),
            since=s,
            until=u,
            date_range=date_range,
            window_basis=basis,
            resolved_at=now,
        )

    def filter_params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = [("time_zone", "UTC")]
        params += [("statuses[]", s) for s in self.statuses]
        params += [("urgencies[]", u) for u in self.urgencies]
        params += [("service_ids[]", s) for s in self.service_ids]
        params += [("team_ids[]", t) for t in self.team_ids]
        return params

    @property
    def path(self) -> str:
        return adapter_path(self.adapter, "incidents")

    def window(self) -> dict[str, Any]:
        """The window fetched, for ``df.attrs["window"]`` and the progress line.

        ``since``/``until`` are ISO 8601 UTC text; for PagerDuty's default window they are the
        month before the fetch (what PagerDuty answers for), for ``date_range="all"`` ``None``.
        """
        since, until = self.since, self.until
        if self.window_basis == "default":
            now = self.resolved_at or datetime.now(timezone.utc)
            since, until = add_months(now, -1), now
        return {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "basis": self.window_basis,
        }

    def asked(self) -> dict[str, Any]:
        """What was asked, for ``df.attrs["query"]``: a Refresh asks it again, so a lone
        ``since`` still ends "now" then (the window resolved at fetch time is ``window()``)."""
        return {
            "adapter": self.adapter,
            "statuses": list(self.statuses),
            "urgencies": list(self.urgencies),
            "service_ids": list(self.service_ids),
            "team_ids": list(self.team_ids),
            "since": self.since.isoformat()
            if self.since and self.window_basis in ("explicit", "since..now")
            else None,
            "until": self.until.isoformat()
            if self.until and self.window_basis in ("explicit", "month before until")
            else None,
            "date_range": self.date_range,
        }

    def describe_window(self) -> str:
        """The window in a few words, e.g. ``2025-03-01..2025-06-01``."""
        w = self.window()
        if w["since"] is None:
            return "all dates"
        return f"{w['since'][:10]}..{w['until'][:10]}"


def add_months(ts: datetime, months: int) -> datetime:
    """``ts`` moved by calendar months, the day clamped to the month's length (as PagerDuty).

    Example: ``add_months(datetime(2025, 3, 31, tzinfo=timezone.utc), -1)`` is 2025-02-28.
    """
    index = ts.year * 12 + ts.month - 1 + months
    year, month = divmod(index, 12)
    day = min(ts.day, calendar.monthrange(year, month + 1)[1])
    return ts.replace(year=year, month=month + 1, day=day)
