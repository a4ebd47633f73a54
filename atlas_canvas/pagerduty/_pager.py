"""Fetch **every** item of a PagerDuty list endpoint through an Atlas adapter, fast and politely.

:class:`Pager` pages any classic-pagination list (``/incidents``, ``/log_entries``,
``/users``, ``/services``, ...) described by a :class:`ListSpec`:

1. The first page is requested with ``total=true`` and ``limit=100``.
2. The remaining offsets are requested concurrently (bounded by a semaphore), and the pages
   are stitched back in offset order.
3. PagerDuty refuses ``offset + limit > 10,000``. For a *windowed* list (``since``/``until``:
   incidents, log entries) a window holding more is split into sub-windows (sized from the
   totals, recursively, each overlapping its neighbour by one second so no boundary instant is
   lost) and items are de-duplicated by id; ranges longer than the 6-month maximum are split
   up front. If the API still refuses (more than 10,000 items inside one second), the error
   says so. A list without windows that holds more than 10,000 items is refused clearly.
4. Budget: every request goes through the adapter's shared
   :class:`~atlas_canvas.pagerduty._pacer.RatePacer`, which reads ``ratelimit-remaining`` /
   ``ratelimit-reset`` on every answer and holds requests back before the budget runs out.
   A ``429`` anyway (another client of the key) pauses everyone until ``ratelimit-reset``;
   ``5xx`` and network errors are retried with exponential backoff and jitter, a bounded
   number of times. Only these GETs are retried; writes (``_actions``) never are.
5. :class:`FetchStats` counts what happened: every request sent, every re-send (after a 429,
   a 5xx or a dropped connection), every 429, and the time spent waiting for budget.

Example::

    pager = Pager(PagerDutySession.create("pagerduty"))
    users = await pager.collect(ListSpec("users", "users"))
    entries = await pager.collect(LOG_ENTRIES, since=week_start, until=week_end)
    pager.stats.requests, pager.stats.rate_limited
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .._errors import (
    HTTPStatusError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    UsageError,
)
from .._response import Response
from ._query import IncidentQuery, fmt_time, parse_time
from ._session import PagerDutySession

__all__ = [
    "DEFAULT_CONCURRENCY",
    "INCIDENTS",
    "LOG_ENTRIES",
    "MAX_SPAN",
    "PAGE_LIMIT",
    "PAGING_CAP",
    "SPLIT_TARGET",
    "FetchStats",
    "ListSpec",
    "Pager",
    "fetch_incident_records",
    "interactive",
]

PAGE_LIMIT = 100
#: PagerDuty refuses ``offset + limit`` above this.
PAGING_CAP = 10_000
#: PagerDuty's maximum ``since``/``until`` range (6 months); we stay a little under it.
MAX_SPAN = timedelta(days=179)
#: Aim sub-windows at this many items so a skewed distribution rarely needs a second split.
SPLIT_TARGET = 7_000
DEFAULT_CONCURRENCY = 8
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
#: Longest single wait for a 429's reset (PagerDuty's windows are a minute).
MAX_RESET_WAIT = 120.0
#: Progress bars only for fetches of more items than this (short ones finish first).
PROGRESS_MIN_ITEMS = 10 * PAGE_LIMIT

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ListSpec:
    """One PagerDuty list endpoint: where it is, its list key, fixed params, how to split it.

    ``windowed`` lists take ``since``/``until`` and can be split by time past the 10,000
    offset cap; ``sort_field`` finds the edges of an open-ended window (``None``: unknown).
    """

    rest: str
    key: str
    params: tuple[tuple[str, str], ...] = ()
    windowed: bool = False
    sort_field: str | None = None
    unit: str = "item"


#: ``GET /incidents`` (add the query's filters to ``params``).
INCIDENTS = ListSpec(
    "incidents", "incidents", windowed=True, sort_field="created_at", unit="incident"
)
#: The account-wide ``GET /log_entries`` of important entries, in UTC.
LOG_ENTRIES = ListSpec(
    "log_entries",
    "log_entries",
    params=(("is_overview", "true"), ("time_zone", "UTC")),
    windowed=True,
    unit="log entry",
)


@dataclass
class FetchStats:
    """What a fetch cost: requests sent (all of them), re-sends, 429s, windows, seconds.

    ``paced_waits`` counts requests the rate pacer held back; ``paced_seconds`` is the wall
    time during which any was held (waiting for the budget's reset).
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    paced_waits: int = 0
    paced_seconds: float = 0.0
    windows: int = 1
    splits: int = 0
    duplicates: int = 0
    total: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counters for ``df.attrs`` (JSON-friendly)."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "paced_waits": self.paced_waits,
            "paced_seconds": round(self.paced_seconds, 3),
            "windows": self.windows,
            "duplicates": self.duplicates,
            "total": self.total,
            "seconds": round(self.seconds, 3),
        }


