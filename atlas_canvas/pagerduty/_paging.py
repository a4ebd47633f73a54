"""Transitional: the names the pre-split ``_paging`` module had, on top of the split modules.

The pager moved to :mod:`._pager` (``Pager``, ``ListSpec``, ``FetchStats``), query parsing to
:mod:`._query`, error explanation to :mod:`._explain`, and "where requests go" to
:class:`~atlas_canvas.pagerduty.PagerDutySession`. Code written against the old module (the
store's sync, in progress in parallel) keeps working through this file, with the new rate
pacing, until it moves to those modules; then this file is deleted. New code must not import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from .._routing import PROXY_PREFIX
from ._explain import explain_error, with_suggestion
from ._pager import (
    DEFAULT_CONCURRENCY,
    MAX_SPAN,
    PAGE_LIMIT,
    PAGING_CAP,
    SPLIT_TARGET,
    FetchStats,
    ListSpec,
    Pager,
    fetch_incident_records,
)
from ._pager import interactive as _interactive
from ._query import STATUSES, URGENCIES, IncidentQuery, _as_list, fmt_time, parse_time
from ._session import PD_ACCEPT, PagerDutySession

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_SPAN",
    "PAGE_LIMIT",
    "PAGING_CAP",
    "PD_ACCEPT",
    "SPLIT_TARGET",
    "STATUSES",
    "URGENCIES",
    "FetchStats",
    "IncidentQuery",
    "_Pager",
    "_adapter_details",
    "_as_list",
    "_interactive",
    "explain_error",
    "fetch_incident_records",
    "parse_time",
    "with_suggestion",
]

_fmt = fmt_time


class _Pager(Pager):
    """The old query-bound pager API (``q``, ``collect()``, ``get(params, path=, key=)``)."""

    list_rest = "incidents"
    list_key = "incidents"

    def __init__(
        self,
        query: IncidentQuery,
        *,
        config: Any = None,
        base_url: str | None = None,
        transport: Any = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_retries: int = 4,
        max_rate_limit_waits: int = 8,
        progress: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        session = PagerDutySession.create(
            query.adapter, config=config, base_url=base_url, transport=transport
        )
        super().__init__(
            session,
            concurrency=concurrency,
            max_retries=max_retries,
            max_rate_limit_waits=max_rate_limit_waits,
            progress=progress,
            sleep=sleep,
        )
        self.q = query

    def _spec(self) -> ListSpec:
        fixed = self._window_params(None, None, all_dates=False)
        return ListSpec(
            self.list_rest,
            self.list_key,
            params=tuple(fixed),
            windowed=True,
            sort_field="created_at" if self.list_rest == "incidents" else None,
        )

    def _window_params(
        self, since: datetime | None, until: datetime | None, *, all_dates: bool
    ) -> list[tuple[str, str]]:
        params = self.q.filter_params()
        if since is not None:
            params.append(("since", fmt_time(since)))
        if until is not None:
            params.append(("until", fmt_time(until)))
        if all_dates and since is None and until is None:
            params.append(("date_range", "all"))
        return params

    async def get(  # type: ignore[override]  # the old signature, kept for old callers
        self,
        params: list[tuple[str, str]],
        *,
        path: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        if path is None:
            rest, key = self.list_rest, key or self.list_key
        else:
            rest = path.split(f"{PROXY_PREFIX}/{self.session.adapter}/", 1)[-1]
            key = key or "incidents"
        return await self._get(rest, params, key=key)

    async def collect(self) -> list[dict[str, Any]]:  # type: ignore[override]  # old signature
        q = self.q
        return await Pager.collect(
            self, self._spec(), since=q.since, until=q.until, all_dates=q.date_range == "all"
        )

    async def _window(  # the old signature, kept for old callers
        self,
        since: datetime | None,
        until: datetime | None,
        *,
        all_dates: bool,
        top: bool = False,
        depth: int = 0,
    ) -> list[list[dict[str, Any]]]:
        return await self._fetch_window(
            self._spec(), since, until, all_dates=all_dates, depth=depth
        )


class _LogPager(_Pager):
    """The old account-wide ``/log_entries`` pager (``is_overview=true``)."""

    list_rest = "log_entries"
    list_key = "log_entries"

    def _window_params(
        self, since: datetime | None, until: datetime | None, *, all_dates: bool
    ) -> list[tuple[str, str]]:
        params = [("is_overview", "true"), ("time_zone", "UTC")]
        if since is not None:
            params.append(("since", fmt_time(since)))
        if until is not None:
            params.append(("until", fmt_time(until)))
        return params

    async def log_total(self, since: datetime, until: datetime) -> int | None:
        spec = self._spec()
        return await Pager.total(self, spec, since=since, until=until)


def _adapter_details(
    adapter: str, config: Any, base_url: str | None, transport: Any
) -> tuple[list[str], str | None]:
    from ._explain import _adapter_details as details

    session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport
    )
    return details(session)
