"""Fetch **every** matching PagerDuty incident through an Atlas adapter, fast.

How (see ``shared/reference/pagerduty.md`` §4-5):

1. The first page is requested with ``total=true`` and ``limit=100``.
2. The remaining offsets are requested concurrently (bounded by a semaphore), and the pages are
   stitched back in offset order.
3. PagerDuty refuses ``offset + limit > 10,000``. When a window holds more than that, it is
   split into sub-windows by ``created_at`` (sized from the totals, recursively, each
   overlapping its neighbour by one second so no boundary instant is lost) and incidents are
   de-duplicated by id. Ranges longer than PagerDuty's 6-month maximum are split up front.
   If the API still refuses (more than 10,000 incidents inside one second), the error says so.
4. ``429`` waits for ``ratelimit-reset`` seconds (all workers pause together); ``5xx`` and
   network errors are retried with exponential backoff and jitter, a bounded number of times.
   Only these GETs are retried; writes (``_actions``) never are.
"""

from __future__ import annotations

import asyncio
import difflib
import gc
import math
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .._errors import (
    AtlasError,
    HTTPStatusError,
    InvalidAccessTokenError,
    MissingAccessTokenError,
    NoMatchingInstanceError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    UsageError,
)
from .._fetch import Response, atlasProxyFetch, list_adapters

__all__ = [
    "PAGE_LIMIT",
    "PAGING_CAP",
    "FetchStats",
    "IncidentQuery",
    "explain_error",
    "fetch_incident_records",
    "parse_time",
    "with_suggestion",
]