class _CapExceeded(Exception):
    """The API refused an offset past its 10,000 cap (raised inside the pager only)."""


def interactive() -> bool:
    """True in a Jupyter kernel or on a terminal: where a progress bar helps someone."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:  # pragma: no cover - defensive
            shell = None
        if shell is not None and hasattr(shell, "kernel"):
            return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """A tqdm bar that appears once the work is known to be long, and leaves nothing behind.

    Totals are added as windows report theirs (a year is fetched in pieces). In a notebook
    the bar is shown under a display id and blanked on close, so a notebook saved after the
    run (nbconvert, nbclient, a save in JupyterLab) never keeps a frozen bar.
    """

    def __init__(self, enabled: bool, *, desc: str, unit: str, window: str = "") -> None:
        self.enabled = enabled
        self.desc = desc
        self.unit = unit
        self.window = window
        self.bar: Any = None
        self.total = 0
        self.done = 0
        self._handle: Any = None

    def add_total(self, n: int) -> None:
        if not self.enabled:
            return
        self.total += n
        if self.bar is None:
            if self.total > PROGRESS_MIN_ITEMS:
                self._open()
        else:
            self.bar.total = self.total
            self.bar.refresh()

    def _open(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            self.enabled = False
            return
        kwargs: dict[str, Any] = {
            "total": self.total,
            "unit": self.unit,
            "desc": self.desc,
            "leave": False,
            "initial": self.done,
        }
        if self.window:
            kwargs["postfix"] = self.window
        if _in_kernel():
            from tqdm.notebook import tqdm as notebook_tqdm

            try:
                self.bar = notebook_tqdm(display=False, **kwargs)
                from IPython.display import display

                # The widget view only: no text/plain copy of the bar for a saved notebook or a
                # tool that ignores display updates (nbval) to keep as a frozen "0%" bar.
                bundle = {
                    k: v
                    for k, v in self.bar.container._repr_mimebundle_().items()
                    if k != "text/plain"
                }
                self._handle = display(bundle, raw=True, display_id=True)
                return
            except Exception:  # ipywidgets missing or too old: the text bar still works
                self.bar = None
        self.bar = tqdm(**kwargs)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._handle is not None:
            # Replace the widget's output by nothing: a saved notebook keeps no stale bar.
            self._handle.update({}, raw=True)
            self._handle = None


def _in_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # pragma: no cover - defensive
        return False
    return shell is not None and hasattr(shell, "kernel")


class FrozenPages:
    """Keep the cyclic GC from re-scanning the pages already decoded while a fetch runs.

    A 50,000-incident fetch holds millions of small objects; each full collection walks them
    all, which measured at about half of the fetch's CPU time. Decoded pages only ever grow
    (no cycles to find), so after each page ``gc.freeze()`` moves what exists to the permanent
    generation, and ``gc.unfreeze()`` hands it back when the fetch ends. Skipped when the GC is
    off or someone else froze objects (a forking server, say): their freeze is not ours to undo.
    """

    def __init__(self) -> None:
        self.active = False
        self.depth = 0

    def __enter__(self) -> FrozenPages:
        self.depth += 1
        if self.depth == 1:
            self.active = gc.isenabled() and gc.get_freeze_count() == 0
        return self

    def page(self) -> None:
        if self.active:
            gc.freeze()

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if self.depth == 0 and self.active:
            gc.unfreeze()
            self.active = False


class Pager:
    """Pages PagerDuty lists through one :class:`PagerDutySession` (see the module notes).

    One pager may collect several lists; :attr:`stats` adds them up.
    """

    def __init__(
        self,
        session: PagerDutySession,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_retries: int = 4,
        max_rate_limit_waits: int = 8,
        progress: bool = False,
        sleep: Sleep = asyncio.sleep,
        stats: FetchStats | None = None,
    ) -> None:
        if concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        self.session = session
        self.sem = asyncio.Semaphore(concurrency)
        self.max_retries = max_retries
        self.max_rate_limit_waits = max_rate_limit_waits
        self.progress_enabled = progress
        self.sleep = sleep
        self.stats = stats or FetchStats()
        self.frozen = FrozenPages()
        self.progress = Progress(False, desc="", unit="item")
        self._waiting_until = 0.0

    # -- one request ---------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of concurrent workers apart.
        return min(8.0, 0.25 * (2**attempt)) * (0.5 + random.random() / 2)

    async def _send(self, rest: str, params: Sequence[tuple[str, str]]) -> Response:
        async with self.sem:
            try:
                return await self.session.request(
                    "GET", rest, params=list(params), sleep=self.sleep, on_wait=self._waited
                )
            finally:
                self.stats.requests += 1

    def _waited(self, seconds: float) -> None:
        # Wall-clock time with at least one request held back: concurrent requests wait for
        # the same reset together, and that is one wait, not one per request.
        self.stats.paced_waits += 1
        now = time.monotonic()
        start = max(now - seconds, self._waiting_until)
        if now > start:
            self.stats.paced_seconds += now - start
        self._waiting_until = max(self._waiting_until, now)

    async def get(
        self, rest: str, params: Sequence[tuple[str, str]], *, key: str
    ) -> dict[str, Any]:
        """One page of ``rest`` (retried as the module notes say); its JSON holds a ``key`` list.

        Example::

            data = await pager.get("users", [("limit", "100"), ("offset", "0")], key="users")
        """
        return await self._get(rest, params, key=key)

    async def _get(
        self, rest: str, params: Sequence[tuple[str, str]], *, key: str
    ) -> dict[str, Any]:
        failures = 0
        waits = 0
        while True:
            try:
                r = await self._send(rest, params)
            except (UpstreamUnreachableError, UpstreamTimeoutError):
                failures += 1
                if failures > self.max_retries:
                    raise
                self.stats.retries += 1
                await self.sleep(self._backoff(failures))
                continue
            if r.status == 429:
                waits += 1
                self.stats.rate_limited += 1
                if waits > self.max_rate_limit_waits:
                    raise HTTPStatusError(
                        f"PagerDuty kept answering 429 (rate limited) after {waits - 1} waits",
                        status=429,
                        hint="the account's limit is shared by every client of the token; "
                        "try again later or lower concurrency=",
                    )
                if _reset_seconds(r) is None:
                    # No reset announced: back off, growing; the pacer holds everyone back.
                    self.session.pacer.hold(min(self._backoff(waits), MAX_RESET_WAIT))
                self.stats.retries += 1
                continue  # the pacer makes the retry (and everyone else) wait for the reset
            if r.status in RETRYABLE_STATUS and not _is_atlas_error(r):
                failures += 1
                if failures > self.max_retries:
                    raise await self.session.explain(r)
                self.stats.retries += 1
                await self.sleep(self._backoff(failures))
                continue
            if r.status == 400 and _is_cap_error(r):
                raise _CapExceeded()
            if not r.ok:
                raise await self.session.explain(r)
            try:
                data = r.data
            except ValueError:
                raise UpstreamError(
                    f"GET {self.session.url(rest)} answered {r.status} with a body that is "
                    "not JSON",
                    hint="is the adapter's baseUrl a PagerDuty REST API?",
                ) from None
            self.frozen.page()
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise UpstreamError(
                    f"GET {self.session.url(rest)} answered without a '{key}' list",
                    hint="is the adapter's baseUrl a PagerDuty REST API (https://api.pagerduty.com)?",
                )
            return data

    # -- lists ---------------------------------------------------------------------------------

    async def total(
        self, spec: ListSpec, *, since: datetime | None = None, until: datetime | None = None
    ) -> int | None:
        """How many items ``spec`` holds in the window (one ``limit=1&total=true`` request)."""
        params = [*self._params(spec, since, until, all_dates=False), ("limit", "1")]
        data = await self._get(
            spec.rest, [*params, ("offset", "0"), ("total", "true")], key=spec.key
        )
        total = data.get("total")
        return total if isinstance(total, int) else None

    async def collect(
        self,
        spec: ListSpec,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        all_dates: bool = False,
        desc: str | None = None,
        window: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of ``spec`` (in the window, for a windowed list), de-duplicated by id."""
        started = time.perf_counter()
        if not spec.windowed and (since is not None or until is not None):
            raise UsageError(f"GET /{spec.rest} takes no since/until window here")
        top_total: list[int | None] = []
        if window is None and spec.windowed:
            window = _describe(since, until, all_dates=all_dates)
        self.progress = Progress(
            self.progress_enabled,
            desc=desc or spec.rest.replace("_", " "),
            unit=spec.unit,
            window=window or "",
        )
        try:
            with self.frozen:
                chunks = await self._fetch_window(
                    spec, since, until, all_dates=all_dates, depth=0, top=top_total
                )
        finally:
            self.progress.close()
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for chunk in chunks:
            for item in chunk:
                key = item.get("id") if isinstance(item, dict) else None
                if key is None:
                    out.append(item)
                    continue
                if key in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(key)
                out.append(item)
        if top_total and isinstance(top_total[0], int):
            self.stats.total = top_total[0]
        elif self.stats.windows > 1:
            # Split up front (a range over 6 months): the total is what the windows held.
            self.stats.total = len(out)
        else:
            self.stats.total = None
        self.stats.seconds += time.perf_counter() - started
        return out

    def _params(
        self, spec: ListSpec, since: datetime | None, until: datetime | None, *, all_dates: bool
    ) -> list[tuple[str, str]]:
        params = list(spec.params)
        if since is not None:
            params.append(("since", fmt_time(since)))
        if until is not None:
            params.append(("until", fmt_time(until)))
        if all_dates and since is None and until is None:
            params.append(("date_range", "all"))
        return params

    async def _fetch_window(
        self,
        spec: ListSpec,
        since: datetime | None,
        until: datetime | None,
        *,
        all_dates: bool,
        depth: int,
        top: list[int | None] | None = None,
    ) -> list[list[dict[str, Any]]]:
        if spec.windowed and since is not None and until is not None and until - since > MAX_SPAN:
            n = math.ceil((until - since) / MAX_SPAN)
            return await self._split(spec, since, until, n, depth=depth)
        params = self._params(spec, since, until, all_dates=all_dates)
        first = await self._get(
            spec.rest,
            [*params, ("limit", str(PAGE_LIMIT)), ("offset", "0"), ("total", "true")],
            key=spec.key,
        )
        items: list[dict[str, Any]] = first[spec.key]
        total = first.get("total")
        if top is not None:
            top.append(total if isinstance(total, int) else None)
        if not isinstance(total, int):
            # No total (an API that ignores total=true): walk `more` sequentially.
            self.progress.update(len(items))
            return [items, *await self._walk_more(spec, params, len(items), first)]
        if total > PAGING_CAP:
            if not spec.windowed:
                raise UpstreamError(
                    f"GET /{spec.rest} holds {total:,} items, past PagerDuty's {PAGING_CAP:,} "
                    "offset cap, and cannot be split by time",
                    hint="narrow it with filters",
                )
            if since is None or until is None:
                since, until = await self._bounds(spec, params, since, until)
            n = max(2, math.ceil(total / SPLIT_TARGET))
            self.stats.splits += 1
            return await self._split(spec, since, until, n, depth=depth)
        self.progress.add_total(total)
        self.progress.update(len(items))
        if not first.get("more") or not items:
            return [items]
        page = len(items)
        offsets = list(range(page, min(total, PAGING_CAP), page))

        async def one(offset: int) -> list[dict[str, Any]]:
            limit = min(page, PAGING_CAP - offset)
            data = await self._get(
                spec.rest, [*params, ("limit", str(limit)), ("offset", str(offset))], key=spec.key
            )
            got: list[dict[str, Any]] = data[spec.key]
            self.progress.update(len(got))
            return got

        try:
            pages = await asyncio.gather(*(one(o) for o in offsets))
        except _CapExceeded:
            if not spec.windowed:
                raise UpstreamError(
                    f"PagerDuty refused to page GET /{spec.rest} past {PAGING_CAP:,} items",
                    hint="narrow it with filters",
                ) from None
            if since is None or until is None:
                since, until = await self._bounds(spec, params, since, until)
            self.stats.splits += 1
            return await self._split(spec, since, until, 2, depth=depth)
        chunks = [items, *pages]
        fetched = sum(len(c) for c in chunks)
        last = pages[-1] if pages else items
        if fetched >= total or not last:
            return chunks
        # Items were created while we paged (or pages came back short): follow `more`.
        start = offsets[-1] + len(last) if offsets else page
        return [*chunks, *await self._walk_more(spec, params, start, None)]

    async def _walk_more(
        self,
        spec: ListSpec,
        params: list[tuple[str, str]],
        offset: int,
        first: dict[str, Any] | None,
    ) -> list[list[dict[str, Any]]]:
        chunks: list[list[dict[str, Any]]] = []
        more = True if first is None else bool(first.get("more"))
        while more and offset < PAGING_CAP:
            limit = min(PAGE_LIMIT, PAGING_CAP - offset)
            data = await self._get(
                spec.rest, [*params, ("limit", str(limit)), ("offset", str(offset))], key=spec.key
            )
            got = data[spec.key]
            if not got:
                break
            chunks.append(got)
            self.progress.update(len(got))
            offset += len(got)
            more = bool(data.get("more"))
        if more and offset >= PAGING_CAP:
            raise UpstreamError(
                f"PagerDuty did not report a total and more than {PAGING_CAP:,} items match",
                hint="pass since= and until= so the range can be split into windows",
            )
        return chunks

    async def _bounds(
        self,
        spec: ListSpec,
        params: list[tuple[str, str]],
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[datetime, datetime]:
        """Earliest/latest item time in the window, for splitting an open-ended range."""
        field_name = spec.sort_field
        if field_name is None:
            raise UpstreamError(
                f"more than {PAGING_CAP:,} items match and the window has no bounds to split",
                hint="pass since= and until= so the range can be split into windows",
            )

        async def edge(order: str) -> dict[str, Any] | None:
            data = await self._get(
                spec.rest,
                [*params, ("sort_by", f"{field_name}:{order}"), ("limit", "1"), ("offset", "0")],
                key=spec.key,
            )
            items = data[spec.key]
            return items[0] if items else None

        lo_item, hi_item = await asyncio.gather(edge("asc"), edge("desc"))
        lo = parse_time(lo_item.get(field_name)) if lo_item else None
        hi = parse_time(hi_item.get(field_name)) if hi_item else None
        if (
            lo is None
            or hi is None
            or (
                lo_item is not None
                and hi_item is not None
                and lo_item.get("id") == hi_item.get("id")
            )
            or lo >= hi
        ):
            raise UpstreamError(
                f"more than {PAGING_CAP:,} items match and the time range could not be "
                "determined to split it",
                hint="pass since= and until= so the range can be split into windows",
            )
        return since or lo, until or (hi + timedelta(seconds=1))

    async def _split(
        self, spec: ListSpec, since: datetime, until: datetime, n: int, *, depth: int
    ) -> list[list[dict[str, Any]]]:
        span = (until - since).total_seconds()
        if span <= 2 or depth > 40:
            raise UpstreamError(
                f"PagerDuty still refuses: more than {PAGING_CAP:,} items match between "
                f"{fmt_time(since)} and {fmt_time(until)} and the range cannot be split further",
                hint="narrow the filters (statuses, urgencies, service_ids, team_ids)",
            )
        n = max(2, min(n, int(span // 2)))
        step = span / n
        edges = [since + timedelta(seconds=math.floor(i * step)) for i in range(n)] + [until]
        self.stats.windows += n - 1
        # Each window reaches one second into the next: PagerDuty's since/until inclusivity is
        # not documented, so overlap and de-duplicate rather than risk a gap.
        windows = [(edges[i], min(until, edges[i + 1] + timedelta(seconds=1))) for i in range(n)]
        results = await asyncio.gather(
            *(self._fetch_window(spec, a, b, all_dates=False, depth=depth + 1) for a, b in windows)
        )
        return [chunk for chunks in results for chunk in chunks]


def _describe(since: datetime | None, until: datetime | None, *, all_dates: bool) -> str:
    if all_dates:
        return "all dates"
    if since is None and until is None:
        return "PagerDuty's default window"
    left = f"{since:%Y-%m-%d}" if since else "…"
    right = f"{until:%Y-%m-%d}" if until else "…"
    return f"{left}..{right}"


def _reset_seconds(r: Response) -> float | None:
    raw = r.headers.get("ratelimit-reset")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return max(0.0, value)


def _is_atlas_error(r: Response) -> bool:
    # An Atlas error (unknown adapter, missing secret) is never worth retrying; an upstream
    # 502/504 relayed by Atlas (unreachable, timeout) is.
    err = r.error()
    return err is not None and type(err) not in (
        HTTPStatusError,
        UpstreamTimeoutError,
        UpstreamUnreachableError,
    )


def _is_cap_error(r: Response) -> bool:
    try:
        data = r.data
    except ValueError:
        return False
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return False
    text = str(err.get("errors", "")) + str(err.get("message", ""))
    return err.get("code") == 2002 or "10000" in text.replace(",", "")


async def fetch_incident_records(
    query: IncidentQuery,
    *,
    session: PagerDutySession | None = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    max_retries: int = 4,
    sleep: Sleep = asyncio.sleep,
) -> tuple[list[dict[str, Any]], FetchStats]:
    """Every incident matching ``query`` as raw dicts (API order, no duplicates), plus stats.

    Example::

        records, stats = await fetch_incident_records(IncidentQuery.build(since="90d"))
    """
    session = PagerDutySession.create(
        query.adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    pager = Pager(
        session,
        concurrency=concurrency,
        max_retries=max_retries,
        progress=progress and interactive(),
        sleep=sleep,
    )
    spec = replace(INCIDENTS, params=tuple(query.filter_params()))
    records = await pager.collect(
        spec,
        since=query.since,
        until=query.until,
        all_dates=query.date_range == "all",
        desc="incidents",
        window=query.describe_window(),
    )
    return records, pager.stats
