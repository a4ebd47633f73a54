"""First-acknowledgement times from log entries, for incidents whose list entry lost them.

PagerDuty's incident list shows ``acknowledgements`` only while an incident is acknowledged:
once resolved, the list is empty, so ``acknowledged_at``/``time_to_ack`` (and MTTA) would
only cover open incidents. :func:`with_ack_times` fills in the earliest
``acknowledge_log_entry`` of each resolved incident that lacks one, in whichever way costs
fewer requests:

- **account-wide**: page ``GET /log_entries?is_overview=true&since=&until=`` over the time the
  incidents span (first trigger to last resolve), with the same pager as
  :func:`~atlas_canvas.pagerduty.incidents` (concurrent offsets, windows split past the
  10,000-offset cap and the 6-month range, the adapter's shared rate-limit pacing); about one
  request per 100 important entries of the whole account in that time (a few per incident);
- **per incident**: ``GET /incidents/{id}/log_entries?is_overview=true``, one request each;
  used for small sets (at most 25 incidents) and when the account-wide log of that time would
  take more pages (few incidents spread over a busy period).

One ``total=true`` probe per 6-month window decides. Either way the retry rules of paging
apply, and ``max_requests`` (5,000 by default) refuses a job that would send more.

Example::

    week = pagerduty.with_ack_times(df[df.created_at >= "2025-12-29"])
    pagerduty.mtta_mttr(week, by="service")
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from .._bridge import run_sync
from ._pager import (
    DEFAULT_CONCURRENCY,
    LOG_ENTRIES,
    MAX_SPAN,
    PAGE_LIMIT,
    PAGING_CAP,
    SPLIT_TARGET,
    Pager,
    Progress,
    interactive,
)
from ._session import PagerDutySession

__all__ = ["with_ack_times", "with_ack_times_async"]

#: Refuse to send more log-entry requests than this without ``max_requests=`` raised.
DEFAULT_MAX_REQUESTS = 5_000
#: Up to this many incidents, one request each beats probing the account-wide log.
SMALL_SET = 25


def _spans(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    n = max(1, math.ceil((until - since) / MAX_SPAN))
    step = (until - since) / n
    return [(since + step * i, until if i == n - 1 else since + step * (i + 1)) for i in range(n)]


def _pages_for(total: int) -> int:
    """Requests to page ``total`` entries, counting the extra first pages of split windows."""
    pages = math.ceil(total / PAGE_LIMIT) if total else 1
    return pages + (math.ceil(total / SPLIT_TARGET) if total > PAGING_CAP else 0)


def _first_acks(entries: list[Any], wanted: set[str]) -> dict[str, pd.Timestamp]:
    ids: list[str] = []
    raw: list[Any] = []
    for e in entries:
        if not isinstance(e, dict) or e.get("type") != "acknowledge_log_entry":
            continue
        inc = e.get("incident")
        iid = inc.get("id") if isinstance(inc, dict) else None
        if iid in wanted:
            ids.append(str(iid))
            raw.append(e.get("created_at"))
    if not ids:
        return {}
    # One parse and one group-by for all of them: parsing per incident took most of the time
    # of a year's ack times (thousands of tiny pandas calls).
    at = pd.to_datetime(pd.Series(raw, dtype=object), utc=True, errors="coerce")
    first = at.groupby(pd.Series(ids), sort=False).min().dropna()
    return {str(k): v for k, v in first.items()}


async def with_ack_times_async(
    df: pd.DataFrame,
    *,
    adapter: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """Awaitable :func:`with_ack_times`."""
    from .._errors import UsageError

    adapter = adapter or (session.adapter if session else None)
    adapter = adapter or str(df.attrs.get("adapter") or "pagerduty")
    need = df["acknowledged_at"].isna() & (df["status"] == "resolved")
    ids = df.loc[need, "id"].dropna().astype(str).tolist()
    out = df.copy()
    if not ids:
        return out
    session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    pager = Pager(session, concurrency=concurrency, progress=progress and interactive())
    spans = _span_of(df[need]) if len(ids) > SMALL_SET else None
    bulk = None
    if spans is not None:
        with pager.frozen:
            bulk = await _bulk_pages(pager, spans)
    cheapest = len(ids) if bulk is None else min(bulk, len(ids))
    if cheapest > max_requests:
        how = f"{len(ids):,} incidents would need one log-entries request each"
        if bulk is not None:
            how += f", and the account-wide log of their time {bulk:,} pages"
        raise UsageError(how, hint="narrow the frame first, or pass max_requests= to allow it")
    by_id: dict[str, pd.Timestamp]
    if bulk is not None and bulk < len(ids):
        assert spans is not None
        method = "account-wide log entries"
        since, until = spans[0][0], spans[-1][1]
        entries = await pager.collect(
            LOG_ENTRIES,
            since=since,
            until=until,
            desc="ack times",
        )
        by_id = _first_acks(entries, set(ids))
    else:
        method = "per-incident log entries"
        with pager.frozen:
            by_id = await _per_incident(pager, ids)
    fill = out["id"].map(by_id)
    fill = pd.to_datetime(fill, utc=True).astype("datetime64[ns, UTC]")
    out["acknowledged_at"] = out["acknowledged_at"].fillna(fill)
    out["time_to_ack"] = out["acknowledged_at"] - out["created_at"]
    stats = pager.stats.as_dict()
    stats.pop("total", None)
    out.attrs["ack_times"] = {
        "method": method,
        "asked": len(ids),
        "found": len(by_id),
        **stats,
    }
    return out


def _span_of(rows: pd.DataFrame) -> list[tuple[datetime, datetime]] | None:
    """Windows (at most 6 months each) from the first trigger to just past the last resolve."""
    created = rows["created_at"].dropna()
    if created.empty:
        return None
    since = created.min().to_pydatetime().replace(microsecond=0)
    resolved = rows["resolved_at"] if "resolved_at" in rows.columns else None
    if resolved is None or resolved.isna().any():
        until = datetime.now(timezone.utc)  # an ack may come any time before now
    else:
        until = resolved.max().to_pydatetime()
    # ``until`` is exclusive: one second past the last resolve keeps an ack at that instant.
    until = until.replace(microsecond=0) + timedelta(seconds=1)
    return _spans(since, max(until, since + timedelta(seconds=1)))


async def _bulk_pages(pager: Pager, spans: list[tuple[datetime, datetime]]) -> int | None:
    """Requests the account-wide log of ``spans`` would take, or None if it is not available."""
    from .._errors import HTTPStatusError

    try:
        totals = await asyncio.gather(
            *(pager.total(LOG_ENTRIES, since=a, until=b) for a, b in spans)
        )
    except HTTPStatusError as exc:
        # No account-wide list here (an older proxy, a token scoped to incidents, a narrower
        # range limit): the per-incident lists still work.
        if exc.status in (400, 403, 404):
            return None
        raise
    if any(t is None for t in totals):
        return None  # no total to plan with
    return sum(_pages_for(t or 0) for t in totals)


async def _per_incident(pager: Pager, ids: list[str]) -> dict[str, pd.Timestamp]:
    bar = Progress(pager.progress_enabled, desc="ack times", unit="incident")
    bar.add_total(len(ids))

    async def entries(iid: str) -> list[Any]:
        data = await pager.get(
            f"incidents/{iid}/log_entries",
            [*LOG_ENTRIES.params, ("limit", str(PAGE_LIMIT))],
            key="log_entries",
        )
        bar.update(1)
        # The per-incident list may leave out the incident reference: these are all its own.
        return [{**e, "incident": {"id": iid}} for e in data["log_entries"] if isinstance(e, dict)]

    try:
        pages = await asyncio.gather(*(entries(i) for i in ids))
    finally:
        bar.close()
    return _first_acks([e for page in pages for e in page], set(ids))


def with_ack_times(
    df: pd.DataFrame,
    *,
    adapter: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with first-acknowledgement times of resolved incidents filled in.

    Reads the account-wide ``/log_entries`` over the incidents' time, or each incident's own
    log when that is fewer requests (see the module notes); raises :class:`UsageError` before
    sending anything if the cheaper way would still take more than ``max_requests``. Requests
    share the adapter's rate-limit budget (paced from PagerDuty's ``ratelimit-*`` headers); a
    progress bar shows on long jobs when interactive. ``df.attrs["ack_times"]`` says how the
    times were read and what it cost (requests, re-sends, 429s, seconds waited for budget).

    Example::

        reviewed = with_ack_times(df[df.created_at >= week_start])
        reviewed.time_to_ack.mean()
    """
    return run_sync(
        with_ack_times_async(
            df,
            adapter=adapter,
            concurrency=concurrency,
            max_requests=max_requests,
            progress=progress,
            config=config,
            base_url=base_url,
            transport=transport,
            session=session,
        )
    )
