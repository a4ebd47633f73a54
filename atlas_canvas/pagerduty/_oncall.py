"""``oncalls()``: who was (or is, or will be) on call, one row per shift.

Reads ``GET /oncalls`` (every escalation policy level whose target is a schedule or a user),
in pieces of at most 90 days (the API's limit), through the adapter's
:class:`~atlas_canvas.pagerduty._session.PagerDutySession` and its paced pager.

Example::

    from atlas_canvas import pagerduty
    shifts = pagerduty.oncalls(since="30d")            # last 30 days, clipped to the window
    now = pagerduty.oncalls()                          # who is on call right now
    shifts.groupby("user")["duration"].sum()
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._errors import UsageError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from ._session import PagerDutySession

__all__ = ["ONCALL_COLUMNS", "OnCallNow", "fetch_oncalls", "on_call_now", "oncalls", "window"]

#: ``GET /oncalls`` accepts since/until at most this far apart.
ONCALL_PIECE = timedelta(days=90)
ONCALL_COLUMNS = (
    "user_id",
    "user",
    "schedule_id",
    "schedule",
    "escalation_policy_id",
    "escalation_policy",
    "escalation_level",
    "start",
    "end",
    "duration",
)

TimeArg = str | datetime | date | None
ListArg = str | Iterable[str] | None


def window(
    since: TimeArg, until: TimeArg, *, default_days: float | None = 30
) -> tuple[datetime, datetime]:
    """``since``/``until`` as UTC datetimes: a lone ``since`` runs to now; neither is the last
    ``default_days`` days (``None``: the moment now). ``until`` alone goes back
    ``default_days`` from it."""
    from ._query import parse_time

    now = datetime.now(timezone.utc).replace(microsecond=0)
    lo, hi = parse_time(since, now=now), parse_time(until, now=now)
    span = timedelta(days=default_days) if default_days is not None else timedelta(0)
    if hi is None:
        hi = now
    if lo is None:
        lo = hi - span
    if hi < lo:
        raise UsageError(
            f"until ({hi.isoformat()}) is before since ({lo.isoformat()})",
            hint="swap them, or leave until out to mean now",
        )
    return lo, hi


def _ids(value: ListArg) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [x.strip() for item in items for x in str(item).split(",") if x.strip()]


async def oncall_records(
    session: PagerDutySession,
    since: datetime | None,
    until: datetime | None,
    *,
    schedule_ids: list[str] = (),  # type: ignore[assignment]  # read-only default
    escalation_policy_ids: list[str] = (),  # type: ignore[assignment]
    user_ids: list[str] = (),  # type: ignore[assignment]
    earliest: bool = False,
    stats: Any = None,
) -> list[dict[str, Any]]:
    """Raw ``GET /oncalls`` entries overlapping ``[since, until]``, de-duplicated."""
    from ._pager import ListSpec, Pager
    from ._query import fmt_time

    pager = Pager(session, stats=stats)
    base = [
        *(("schedule_ids[]", s) for s in schedule_ids),
        *(("escalation_policy_ids[]", s) for s in escalation_policy_ids),
        *(("user_ids[]", s) for s in user_ids),
    ]
    if earliest:
        base.append(("earliest", "true"))
    pieces: list[tuple[datetime | None, datetime | None]] = []
    if since is None or until is None:
        pieces.append((since, until))  # the API's defaults: now
    lo = since
    while lo is not None and until is not None:
        hi = min(until, lo + ONCALL_PIECE)
        pieces.append((lo, hi))
        if hi >= until:
            break
        lo = hi
    spec = ListSpec("oncalls", "oncalls", unit="shift")
    chunks = await asyncio.gather(
        *(
            pager.collect(
                replace(
                    spec,
                    params=(
                        *base,
                        *((("since", fmt_time(a)),) if a else ()),
                        *((("until", fmt_time(b)),) if b else ()),
                    ),
                )
            )
            for a, b in pieces
        )
    )
    seen: set[tuple[Any, ...]] = set()
    out: list[dict[str, Any]] = []
    for chunk in chunks:
        for item in chunk:
            key = (
                (item.get("escalation_policy") or {}).get("id"),
                item.get("escalation_level"),
                (item.get("user") or {}).get("id"),
                item.get("start"),
                item.get("end"),
            )
            if key in seen:
                continue
            seen.add(key)
            out.append(item)
    return out


def oncalls_frame(
    records: list[dict[str, Any]], since: datetime | None, until: datetime | None
) -> pd.DataFrame:
    """The typed frame of ``GET /oncalls`` entries, clipped to ``[since, until]``.

    A window of zero length (a moment) keeps each shift's own start and end.
    """
    import pandas as pd

    def ref(item: dict[str, Any], key: str) -> tuple[Any, Any]:
        obj = item.get(key) or {}
        return obj.get("id"), obj.get("summary") or obj.get("name")

    rows = []
    for item in records:
        uid, uname = ref(item, "user")
        sid, sname = ref(item, "schedule")
        eid, ename = ref(item, "escalation_policy")
        rows.append(
            (
                uid,
                uname,
                sid,
                sname,
                eid,
                ename,
                item.get("escalation_level"),
                item.get("start"),
                item.get("end"),
            )
        )
    df = pd.DataFrame(rows, columns=list(ONCALL_COLUMNS[:-1]))
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if since is not None and until is not None and until > since:
        lo, hi = pd.Timestamp(since), pd.Timestamp(until)
        # A null start/end is a permanent on-call: it covers the whole window.
        start, end = df["start"].fillna(lo), df["end"].fillna(hi)
        df["start"] = start.where(start > lo, lo)
        df["end"] = end.where(end < hi, hi)
        df = df[df["end"] > df["start"]]
    df["duration"] = df["end"] - df["start"]
    df["escalation_level"] = df["escalation_level"].astype("Int64")
    for col in (
        "user_id",
        "user",
        "schedule_id",
        "schedule",
        "escalation_policy_id",
        "escalation_policy",
    ):
        df[col] = df[col].astype("string")
    df = df.sort_values(
        ["start", "escalation_policy", "escalation_level", "user"], kind="stable"
    ).reset_index(drop=True)
    return df


async def fetch_oncalls(
    adapter: str = "pagerduty",
    *,
    since: TimeArg = None,
    until: TimeArg = None,
    schedule_ids: ListArg = None,
    escalation_policy_ids: ListArg = None,
    user_ids: ListArg = None,
    earliest: bool = False,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """The awaitable :func:`oncalls`.

    Example::

        df = await fetch_oncalls(since="7d")
    """
    from ._pager import FetchStats
    from ._session import PagerDutySession

    moment = since is None and until is None
    lo, hi = window(since, until, default_days=None)
    pd_session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    stats = FetchStats()
    records = await oncall_records(
        pd_session,
        None if moment else lo,
        None if moment else hi,
        schedule_ids=_ids(schedule_ids),
        escalation_policy_ids=_ids(escalation_policy_ids),
        user_ids=_ids(user_ids),
        earliest=earliest,
        stats=stats,
    )
    df = oncalls_frame(records, lo, hi)
    # With no bounds the API answers for its own "now" (the caller's clock may differ).
    df.attrs["window"] = (
        {"at": "now"} if moment else {"since": lo.isoformat(), "until": hi.isoformat()}
    )
    df.attrs["fetch"] = stats.as_dict()
    return df


def oncalls(
    since: TimeArg = None,
    until: TimeArg = None,
    schedule_ids: ListArg = None,
    escalation_policy_ids: ListArg = None,
    user_ids: ListArg = None,
    adapter: str = "pagerduty",
    *,
    earliest: bool = False,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """On-call shifts overlapping a window, one row per (user, policy level, shift).

    ``since``/``until`` take ISO 8601 text, datetimes or relative ``"30d"``; a lone ``since``
    runs to now; with neither, the frame is who is on call *now* (each shift with its own
    start and end). Otherwise ``start``/``end`` are clipped to the window and ``duration`` is
    the clipped length. Filters: ``schedule_ids``, ``escalation_policy_ids``, ``user_ids``
    (lists or comma-separated text); ``earliest=True`` keeps each user's first shift per
    policy level. Columns: ``user_id``, ``user``, ``schedule_id``, ``schedule`` (empty for a
    user targeted directly), ``escalation_policy_id``, ``escalation_policy``,
    ``escalation_level`` (Int64), ``start``, ``end`` (UTC), ``duration`` (timedelta).
    Windows longer than 90 days (the API's limit) are fetched in 90-day pieces.

    Example::

        from atlas_canvas import pagerduty
        week = pagerduty.oncalls(since="2026-05-01", until="2026-05-08")
        week.groupby("user")["duration"].sum().sort_values()
    """
    from .._bridge import run_sync

    return run_sync(
        fetch_oncalls(
            adapter,
            since=since,
            until=until,
            schedule_ids=schedule_ids,
            escalation_policy_ids=escalation_policy_ids,
            user_ids=user_ids,
            earliest=earliest,
            config=config,
            base_url=base_url,
            transport=transport,
            session=session,
        )
    )


class OnCallNow:
    """Who is on call at one moment, per escalation policy and level (``%atlas oncall``).

    ``frame`` is the :func:`oncalls` frame (each shift with its own start and end); the
    object shows as a table in a notebook and as text elsewhere.
    """

    def __init__(self, frame: pd.DataFrame, at: str) -> None:
        self.frame = frame
        self.at = at

    def rows(self) -> list[tuple[str, int, str, str, str]]:
        """(policy, level, user, schedule, until) sorted by policy and level."""
        import pandas as pd

        df = self.frame.sort_values(["escalation_policy", "escalation_level", "user"])
        out = []
        for rec in df.to_dict("records"):
            end = rec["end"]
            out.append(
                (
                    str(rec["escalation_policy"]),
                    int(rec["escalation_level"]),
                    str(rec["user"]),
                    "" if pd.isna(rec["schedule"]) else str(rec["schedule"]),
                    "-" if pd.isna(end) else pd.Timestamp(end).strftime("%Y-%m-%d %H:%M UTC"),
                )
            )
        return out

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        rows = self.rows()
        if not rows:
            return f"nobody is on call at {self.at}"
        head = ("ESCALATION POLICY", "LEVEL", "ON CALL", "SCHEDULE", "UNTIL")
        table = [head, *[(p, str(level), u, s, e) for p, level, u, s, e in rows]]
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        return f"on call at {self.at}\n" + "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = self.rows()
        if not rows:
            return f"<p>Nobody is on call at {escape(self.at)}.</p>"
        body = "".join(
            f"<tr><td>{escape(p)}</td><td>{level}</td><td><b>{escape(u)}</b></td>"
            f"<td>{escape(s)}</td><td>{escape(e)}</td></tr>"
            for p, level, u, s, e in rows
        )
        return (
            f"<table><caption>On call at {escape(self.at)}</caption><thead><tr>"
            "<th>Escalation policy</th><th>Level</th><th>On call</th><th>Schedule</th>"
            f"<th>Until</th></tr></thead><tbody>{body}</tbody></table>"
        )


def on_call_now(
    at: TimeArg = None,
    escalation_policy_ids: ListArg = None,
    adapter: str = "pagerduty",
    *,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> OnCallNow:
    """Who is on call now (or ``at`` a time), per escalation policy and level.

    Example::

        from atlas_canvas.pagerduty._oncall import on_call_now
        on_call_now(at="2026-05-01T03:00:00Z")
    """
    df = oncalls(
        since=at,
        until=at,
        escalation_policy_ids=escalation_policy_ids,
        adapter=adapter,
        config=config,
        base_url=base_url,
        transport=transport,
        session=session,
    )
    when = "now" if at is None else df.attrs["window"].get("since", str(at))
    return OnCallNow(df, when)
