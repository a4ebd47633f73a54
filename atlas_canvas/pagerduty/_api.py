"""``incidents()`` / ``fetch_incidents()``: every matching incident as a DataFrame."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .._bridge import run_sync
from ._pager import DEFAULT_CONCURRENCY, fetch_incident_records
from ._query import IncidentQuery
from ._session import PagerDutySession

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["fetch_incidents", "incidents"]

TimeArg = str | datetime | date | None
ListArg = str | Iterable[str] | None


async def fetch_incidents(
    adapter: str = "pagerduty",
    *,
    statuses: ListArg = None,
    urgencies: ListArg = None,
    service_ids: ListArg = None,
    team_ids: ListArg = None,
    since: TimeArg = None,
    until: TimeArg = None,
    date_range: str | None = None,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    session: PagerDutySession | None = None,
    store: Any = None,
) -> pd.DataFrame:
    """Every incident matching the filters, as a DataFrame (awaitable; see :func:`incidents`).

    Example::

        df = await fetch_incidents(statuses="triggered,acknowledged", since="7d")
    """
    from ._frame import incidents_frame

    query = IncidentQuery.build(
        adapter,
        statuses=statuses,
        urgencies=urgencies,
        service_ids=service_ids,
        team_ids=team_ids,
        since=since,
        until=until,
        date_range=date_range,
    )
    if store is not None and store is not False:
        # The incident store: sync what changed, then read the window from the file.
        from ._store import incidents_through_store

        return await incidents_through_store(
            query,
            store,
            config=config,
            base_url=base_url,
            transport=transport,
            progress=progress,
            concurrency=concurrency,
        )
    session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    records, stats = await fetch_incident_records(
        query, session=session, concurrency=concurrency, progress=progress
    )
    df = incidents_frame(records, adapter=adapter)
    df.attrs["query"] = query.asked()
    df.attrs["window"] = query.window()
    df.attrs["fetch"] = stats.as_dict()
    return df


def incidents(
    adapter: str = "pagerduty",
    *,
    statuses: ListArg = None,
    urgencies: ListArg = None,
    service_ids: ListArg = None,
    team_ids: ListArg = None,
    since: TimeArg = None,
    until: TimeArg = None,
    date_range: str | None = None,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    session: PagerDutySession | None = None,
    store: Any = None,
) -> pd.DataFrame:
    """Every PagerDuty incident matching the filters, as a DataFrame (blocking).

    Filters follow ``GET /incidents``: ``statuses`` (triggered, acknowledged, resolved),
    ``urgencies`` (high, low), ``service_ids``, ``team_ids`` (lists or comma-separated text),
    ``since``/``until`` (ISO 8601, datetimes, or relative like ``"7d"``), and
    ``date_range="all"``. The window: ``since`` alone means from then until now (any length:
    it is fetched in pieces of at most six months); ``until`` alone means the calendar month
    before it (as PagerDuty reads it); neither means PagerDuty's default, about the last month.
    ``df.attrs["window"]`` says what was fetched and ``df.attrs["fetch"]`` what it cost
    (requests, re-sends, 429s, seconds spent waiting for rate-limit budget).
    Works in scripts and inside Jupyter (no ``nest_asyncio`` needed).

    One row per incident; columns and dtypes (``pagerduty.COLUMNS``): ``id``,
    ``incident_number`` (Int64), ``title``, ``status`` and ``urgency`` (categoricals),
    ``priority``, ``service_id``, ``service``, ``teams`` and ``assignees`` (lists of names),
    ``escalation_policy``, ``created_at``, ``acknowledged_at`` (first acknowledgement),
    ``resolved_at`` (UTC datetimes), ``time_to_ack``, ``time_to_resolve`` (timedeltas),
    ``alert_count`` (Int64), ``html_url``. The raw PagerDuty dicts: ``df.pagerduty.raw``.
    PagerDuty drops acknowledgements once an incident is resolved; ``with_ack_times(df)``
    reads them back from the log entries.

    ``store=True`` (or a path, or a :class:`Store`) syncs the incident store first (only what
    changed since the last sync) and reads the window from it: the same columns, with the
    first-ack times of resolved incidents already filled in; ``df.attrs["sync"]`` is the report.

    Example::

        from atlas_canvas import pagerduty
        df = pagerduty.incidents(statuses=["triggered"], urgencies="high", since="2025-01-01")
        df[["incident_number", "title", "service", "created_at"]].head()
    """
    return run_sync(
        fetch_incidents(
            adapter,
            statuses=statuses,
            urgencies=urgencies,
            service_ids=service_ids,
            team_ids=team_ids,
            since=since,
            until=until,
            date_range=date_range,
            progress=progress,
            config=config,
            base_url=base_url,
            transport=transport,
            concurrency=concurrency,
            session=session,
            store=store,
        )
    )
