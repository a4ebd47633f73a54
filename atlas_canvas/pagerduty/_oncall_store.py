"""On-call shifts and notifications in the incident store, synced incrementally.

The incident store (``_store``/``_sync``) keeps incidents, log entries and reference data;
this module adds two tables to the same DuckDB file through the store's own write path
(:meth:`Store.writing`, the store's sync lock, ``sync_state`` keys):

==================  ===========================================================================
oncall_shifts       one per ``GET /oncalls`` entry: policy, level, user, schedule, ``start``,
                    ``end`` (UTC), names, ``raw`` JSON
notifications       one per ``GET /notifications`` entry: ``id``, ``type``, ``started_at``,
                    ``user_id``, ``address``, ``status``, ``raw`` JSON
==================  ===========================================================================

A sync reads from the last synced moment (minus :data:`SHIFT_OVERLAP` for shifts, since an
override can change the recent past) until now, replaces the shifts that overlap that span
and adds the notifications it has not seen (by id), in one transaction. The first sync covers
the store's history window (``history_since`` of the incident sync) or ``since``.

Example::

    from atlas_canvas import pagerduty
    store = pagerduty.open_store("pagerduty")
    store.sync()                                  # incidents and log entries
    pagerduty.sync_oncall(store)                  # shifts and notifications
    pagerduty.stored_oncalls(store, since="30d")  # the oncalls() frame, no request
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from ._store import Store

__all__ = [
    "NOTIFICATION_PIECE",
    "ONCALL_TABLES",
    "SHIFT_OVERLAP",
    "OnCallSyncReport",
    "stored_notifications",
    "stored_oncalls",
    "sync_oncall",
    "sync_oncall_async",
]

ONCALL_TABLES = ("oncall_shifts", "notifications")
#: Shifts of the last day before the previous sync are read again (overrides change them).
SHIFT_OVERLAP = timedelta(days=1)
#: ``GET /notifications`` pieces: under the API's 3 months, and small enough that a busy
#: account's week stays under the 10,000 offset cap.
NOTIFICATION_PIECE = timedelta(days=7)
#: The window of a first on-call sync when the store has no history window yet.
DEFAULT_HISTORY = timedelta(days=90)

_DDL = (
    """
    create table if not exists oncall_shifts (
        escalation_policy_id varchar, escalation_policy varchar, escalation_level bigint,
        user_id varchar, "user" varchar, schedule_id varchar, schedule varchar,
        "start" timestamptz, "end" timestamptz, raw varchar
    )
    """,
    """
    create table if not exists notifications (
        id varchar not null, type varchar, started_at timestamptz, user_id varchar,
        address varchar, status varchar, raw varchar
    )
    """,
)

TimeArg = str | datetime | date | None


@dataclass
class OnCallSyncReport:
    """What an on-call sync did: shifts written, new notifications, requests, seconds."""

    shifts: int = 0
    notifications: int = 0
    requests: int = 0
    seconds: float = 0.0
    synced_until: str = ""

    def __str__(self) -> str:
        return (
            f"{self.shifts:,} shifts, {self.notifications:,} new notifications, "
            f"{self.requests} requests, {self.seconds:.1f} s (until {self.synced_until})"
        )


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _shift_rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for r in records:
        ep, user, sched = r.get("escalation_policy") or {}, r.get("user") or {}, r.get("schedule")
        sched = sched or {}
        rows.append(
            {
                "escalation_policy_id": ep.get("id"),
                "escalation_policy": ep.get("summary"),
                "escalation_level": r.get("escalation_level"),
                "user_id": user.get("id"),
                "user": user.get("summary"),
                "schedule_id": sched.get("id"),
                "schedule": sched.get("summary"),
                "start": r.get("start"),
                "end": r.get("end"),
                "raw": json.dumps(r, sort_keys=True),
            }
        )
    df = pd.DataFrame(rows, columns=["escalation_policy_id", "escalation_policy",
                                     "escalation_level", "user_id", "user", "schedule_id",
                                     "schedule", "start", "end", "raw"])  # fmt: skip
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    df["escalation_level"] = df["escalation_level"].astype("Int64")
    return df


def _notification_rows(items: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(
        [
            {
                "id": n.get("id"),
                "type": n.get("type"),
                "started_at": n.get("started_at"),
                "user_id": (n.get("user") or {}).get("id"),
                "address": n.get("address"),
                "status": n.get("status"),
                "raw": json.dumps(n, sort_keys=True),
            }
            for n in items
        ],
        columns=["id", "type", "started_at", "user_id", "address", "status", "raw"],
    )
    df["started_at"] = pd.to_datetime(df["started_at"], utc=True, format="ISO8601")
    return df.drop_duplicates("id")


async def sync_oncall_async(
    store: Store, *, since: TimeArg = None, lock_timeout: float | None = None
) -> OnCallSyncReport:
    """The awaitable :func:`sync_oncall`."""
    from ._oncall import oncall_records
    from ._pager import FetchStats, ListSpec, Pager
    from ._query import fmt_time, parse_time
    from ._session import PagerDutySession
    from ._store_lock import DEFAULT_LOCK_TIMEOUT, sync_lock
    from ._store_schema import write_state

    started = time.perf_counter()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    asked = parse_time(since, now=now) if since is not None else None
    lock = sync_lock(
        store.path, timeout=DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    )
    await asyncio.to_thread(lock.__enter__)
    try:
        state = await asyncio.to_thread(lambda: store.state)
        first = asked or _parse(state.get("history_since")) or now - DEFAULT_HISTORY
        shifts_mark = _parse(state.get("oncall_synced_until"))
        notes_mark = _parse(state.get("notifications_synced_until"))
        if asked is not None or shifts_mark is None or notes_mark is None:
            shifts_lo = notes_lo = first  # a first sync, or a re-read asked for
        else:
            shifts_lo, notes_lo = shifts_mark - SHIFT_OVERLAP, notes_mark
        session = PagerDutySession.create(
            store.adapter, config=store.config, base_url=store.base_url, transport=store.transport
        )
        stats = FetchStats()
        pager = Pager(session, stats=stats)
        pieces = []
        lo = notes_lo
        while lo < now:
            hi = min(now, lo + NOTIFICATION_PIECE)
            pieces.append((lo, hi))
            lo = hi
        spec = ListSpec("notifications", "notifications", unit="notification")
        shifts, *chunks = await asyncio.gather(
            oncall_records(session, shifts_lo, now, stats=stats),
            *(
                pager.collect(
                    replace(spec, params=(("since", fmt_time(a)), ("until", fmt_time(b))))
                )
                for a, b in pieces
            ),
        )
        notes = [n for chunk in chunks for n in chunk]
        report = OnCallSyncReport(requests=stats.requests, synced_until=_iso(now))
        shift_rows, note_rows = _shift_rows(shifts), _notification_rows(notes)

        def write() -> None:
            with store.writing() as con:
                con.execute("begin transaction")
                try:
                    for ddl in _DDL:
                        con.execute(ddl)
                    # Every shift overlapping [shifts_lo, now] was fetched again: replace them.
                    con.execute(
                        'delete from oncall_shifts where "end" is null or "end" > ?', [shifts_lo]
                    )
                    con.register("staged_shifts", shift_rows)
                    con.execute("insert into oncall_shifts select * from staged_shifts")
                    con.unregister("staged_shifts")
                    con.register("staged_notes", note_rows)
                    before = con.execute("select count(*) from notifications").fetchall()[0][0]
                    con.execute(
                        "insert into notifications select * from staged_notes "
                        "where id not in (select id from notifications)"
                    )
                    after = con.execute("select count(*) from notifications").fetchall()[0][0]
                    con.unregister("staged_notes")
                    report.shifts = len(shift_rows)
                    report.notifications = int(after - before)
                    write_state(
                        con,
                        {
                            "oncall_synced_until": _iso(now),
                            "notifications_synced_until": _iso(now),
                        },
                    )
                    con.execute("commit")
                except BaseException:
                    con.execute("rollback")
                    raise
                con.execute("checkpoint")

        await asyncio.to_thread(write)
    finally:
        lock.__exit__(None, None, None)
    report.seconds = time.perf_counter() - started
    return report


def sync_oncall(
    store: Store | None = None,
    *,
    adapter: str = "pagerduty",
    since: TimeArg = None,
    lock_timeout: float | None = None,
) -> OnCallSyncReport:
    """Bring the store's on-call shifts and notifications up to now (incrementally).

    ``store`` defaults to ``open_store(adapter)``. The first sync reads the store's history
    window (or ``since``, default the last 90 days); later ones read from where the last one
    stopped (shifts from a day earlier). One transaction, under the store's sync lock.

    Example::

        report = pagerduty.sync_oncall(pagerduty.open_store("pagerduty"))
        print(report)   # 412 shifts, 1,530 new notifications, 31 requests, 1.2 s
    """
    from .._bridge import run_sync
    from ._store import open_store_for_sync

    target = store if store is not None else open_store_for_sync(adapter, None)
    return run_sync(sync_oncall_async(target, since=since, lock_timeout=lock_timeout))


def _read(store: Store, query: str, params: list[Any]) -> pd.DataFrame:
    from ._store_schema import read_state

    with store._reading() as con:
        if "oncall_synced_until" not in read_state(con):
            from .._errors import UsageError

            raise UsageError(
                f"the store {store.path} holds no on-call data yet",
                hint="run pagerduty.sync_oncall(store) first",
            )
        return con.execute(query, params).df()


def stored_oncalls(store: Store, since: TimeArg = None, until: TimeArg = None) -> pd.DataFrame:
    """The :func:`~atlas_canvas.pagerduty.oncalls` frame from the store (no request).

    Example::

        pagerduty.stored_oncalls(store, since="2026-05-01", until="2026-06-01")
    """
    from ._oncall import oncalls_frame, window

    lo, hi = window(since, until)
    raw = _read(
        store,
        'select raw from oncall_shifts where ("end" is null or "end" > ?) and "start" < ? '
        'order by "start"',
        [lo, hi],
    )
    df = oncalls_frame([json.loads(r) for r in raw["raw"]], lo, hi)
    df.attrs["window"] = {"since": lo.isoformat(), "until": hi.isoformat()}
    df.attrs["source"] = "store"
    return df


def stored_notifications(
    store: Store, since: TimeArg = None, until: TimeArg = None
) -> pd.DataFrame:
    """Notifications sent in ``[since, until)`` from the store, oldest first (no request).

    Example::

        pagerduty.stored_notifications(store, since="7d")
    """
    from ._oncall import window

    lo, hi = window(since, until)
    df = _read(
        store,
        "select id, type, started_at, user_id, address, status from notifications "
        "where started_at >= ? and started_at < ? order by started_at, id",
        [lo, hi],
    )
    df["started_at"] = df["started_at"].dt.tz_convert("UTC")
    return df