PAGE_LIMIT = 100
#: PagerDuty refuses ``offset + limit`` above this.
PAGING_CAP = 10_000
#: PagerDuty's maximum ``since``/``until`` range (6 months); we stay a little under it.
MAX_SPAN = timedelta(days=179)
#: Aim sub-windows at this many incidents so a skewed distribution rarely needs a second split.
SPLIT_TARGET = 7_000
DEFAULT_CONCURRENCY = 8
PD_ACCEPT = "application/vnd.pagerduty+json;version=2"
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")
_RELATIVE_RE = re.compile(r"^\s*-?(\d+(?:\.\d+)?)\s*([smhdw])\s*(?:ago)?\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


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


def _fmt(ts: datetime) -> str:
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
    """The filters of one incidents fetch, validated."""

    adapter: str = "pagerduty"
    statuses: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    service_ids: tuple[str, ...] = ()
    team_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    date_range: str | None = None

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
        if s is not None and u is not None and s >= u:
            raise UsageError(f"since ({_fmt(s)}) must be before until ({_fmt(u)})")
        return cls(
            adapter=adapter,
            statuses=tuple(_as_list("status", statuses, STATUSES)),
            urgencies=tuple(_as_list("urgency", urgencies, URGENCIES)),
            service_ids=tuple(_as_list("service id", service_ids)),
            team_ids=tuple(_as_list("team id", team_ids)),
            since=s,
            until=u,
            date_range=date_range,
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
        return f"/v1/apis/http/{self.adapter}/incidents"


@dataclass
class FetchStats:
    """What a fetch cost: requests sent, retries, windows, seconds."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    windows: int = 1
    splits: int = 0
    duplicates: int = 0
    total: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class _CapExceeded(Exception):
    """The API refused an offset past its 10,000 cap (raised inside the pager only)."""


# ---------------------------------------------------------------------------------------------
# Pager
# ---------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def start(self, total: int) -> None:
        # Only long fetches get a bar: short ones finish before a bar helps, and a bar is
        # volatile output that would make saved notebooks differ run to run.
        if not self.enabled or total <= 10 * PAGE_LIMIT or self.bar is not None:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return
        self.bar = tqdm(total=total, unit="incident", desc="incidents", leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _interactive() -> bool:
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


class _FrozenPages:
    """Keep the cyclic GC from re-scanning the pages already decoded while a fetch runs.

    A 50,000-incident fetch holds millions of small objects; each full collection walks them
    all, which measured at about half of the fetch's CPU time. Decoded pages only ever grow
    (no cycles to find), so after each page ``gc.freeze()`` moves what exists to the permanent
    generation, and ``gc.unfreeze()`` hands it back when the fetch ends. Skipped when the GC is
    off or someone else froze objects (a forking server, say): their freeze is not ours to undo.
    """

    def __init__(self) -> None:
        self.active = False

    def __enter__(self) -> _FrozenPages:
        self.active = gc.isenabled() and gc.get_freeze_count() == 0
        return self

    def page(self) -> None:
        if self.active:
            gc.freeze()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            gc.unfreeze()
            self.active = False


class _Pager:
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
        if concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        self.q = query
        self.config = config
        self.base_url = base_url
        self.transport = transport
        self.sem = asyncio.Semaphore(concurrency)
        self.max_retries = max_retries
        self.max_rate_limit_waits = max_rate_limit_waits
        self.sleep = sleep
        self.stats = FetchStats()
        self.progress = _Progress(progress)
        self.frozen = _FrozenPages()
        self._pause_until = 0.0

    # -- one request ---------------------------------------------------------------------------

    async def _send(self, params: list[tuple[str, str]], path: str | None = None) -> Response:
        return await atlasProxyFetch(
            path or self.q.path,
            params=params,
            headers={"Accept": PD_ACCEPT},
            config=self.config,
            base_url=self.base_url,
            transport=self.transport,
        )

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads retries of concurrent workers apart.
        return min(8.0, 0.25 * (2**attempt)) * (0.5 + random.random() / 2)

    async def get(
        self, params: list[tuple[str, str]], *, path: str | None = None, key: str = "incidents"
    ) -> dict[str, Any]:
        failures = 0
        waits = 0
        while True:
            delay = self._pause_until - time.monotonic()
            if delay > 0:
                await self.sleep(delay)
            try:
                async with self.sem:
                    r = await self._send(params, path)
                    self.stats.requests += 1
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
                wait = _reset_seconds(r)
                if wait is None:
                    wait = self._backoff(waits)
                wait = min(wait, 120.0) + random.random() * 0.1
                # Everybody pauses: the limit is per token, not per worker.
                self._pause_until = max(self._pause_until, time.monotonic() + wait)
                continue
            if r.status in RETRYABLE_STATUS and not _is_atlas_error(r):
                failures += 1
                if failures > self.max_retries:
                    raise await self._error(r)
                self.stats.retries += 1
                await self.sleep(self._backoff(failures))
                continue
            if r.status == 400 and _is_cap_error(r):
                raise _CapExceeded()
            if not r.ok:
                raise await self._error(r)
            try:
                data = r.data
            except ValueError:
                raise UpstreamError(
                    f"GET {path or self.q.path} answered {r.status} with a body that is not JSON",
                    hint="is the adapter's baseUrl a PagerDuty REST API?",
                ) from None
            self.frozen.page()
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise UpstreamError(
                    f"GET {path or self.q.path} answered without a '{key}' list",
                    hint="is the adapter's baseUrl a PagerDuty REST API (https://api.pagerduty.com)?",
                )
            return data

    async def _error(self, r: Response) -> AtlasError:
        return await explain_error(
            r,
            adapter=self.q.adapter,
            config=self.config,
            base_url=self.base_url,
            transport=self.transport,
        )

    # -- windows -------------------------------------------------------------------------------

    def _window_params(
        self, since: datetime | None, until: datetime | None, *, all_dates: bool
    ) -> list[tuple[str, str]]:
        params = self.q.filter_params()
        if since is not None:
            params.append(("since", _fmt(since)))
        if until is not None:
            params.append(("until", _fmt(until)))
        if all_dates and since is None and until is None:
            params.append(("date_range", "all"))
        return params

    async def collect(self) -> list[dict[str, Any]]:
        started = time.perf_counter()
        all_dates = self.q.date_range == "all"
        since, until = self.q.since, self.q.until
        if all_dates:
            # PagerDuty ignores since/until with date_range=all; so do we.
            since = until = None
        try:
            with self.frozen:
                chunks = await self._window(since, until, all_dates=all_dates, top=True, depth=0)
        finally:
            self.progress.close()
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for chunk in chunks:
            for item in chunk:
                key = item.get("id")
                if key is None:
                    out.append(item)
                    continue
                if key in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(key)
                out.append(item)
        if self.stats.total is None and self.stats.windows > 1:
            # Split up front (a range over 6 months): the total is what the windows held.
            self.stats.total = len(out)
        self.stats.seconds = time.perf_counter() - started
        return out

    async def _window(
        self,
        since: datetime | None,
        until: datetime | None,
        *,
        all_dates: bool,
        top: bool,
        depth: int,
    ) -> list[list[dict[str, Any]]]:
        if since is not None and until is not None and until - since > MAX_SPAN:
            n = math.ceil((until - since) / MAX_SPAN)
            return await self._split(since, until, n, all_dates=False, depth=depth)
        params = self._window_params(since, until, all_dates=all_dates)
        first = await self.get(
            [*params, ("limit", str(PAGE_LIMIT)), ("offset", "0"), ("total", "true")]
        )
        items: list[dict[str, Any]] = first["incidents"]
        total = first.get("total")
        if top:
            self.stats.total = total if isinstance(total, int) else None
            if isinstance(total, int):
                self.progress.start(total)
        if not isinstance(total, int):
            # No total (an API that ignores total=true): walk `more` sequentially.
            self.progress.update(len(items))
            return [items, *await self._walk_more(params, len(items), first)]
        if total > PAGING_CAP:
            if since is None or until is None:
                since, until = await self._bounds(params, since, until)
            n = max(2, math.ceil(total / SPLIT_TARGET))
            self.stats.splits += 1
            return await self._split(since, until, n, all_dates=False, depth=depth)
        self.progress.update(len(items))
        if not first.get("more") or not items:
            return [items]
        page = len(items)
        offsets = list(range(page, min(total, PAGING_CAP), page))

        async def one(offset: int) -> list[dict[str, Any]]:
            limit = min(page, PAGING_CAP - offset)
            data = await self.get([*params, ("limit", str(limit)), ("offset", str(offset))])
            got: list[dict[str, Any]] = data["incidents"]
            self.progress.update(len(got))
            return got

        try:
            pages = await asyncio.gather(*(one(o) for o in offsets))
        except _CapExceeded:
            if since is None or until is None:
                since, until = await self._bounds(params, since, until)
            self.stats.splits += 1
            return await self._split(since, until, 2, all_dates=False, depth=depth)
        chunks = [items, *pages]
        fetched = sum(len(c) for c in chunks)
        last = pages[-1] if pages else items
        if fetched >= total or not last:
            return chunks
        # Incidents were created while we paged (or pages came back short): follow `more`.
        extra = await self._walk_more(params, offsets[-1] + len(last) if offsets else page, None)
        return [*chunks, *extra]

    async def _walk_more(
        self, params: list[tuple[str, str]], offset: int, first: dict[str, Any] | None
    ) -> list[list[dict[str, Any]]]:
        chunks: list[list[dict[str, Any]]] = []
        more = True if first is None else bool(first.get("more"))
        while more and offset < PAGING_CAP:
            limit = min(PAGE_LIMIT, PAGING_CAP - offset)
            data = await self.get([*params, ("limit", str(limit)), ("offset", str(offset))])
            got = data["incidents"]
            if not got:
                break
            chunks.append(got)
            self.progress.update(len(got))
            offset += len(got)
            more = bool(data.get("more"))
        if more and offset >= PAGING_CAP:
            raise UpstreamError(
                "PagerDuty did not report a total and more than 10,000 incidents match",
                hint="pass since= and until= so the range can be split into windows",
            )
        return chunks

    async def _bounds(
        self, params: list[tuple[str, str]], since: datetime | None, until: datetime | None
    ) -> tuple[datetime, datetime]:
        """Earliest/latest ``created_at`` in the window, for splitting an open-ended range."""

        async def edge(order: str) -> dict[str, Any] | None:
            data = await self.get(
                [*params, ("sort_by", f"created_at:{order}"), ("limit", "1"), ("offset", "0")]
            )
            return data["incidents"][0] if data["incidents"] else None

        lo_item, hi_item = await asyncio.gather(edge("asc"), edge("desc"))
        lo = parse_time(lo_item.get("created_at")) if lo_item else None
        hi = parse_time(hi_item.get("created_at")) if hi_item else None
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
                "more than 10,000 incidents match and the time range could not be determined "
                "to split it",
                hint="pass since= and until= so the range can be split into windows",
            )
        return since or lo, until or (hi + timedelta(seconds=1))

    async def _split(
        self, since: datetime, until: datetime, n: int, *, all_dates: bool, depth: int
    ) -> list[list[dict[str, Any]]]:
        span = (until - since).total_seconds()
        if span <= 2 or depth > 40:
            raise UpstreamError(
                f"PagerDuty still refuses: more than {PAGING_CAP:,} incidents match between "
                f"{_fmt(since)} and {_fmt(until)} and the range cannot be split further",
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
            *(
                self._window(a, b, all_dates=all_dates, top=False, depth=depth + 1)
                for a, b in windows
            )
        )
        return [chunk for chunks in results for chunk in chunks]


async def explain_error(
    r: Response,
    *,
    adapter: str,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
) -> AtlasError:
    """The :class:`AtlasError` for a failed PagerDuty answer, with the fix in its hint."""
    err = r.error() or UpstreamError(f"unexpected status {r.status}")
    if isinstance(err, NoMatchingInstanceError):
        try:
            listed = await list_adapters(config=config, base_url=base_url, transport=transport)
            names = [a["name"] for a in listed if "name" in a]
        except AtlasError:
            names = []
        return with_suggestion(err, adapter, names)
    if isinstance(err, (MissingAccessTokenError, InvalidAccessTokenError)):
        return type(err)(
            err.message,
            hint="set ATLAS_ACCESS_TOKEN to the token the Atlas server printed at start",
        )
    if r.status == 401:
        variables, base = _adapter_details(adapter, config, base_url, transport)
        var_text = " or ".join(variables) if variables else "the variable in its headers"
        return HTTPStatusError(
            f"PagerDuty rejected the credentials of adapter '{adapter}' (401)",
            status=401,
            hint=f"check the token variable {var_text} and the region: "
            f"the adapter's baseUrl is {base or 'unknown'}; US accounts use "
            "https://api.pagerduty.com, EU accounts https://api.eu.pagerduty.com",
        )
    if r.status == 403:
        return HTTPStatusError(
            err.message,
            status=403,
            hint="the token is valid but not allowed to do this (read-only key or scope)",
        )
    if r.status == 400 and "From" in err.message:
        return HTTPStatusError(
            err.message,
            status=400,
            hint="set PAGERDUTY_FROM to the email of a PagerDuty user, or pass from_email=",
        )
    return err


def with_suggestion(
    err: NoMatchingInstanceError, adapter: str, names: list[str]
) -> NoMatchingInstanceError:
    """``err`` with "did you mean" first when a known adapter name is close to ``adapter``."""
    close = difflib.get_close_matches(adapter, names, n=1, cutoff=0.5)
    if not close:
        return err
    # The server's text carries its generic advice in parentheses; the suggestion replaces it.
    message = err.message.split(" (check the name", 1)[0]
    return NoMatchingInstanceError(
        message,
        hint=f"did you mean '{close[0]}'? Or add it with `mom atlas config add-http-adapter`",
    )


def _adapter_details(
    adapter: str, config: Any, base_url: str | None, transport: Any
) -> tuple[list[str], str | None]:
    if base_url or os.environ.get("ATLAS_URL") or transport is not None:
        cfg = config if hasattr(config, "adapters") else None
    else:
        try:
            from .._config import load_config
            from .._fetch import _config_path

            cfg = config if hasattr(config, "adapters") else load_config(_config_path(config))
        except AtlasError:
            cfg = None
    if cfg is None:
        return [], None
    try:
        found = cfg.get(adapter)
    except AtlasError:
        return [], None
    return list(found.secret_variables), found.base_url


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
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    max_retries: int = 4,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tuple[list[dict[str, Any]], FetchStats]:
    """Every incident matching ``query`` as raw dicts (API order, no duplicates), plus stats."""
    pager = _Pager(
        query,
        config=config,
        base_url=base_url,
        transport=transport,
        concurrency=concurrency,
        max_retries=max_retries,
        progress=progress and _interactive(),
        sleep=sleep,
    )
    records = await pager.collect()
    return records, pager.stats
