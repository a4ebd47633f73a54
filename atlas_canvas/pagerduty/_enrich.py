"""First-acknowledgement times from log entries, for incidents whose list entry lost them.

PagerDuty's incident list shows ``acknowledgements`` only while an incident is acknowledged:
once resolved, the list is empty, so ``acknowledged_at``/``time_to_ack`` (and MTTA) would
only cover open incidents. :func:`with_ack_times` reads each such incident's log entries
(``GET /incidents/{id}/log_entries?is_overview=true``, concurrently, with the same retry
rules as paging) and fills in the earliest ``acknowledge_log_entry``. That is one request
per incident: use it on the slice you analyse (a week, a service), not on 50,000 rows.

Example::

    week = pagerduty.with_ack_times(df[df.created_at >= "2025-12-29"])
    pagerduty.mtta_mttr(week, by="service")
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from .._fetch import run_sync
from ._paging import DEFAULT_CONCURRENCY, PAGE_LIMIT, IncidentQuery, _Pager

__all__ = ["with_ack_times", "with_ack_times_async"]

#: Refuse to send more log-entry requests than this without ``max_requests=`` raised.
DEFAULT_MAX_REQUESTS = 5_000


async def with_ack_times_async(
    df: pd.DataFrame,
    *,
    adapter: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
) -> pd.DataFrame:
    """Awaitable :func:`with_ack_times`."""
    from .._errors import UsageError

    adapter = adapter or str(df.attrs.get("adapter") or "pagerduty")
    need = df["acknowledged_at"].isna() & (df["status"] == "resolved")
    ids = df.loc[need, "id"].dropna().astype(str).tolist()
    if len(ids) > max_requests:
        raise UsageError(
            f"{len(ids):,} incidents would need one log-entries request each",
            hint="narrow the frame first, or pass max_requests= to allow it",
        )
    out = df.copy()
    if not ids:
        return out
    pager = _Pager(
        IncidentQuery.build(adapter),
        config=config,
        base_url=base_url,
        transport=transport,
        concurrency=concurrency,
    )

    async def first_ack(iid: str) -> pd.Timestamp | None:
        data = await pager.get(
            [("is_overview", "true"), ("limit", str(PAGE_LIMIT)), ("time_zone", "UTC")],
            path=f"/v1/apis/http/{adapter}/incidents/{iid}/log_entries",
            key="log_entries",
        )
        times = [
            e.get("created_at")
            for e in data["log_entries"]
            if isinstance(e, dict) and e.get("type") == "acknowledge_log_entry"
        ]
        parsed = pd.to_datetime(pd.Series(times, dtype=object), utc=True, errors="coerce")
        return None if parsed.isna().all() else parsed.min()

    with pager.frozen:
        found = await asyncio.gather(*(first_ack(i) for i in ids))
    by_id = {i: t for i, t in zip(ids, found, strict=True) if t is not None}
    fill = out["id"].map(by_id)
    fill = pd.to_datetime(fill, utc=True).astype("datetime64[ns, UTC]")
    out["acknowledged_at"] = out["acknowledged_at"].fillna(fill)
    out["time_to_ack"] = out["acknowledged_at"] - out["created_at"]
    return out


def with_ack_times(
    df: pd.DataFrame,
    *,
    adapter: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
) -> pd.DataFrame:
    """A copy of ``df`` with first-acknowledgement times of resolved incidents filled in.

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
            config=config,
            base_url=base_url,
            transport=transport,
        )
    )
