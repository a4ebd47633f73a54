"""Incremental sync of the incident store: fetch what changed, write it in one transaction.

**First sync** (an empty store): the history window (``since``, default 365 days, until now)
with the incidents pager of :func:`pagerduty.incidents` (concurrent offsets, windows split past
the 10,000 cap and the 6-month range), the account-wide overview log of the same window (the
first-ack times: MTTA needs no extra pass later) and the reference lists (services, teams,
users, escalation policies, priorities).

**Later syncs**: every change to an incident (trigger, acknowledge, resolve, reassign,
escalate, note, urgency change...) leaves a log entry, so

1. ``GET /log_entries`` (account-wide, every type) from ``watermark - overlap`` until now.
   The overlap (10 minutes) catches entries that reach the API late with an older
   timestamp; entries already stored are recognised by id, which de-duplicates the inclusive
   boundaries and the overlap alike.
2. The incidents named by the new entries are refetched, in the cheapest way the store can
   plan: it knows every stored incident's ``created_at``, so it knows how many incidents any
   ``since``/``until`` window holds. A dynamic program over the changed incidents (sorted by
   creation) chooses between one request per incident and re-listing windows
   (``ceil(stored in window / 100)`` pages each), minimising requests: 100 changes on recent
   incidents cost one or two pages, a few on old incidents one request each.
3. New incidents are those whose trigger entry is new; an incident created before the store's
   history window (no trigger in it) is left out, as a fresh fetch of the window would.
4. The watermark becomes the newest entry's timestamp (the API's clock, never ours).

Everything a sync fetched is written in **one transaction** after the fetching is done: a sync
killed at any point (SIGKILL, kernel restart, network gone) leaves the store as the last
complete sync wrote it, and the next sync starts again from that watermark. A first sync
(the whole year) stages its pages in a file beside the store while it fetches, DuckDB reading
the columns out of the JSON (:class:`_Stager`, ``_store_rows``); an empty store is then
replaced by that file in one atomic rename (a store already holding rows gets them copied in
with SQL, in its one transaction). The store's lock serialises syncs of the same file
(``_store_lock``).

Rate limits: every request goes through the adapter's shared pacer, which reads ``ratelimit-*``
headers on every answer and holds requests back before the budget runs out; 429s are still
retried as a safety net (see ``_pager`` and ``_pacer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import UpstreamError
from ._store_lock import sync_lock
from ._store_schema import (
    REFERENCE_TABLES,
    StoreAccountError,
    StoreError,
    read_state,
    write_state,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from ._store import Store

__all__ = ["DEFAULT_HISTORY", "OVERLAP", "SyncReport", "plan_refetch", "sync_store"]

#: The history window of a first sync when ``since`` is not given.
DEFAULT_HISTORY = timedelta(days=365)
#: Later syncs re-read the log this far before the watermark (late entries).
OVERLAP = timedelta(minutes=10)
#: Reference lists (services, users, ...) are re-read when older than this, or when an
#: incident names one the store does not know.
REFERENCE_MAX_AGE = timedelta(hours=24)
#: Above this many changed incidents the exact plan (quadratic) gives way to a greedy one.
EXACT_PLAN_LIMIT = 3_000
PAGE = 100
OVERVIEW_TYPES = frozenset(
    {
        "trigger_log_entry",
        "acknowledge_log_entry",
        "resolve_log_entry",
        "escalate_log_entry",
        "assign_log_entry",
        "annotate_log_entry",
        "unacknowledge_log_entry",
    }
)


@dataclass
class SyncReport:
    """What one sync did. ``str(report)`` reads "12 changed, 3 new, 4 requests, 0.6 s".

    Example::

        report = store.sync()
        report.new, report.changed, report.requests, report.seconds, report.watermark
    """

    new: int = 0
    changed: int = 0
    requests: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None
    first: bool = False
    log_entries: int = 0
    refetched: int = 0
    per_incident: int = 0
    windows: int = 0
    outside_window: int = 0
    rate_limited: int = 0
    retries: int = 0
    since: datetime | None = None
    store: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.changed:,} changed, {self.new:,} new, {self.requests:,} requests, "
            f"{self.seconds:.1f} s"
        )
        if self.rate_limited:
            text += f", {self.rate_limited:,} rate-limited"
        if self.watermark is not None:
            text += f" (watermark {_fmt(self.watermark)})"
        return text

    def __repr__(self) -> str:
        return f"<SyncReport {self}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # IPython (``%atlas sync``, a cell ending in ``store.sync()``) shows the sentence.
        p.text(str(self))

    def as_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO text) for logs and JSON."""
        out = asdict(self)
        out["summary"] = str(self)
        for key in ("watermark", "since"):
            value = out[key]
            out[key] = _fmt(value) if value is not None else None
        return out


def _fmt(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime | None:
    from ._query import parse_time

    if not value:
        return None
    try:
        return parse_time(str(value))
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# Fetching (through the pager of pagerduty.incidents: retries, 429 handling, cap splitting)
# ---------------------------------------------------------------------------------------------


class _Fetcher:
    """The requests a sync makes: all through :class:`_pager.Pager` on one session.

    Every list goes through the pager of :func:`pagerduty.incidents` (retries, 429s, the
    adapter's shared proactive rate pacer, cap splitting); the counters of all of them add up
    in one :class:`FetchStats`, and one semaphore bounds the requests in flight.
    """

    def __init__(self, store: Store, *, concurrency: int, progress: bool) -> None:
        from ._pager import FetchStats, interactive
        from ._session import PagerDutySession

        self.session = PagerDutySession.create(
            store.adapter, config=store.config, base_url=store.base_url, transport=store.transport
        )
        self.stats = FetchStats()
        self.concurrency = concurrency
        self.progress = progress and interactive()
        self._sem = asyncio.Semaphore(concurrency)

    #: Set by a first sync: every page of incidents and log entries also goes here as it
    #: arrives (``_Stager.put``), so converting and writing overlap the fetching.
    stager: _Stager | None = None

    def pager(self, *, progress: bool = False, tee: str | None = None) -> Any:
        from ._pager import Pager

        stager = self.stager if tee is not None else None

        class _TeePager(Pager):
            async def _get(self, rest: str, params: Any, *, key: str) -> dict[str, Any]:
                data = await super()._get(rest, params, key=key)
                if stager is not None and tee is not None:
                    stager.put(tee, data[key])
                return data

        pager = _TeePager(
            self.session,
            concurrency=self.concurrency,
            progress=progress and self.progress,
            stats=self.stats,
        )
        pager.sem = self._sem  # one bound on requests in flight for the whole sync
        return pager

    async def identity(self) -> str:
        """The account's web host (``acme.pagerduty.com``) from its first user's ``html_url``."""
        data = await self.pager().get("users", [("limit", "1")], key="users")
        for user in data["users"]:
            host = urlsplit(str(user.get("html_url") or "")).hostname
            if host:
                return host
        raise UpstreamError(
            "cannot tell which PagerDuty account this is: GET /users answered no html_url",
            hint="the store needs to know its account; is the adapter's baseUrl PagerDuty's API?",
        )

    async def reference(self, table: str) -> list[dict[str, Any]]:
        from ._pager import ListSpec

        items = await self.pager().collect(ListSpec(table, table), desc=table)
        return [x for x in items if isinstance(x, dict)]

    async def incident_window(
        self, since: datetime | None, until: datetime | None, *, top: bool = False
    ) -> list[dict[str, Any]]:
        """Incidents created in ``[since, until)``; both None: every incident (date_range=all)."""
        from ._pager import INCIDENTS

        spec = replace(INCIDENTS, params=(("time_zone", "UTC"),))
        pager = self.pager(progress=top, tee="incidents" if top else None)
        return list(
            await pager.collect(
                spec, since=since, until=until, all_dates=since is None, desc="incidents"
            )
        )

    async def log_window(
        self, since: datetime, until: datetime, *, overview: bool
    ) -> list[dict[str, Any]]:
        from ._pager import LOG_ENTRIES

        # Every type for change detection (an urgency change leaves no overview entry);
        # the overview types for the history's first-ack times.
        spec = LOG_ENTRIES if overview else replace(LOG_ENTRIES, params=(("time_zone", "UTC"),))
        return list(
            await self.pager(progress=overview, tee="entries" if overview else None).collect(
                spec, since=since, until=until, desc="log entries"
            )
        )


# ---------------------------------------------------------------------------------------------
# Planning: per incident or windows, whichever needs fewer requests
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Windows ``[since, until)`` to re-list, and single incidents (id, created second)."""

    windows: list[tuple[int, int]]
    singles: list[tuple[str, int]]
    requests: int


def plan_refetch(targets: Iterable[tuple[str, int]], known_times: Any) -> Plan:
    """The cheapest way to refetch ``targets`` (id, created_at in epoch seconds).

    ``known_times``: the sorted ``created_at`` seconds of every incident the window listings
    would return (the store's, plus the new ones). A window over targets ``i..j`` costs
    ``ceil(count / 100)`` pages; a single incident costs one request.

    Example::

        plan_refetch([("P1", 100), ("P2", 101)], numpy.array([99, 100, 101]))
        # Plan(windows=[(100, 102)], singles=[], requests=1)
    """
    import numpy as np

    items = sorted(set(targets), key=lambda x: (x[1], x[0]))
    n = len(items)
    if n == 0:
        return Plan([], [], 0)
    times = np.asarray([t for _, t in items], dtype=np.int64)
    known = np.sort(np.asarray(known_times, dtype=np.int64))
    lo_pos = np.searchsorted(known, times, side="left")
    hi_pos = np.searchsorted(known, times + 1, side="left")
    if n > EXACT_PLAN_LIMIT:
        return _greedy(items, lo_pos, hi_pos)
    best = np.zeros(n + 1, dtype=np.int64)
    start = np.zeros(n + 1, dtype=np.int64)  # start index of the last group, -1 = single
    for j in range(n):
        counts = hi_pos[j] - lo_pos[: j + 1]
        pages = np.maximum(1, -(-counts // PAGE))
        cand = best[: j + 1] + pages
        i = int(np.argmin(cand))
        if cand[i] < best[j] + 1 or (cand[i] == best[j] + 1 and i < j):
            best[j + 1], start[j + 1] = cand[i], i
        else:
            best[j + 1], start[j + 1] = best[j] + 1, -1
    windows: list[tuple[int, int]] = []
    singles: list[tuple[str, int]] = []
    j = n
    while j > 0:
        i = int(start[j])
        if i < 0 or (
            i == j - 1 and best[j] - best[j - 1] == 1 and hi_pos[j - 1] - lo_pos[j - 1] <= 1
        ):
            singles.append(items[j - 1])
            j -= 1
        else:
            windows.append((int(times[i]), int(times[j - 1]) + 1))
            j = i
    windows.reverse()
    singles.reverse()
    return Plan(windows, singles, int(best[n]))


def _greedy(items: list[tuple[str, int]], lo_pos: Any, hi_pos: Any) -> Plan:
    """Many changes: one window per run of targets whose gaps hold fewer than a page."""
    windows: list[tuple[int, int]] = []
    singles: list[tuple[str, int]] = []
    run = [0]
    cost = 0

    def close(run: list[int]) -> int:
        a, b = run[0], run[-1]
        count = int(hi_pos[b] - lo_pos[a])
        pages = max(1, math.ceil(count / PAGE))
        if pages < len(run):
            windows.append((items[a][1], items[b][1] + 1))
            return pages
        singles.extend(items[k] for k in run)
        return len(run)

    for k in range(1, len(items)):
        if int(lo_pos[k] - hi_pos[k - 1]) >= PAGE:
            cost += close(run)
            run = []
        run.append(k)
    cost += close(run)
    return Plan(windows, singles, cost)


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    import orjson

    return orjson.dumps(obj).decode()


def incident_rows(records: list[dict[str, Any]], synced_at: datetime) -> pd.DataFrame:
    """The ``incidents`` table rows of raw dicts: the frame's columns plus raw JSON."""
    import pandas as pd

    from ._frame import incidents_frame

    df = incidents_frame(records)
    df.attrs.clear()
    df["team_ids"] = pd.Series(
        [
            [t.get("id") for t in (r.get("teams") or []) if isinstance(t, dict) and t.get("id")]
            for r in records
        ],
        dtype=object,
    )
    df["updated_at"] = pd.to_datetime(
        pd.Series([r.get("updated_at") for r in records], dtype=object),
        utc=True,
        format="ISO8601",
        errors="coerce",
    )
    df["raw"] = [_dumps(r) for r in records]
    df["synced_at"] = pd.Timestamp(synced_at)
    return df


def log_rows(entries: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    def ref(e: dict[str, Any], key: str, sub: str) -> Any:
        v = e.get(key)
        return v.get(sub) if isinstance(v, dict) else None

    return pd.DataFrame(
        {
            "id": [e.get("id") for e in entries],
            "type": [e.get("type") for e in entries],
            "created_at": pd.to_datetime(
                pd.Series([e.get("created_at") for e in entries], dtype=object),
                utc=True,
                format="ISO8601",
                errors="coerce",
            ),
            "incident_id": [ref(e, "incident", "id") for e in entries],
            "agent_id": [ref(e, "agent", "id") for e in entries],
            "agent_type": [ref(e, "agent", "type") for e in entries],
            "channel_type": [ref(e, "channel", "type") for e in entries],
            "summary": [e.get("summary") for e in entries],
        }
    )


# ---------------------------------------------------------------------------------------------
# The sync
# ---------------------------------------------------------------------------------------------


async def sync_store(
    store: Store,
    *,
    since: Any = None,
    progress: bool = True,
    ack_times: bool = True,
    lock_timeout: float = 600.0,
    concurrency: int | None = None,
    max_age: Any = None,
) -> SyncReport:
    """Bring ``store`` up to date (see the module notes); the report of what it did.

    ``since="all"``: a first sync fetches the account's whole history. ``max_age`` (seconds,
    a timedelta or text like ``"1h"``): when the last sync is younger, send nothing and say so.
    """
    from ._pager import DEFAULT_CONCURRENCY, interactive
    from ._query import parse_time

    started = time.perf_counter()
    whole = isinstance(since, str) and since.strip().lower() == "all"
    asked_since = None if whole or since is None else parse_time(since)
    if max_age is not None:
        fresh = await asyncio.to_thread(_recent_report, store, max_age, asked_since)
        if fresh is not None:
            return fresh

    def waiting(message: str) -> None:
        if progress or not interactive():
            print(message, file=sys.stderr, flush=True)

    lock = sync_lock(store.path, timeout=lock_timeout, waiting=waiting)
    await asyncio.to_thread(lock.__enter__)
    try:
        fetcher = _Fetcher(store, concurrency=concurrency or DEFAULT_CONCURRENCY, progress=progress)
        state = await asyncio.to_thread(lambda: store.state)
        report = SyncReport(store=str(store.path))
        # Which account the key answers for. A store that has one is checked before any
        # other request; a new store's first sync asks alongside its listing (one round
        # trip less) and checks before it writes.
        identity = asyncio.ensure_future(fetcher.identity())
        identity.add_done_callback(lambda t: t.cancelled() or t.exception())  # (retrieved)
        if state.get("account"):
            _same_account(store, state, await identity)
        stager: _Stager | None = None
        try:
            if state.get("watermark"):
                work = await _incremental(store, fetcher, state, asked_since, ack_times, report)
            else:
                # A first sync writes while it fetches: the pages go into its transaction
                # as they arrive, so little is left to do after the last request (at a rate
                # limit, the writing happens while the pacer waits).
                stager = fetcher.stager = _Stager(store)
                work = await _first(store, fetcher, asked_since, ack_times, report, whole=whole)
            account = await identity
            _same_account(store, state, account)
            work.state["account"] = account
            work.state["adapter"] = store.adapter
            report.requests = fetcher.stats.requests
            report.rate_limited = fetcher.stats.rate_limited
            report.retries = fetcher.stats.retries
            if stager is not None:
                await stager.finish(work, report, started)
            else:
                await asyncio.to_thread(_write, store, work, report, started)
        finally:
            identity.cancel()  # (when the sync failed before asking for it)
            if stager is not None:
                await asyncio.to_thread(stager.close)  # rolls back unless finished
    finally:
        lock.__exit__(None, None, None)
    return report


def _same_account(store: Store, state: dict[str, str], account: str) -> None:
    """Refuse a key that answers for another account than the store's."""
    if state.get("account") and state["account"] != account:
        raise StoreAccountError(
            f"the store {store.path} belongs to the PagerDuty account {state['account']}, "
            f"but adapter '{store.adapter}' now answers for {account}",
            hint="a store holds one account: use another path= (or ATLAS_STORE) for this "
            "key, or point the adapter back at the store's account",
        )


class _Stager:
    """A first sync's rows, converted and staged page by page while the fetching goes on.

    One thread converts each batch of pages (:func:`incident_rows`, :func:`log_rows`) and
    inserts it into a staging DuckDB file beside the store (``<store>.stage``), which has the
    store's own schema, so the work that followed the last request now fills the waits for
    answers and for the rate limit. The store itself is not touched until :meth:`finish`:

    - **an empty store** (a first sync normally meets one): the staging file *becomes* the
      store. Its rows are settled in place (a window split again may have staged a page
      twice; log entries newer than the sync's start are left for the next sync), the rest
      of the sync is written into it by :func:`_write_in` in one transaction and
      checkpointed, and it is renamed over the store file (one atomic ``rename``). Nothing is
      copied and the year is compressed once: that was most of a first sync's time after its
      last request (attach, copy, and a second compression at commit: ~2 s of a 50,000
      incident year).
    - **a store holding anything** (on-call data, say): the store is opened for writing, the
      staging file attached, and the staged rows copied with SQL inside the sync's one
      transaction (:func:`_copy_staged`).

    Killed at any point, the store keeps its last complete state: before the rename it is
    the old file, after it the new one. The staging file is removed when the sync ends, or
    replaced by the next one.
    """

    BATCH = 2_000

    def __init__(self, store: Store) -> None:
        import queue
        import threading

        self.store = store
        self.path = store.path.with_name(store.path.name + ".stage")
        self._remove()  # a killed sync's leftovers
        self.synced_at = datetime.now(timezone.utc)
        self.in_place = False  # set by _write once it settles the staged rows in place
        self.old_state: dict[str, str] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="atlas-store-stager", daemon=True)
        self._thread.start()

    def _remove(self) -> None:
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            p.unlink(missing_ok=True)

    def put(self, kind: str, items: list[dict[str, Any]]) -> None:
        """A page of ``incidents`` or ``entries`` (called on the event loop; never blocks)."""
        if items:
            self._queue.put((kind, items))

    async def finish(self, work: _Work, report: SyncReport, started: float) -> None:
        """Stage what is left, then write the sync (in the stager's thread)."""
        import concurrent.futures

        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put(("finish", (work, report, started, done)))
        await asyncio.wrap_future(done)

    def close(self) -> None:
        """End the thread (without writing the store unless :meth:`finish` did)."""
        self._queue.put(("close", None))
        self._thread.join()
        with contextlib.suppress(OSError):
            self._remove()

    def _run(self) -> None:
        import duckdb

        pending: dict[str, list[dict[str, Any]]] = {"incidents": [], "entries": []}
        con: Any = None
        failed: BaseException | None = None
        while True:
            kind, items = self._queue.get()
            if kind == "close":
                break
            if kind == "finish":
                done = items[3]
                try:
                    if failed is not None:
                        raise failed
                    if con is None:
                        con = self._open(duckdb)
                    for k in pending:
                        self._flush(con, k, pending)
                    con, staged = None, con
                    self._write(staged, *items[:3])
                except BaseException as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
                continue
            if failed is not None:
                continue  # already failed: finish() reports it
            try:
                if con is None:
                    con = self._open(duckdb)
                pending[kind].extend(items)
                if len(pending[kind]) >= self.BATCH:
                    self._flush(con, kind, pending)
            except BaseException as exc:
                failed = exc
        if con is not None:
            with contextlib.suppress(Exception):
                con.close()

    def _open(self, duckdb: Any) -> Any:
        from ._store_schema import create_schema

        con = duckdb.connect(str(self.path))
        con.execute("set TimeZone = 'UTC'")
        con.execute(_ANALYZE_ALL)
        con.execute("begin transaction")
        create_schema(con)
        con.execute("commit")
        # No checkpoint while staging: the year is one DuckDB row group (122,880 rows), and
        # each checkpoint (DuckDB's default past 16 MB of log) would compress all of it again.
        # It is compressed once, at the end (in place), or read back from the log by the
        # store's ATTACH (copied).
        con.execute("set checkpoint_threshold = '1TB'")
        con.execute("pragma disable_checkpoint_on_shutdown")
        # One DuckDB thread while the requests go on: the other core is the event loop's.
        con.execute("set threads = 1")
        return con

    def _flush(self, con: Any, kind: str, pending: dict[str, list[dict[str, Any]]]) -> None:
        items, pending[kind] = pending[kind], []
        if not items:
            return
        if kind == "incidents":
            from ._store_rows import insert_incident_json

            # DuckDB reads the documented shape out of the JSON (outside the interpreter
            # lock the event loop needs); anything else is built the frame's way below.
            if insert_incident_json(con, [_dumps(r) for r in items], self.synced_at):
                return
        rows = incident_rows(items, self.synced_at) if kind == "incidents" else log_rows(items)
        con.register("staged_batch", rows)
        if kind == "incidents":
            con.execute(_STAGE_INCIDENTS)
        else:
            con.execute(
                "insert into log_entries (id, type, created_at, incident_id, agent_id, "
                "agent_type, channel_type, summary) select id, type, created_at, "
                "incident_id, agent_id, agent_type, channel_type, summary from staged_batch"
            )
        con.unregister("staged_batch")

    def _write(self, staged: Any, work: _Work, report: SyncReport, started: float) -> None:
        """Write the sync: the staging file renamed over an empty store, else copied in."""
        try:
            with self.store.writing() as con:
                empty = _holds_nothing(con)
                if empty:
                    self.old_state = read_state(con)
                    # Leaves no write-ahead log beside the file the rename replaces (a log
                    # left there would be replayed into the new file).
                    con.execute("checkpoint")
            if empty and not _has_log(self.store.path):
                self.in_place = True
                staged.execute("reset threads")  # the fetching is over: compress on all cores
                staged.execute("begin transaction")
                _write_in(staged, self.store, work, report, started, self.synced_at, self)
                staged.close()
                self._swap()
                return
        finally:
            with contextlib.suppress(Exception):
                staged.close()  # (closing twice is harmless)
        with self.store.writing() as con:
            quoted = str(self.path).replace("'", "''")
            con.execute(f"attach '{quoted}' as stage (read_only)")
            try:
                con.execute("begin transaction")
                _write_in(con, self.store, work, report, started, self.synced_at, self)
            finally:
                with contextlib.suppress(Exception):
                    con.execute("detach stage")

    def _swap(self) -> None:
        """The finished staging file becomes the store: durable first, then one rename."""
        if _has_log(self.path):
            raise StoreError(
                f"the staged store {self.path} still has a write-ahead log after its checkpoint",
                hint="the store was left as it was; run the sync again",
            )
        target = self.store.path
        with contextlib.suppress(OSError):
            os.chmod(self.path, stat.S_IMODE(target.stat().st_mode))  # keep the store's mode
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, target)
        with contextlib.suppress(OSError):
            target.with_name(target.name + ".wal").unlink(missing_ok=True)  # (empty, if any)
        with contextlib.suppress(OSError):
            dfd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _has_log(path: Path) -> bool:
    """A non-empty DuckDB write-ahead log beside ``path``."""
    wal = path.with_name(path.name + ".wal")
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


def _holds_nothing(con: Any) -> bool:
    """No row in any table but ``sync_state``, and no table the new file would not have."""
    from ._store_schema import TABLES

    names = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where not temporary "
            "and database_name = current_database()"
        ).fetchall()
    ]
    if set(names) - set(TABLES):
        return False
    for name in names:
        if name == "sync_state":
            continue
        row = con.execute(f'select exists (select 1 from "{name}")').fetchone()
        if row and row[0]:
            return False
    return True


#: DuckDB infers the type of a pandas object column (lists of names) from its first 1,000
#: rows; a batch whose first rows have no team then holds a name later fails to insert.
_ANALYZE_ALL = "set pandas_analyze_sample = 10000000"

_STAGE_INCIDENTS = """
insert into incidents (id, incident_number, title, status, urgency, priority, service_id,
                       service, teams, team_ids, assignees, escalation_policy, created_at,
                       acknowledged_at, resolved_at, alert_count, html_url, updated_at,
                       synced_at, first_ack_at, raw)
select id, incident_number, title, cast(status as varchar), cast(urgency as varchar), priority,
       service_id, service, cast(teams as varchar[]), cast(team_ids as varchar[]),
       cast(assignees as varchar[]), escalation_policy, created_at, acknowledged_at,
       resolved_at, alert_count, html_url, updated_at, synced_at, null, raw
from staged_batch
"""


@dataclass
class _Work:
    incidents: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    references: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    state: dict[str, str | None] = field(default_factory=dict)
    history_since: datetime | None = None


def _recent_report(store: Store, max_age: Any, asked_since: datetime | None) -> SyncReport | None:
    """A report of no work when the last sync is younger than ``max_age`` (else None)."""
    from ._query import parse_time

    if isinstance(max_age, timedelta):
        age = max_age
    elif isinstance(max_age, (int, float)):
        age = timedelta(seconds=float(max_age))
    else:
        now = datetime.now(timezone.utc)
        start = parse_time(str(max_age), now=now)
        if start is None:
            return None
        age = now - start
    state = store.state
    last = _parse(state.get("last_sync_at"))
    history = _parse(state.get("history_since"))
    if last is None or datetime.now(timezone.utc) - last >= age:
        return None
    if asked_since is not None and history is not None and asked_since < history:
        return None  # more history asked for than the store holds: that needs a sync
    return SyncReport(
        watermark=_parse(state.get("watermark")),
        since=history,
        store=str(store.path),
        notes=[f"skipped: the last sync was at {state['last_sync_at']} (max_age {max_age})"],
    )


def _watermark(entries: list[dict[str, Any]], records: list[dict[str, Any]]) -> datetime | None:
    """The newest API timestamp seen: log entries first, else incidents' own times."""
    newest = _newest(e.get("created_at") for e in entries)
    if newest is None:
        newest = _newest(
            r.get(key)
            for r in records
            for key in ("last_status_change_at", "updated_at", "created_at")
        )
    return newest


#: The API's usual timestamp form: UTC, whole seconds. Text in exactly this form sorts as
#: the times it names, so only the greatest needs parsing.
_UTC_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _newest(values: Iterable[Any]) -> datetime | None:
    """The greatest time :func:`_parse` reads from ``values`` (None when none reads).

    Parsing every value was most of a first sync's work after its last request (150,000
    timestamps in a year without the log, ~1 s): values in the API's usual form are
    compared as text and only the greatest is parsed; any other value is parsed as before.
    """
    values = list(values)
    best_text: str | None = None
    times: list[datetime] = []
    fullmatch = _UTC_SECONDS.fullmatch
    for value in values:
        if type(value) is str and len(value) == 20 and fullmatch(value):
            if best_text is None or value > best_text:
                best_text = value
        elif value:
            t = _parse(value)
            if t is not None:
                times.append(t)
    if best_text is not None:
        t = _parse(best_text)
        if t is None:  # not a real date (month 13...): parse every value, as before
            times = [t for t in map(_parse, values) if t is not None]
        else:
            times.append(t)
    return max(times) if times else None


async def _references(fetcher: _Fetcher) -> dict[str, list[dict[str, Any]]]:
    tables = list(REFERENCE_TABLES)
    lists = await asyncio.gather(*(fetcher.reference(t) for t in tables))
    return dict(zip(tables, lists, strict=True))


async def _first(
    store: Store,
    fetcher: _Fetcher,
    since: datetime | None,
    ack_times: bool,
    report: SyncReport,
    *,
    whole: bool = False,
) -> _Work:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    until = now + timedelta(seconds=1)
    t0 = time.monotonic()
    entries: list[dict[str, Any]] = []
    if whole:
        # The whole history: every incident (date_range=all), then the log from the first.
        records, references = await asyncio.gather(
            fetcher.incident_window(None, None, top=True), _references(fetcher)
        )
        created = [t for t in (_parse(r.get("created_at")) for r in records) if t is not None]
        since = min(created).replace(microsecond=0) if created else now
        if ack_times:
            entries = await fetcher.log_window(since, until, overview=True)
    else:
        since = (since or now - DEFAULT_HISTORY).replace(microsecond=0)
        jobs: list[Any] = [fetcher.incident_window(since, until, top=True), _references(fetcher)]
        if ack_times:
            jobs.append(fetcher.log_window(since, until, overview=True))
        results = await asyncio.gather(*jobs)
        records, references = results[0], results[1]
        if ack_times:
            entries = results[2]
    mark = _watermark(entries, records) or since
    # The listing and the log ran side by side: a change made while they ran may be in the
    # log but not in the listed incident. Entries from before the sync started are safe; the
    # rest (the last OVERLAP, or the sync's own duration if longer) are left for the next
    # sync, which reads them as new and refetches their incidents.
    cut = mark - max(OVERLAP, timedelta(seconds=time.monotonic() - t0 + 60))
    settled = [e for e in entries if (_parse(e.get("created_at")) or mark) < cut]
    work = _Work(incidents=records, entries=settled, references=references, history_since=since)
    report.first = True
    report.new = len(records)
    report.refetched = len(records)
    report.log_entries = len(entries)
    report.watermark = mark
    report.since = since
    work.state.update(
        {
            "history_since": _fmt(since),
            "watermark": _fmt(mark),
            "log_from": _fmt(max(since, cut)),
            "references_at": _fmt(now),
            "ack_times": "true" if ack_times else "false",
        }
    )
    return work


def _store_lookups(
    store: Store, incident_ids: list[str], entry_ids: list[str]
) -> tuple[dict[str, int], set[str], dict[str, int], Any]:
    """From the store: created_at of these incidents, which entries it has, orphan triggers,
    and every stored incident's created_at (sorted seconds) for planning."""
    with store._reading() as con:
        created = dict(
            con.execute(
                "select id, epoch(created_at)::bigint from incidents "
                "where id in (select unnest(?))",
                [incident_ids],
            ).fetchall()
        )
        seen = {
            r[0]
            for r in con.execute(
                "select id from log_entries where id in (select unnest(?))", [entry_ids]
            ).fetchall()
        }
        orphans = dict(
            con.execute(
                "select incident_id, min(epoch(created_at))::bigint from log_entries "
                "where type = 'trigger_log_entry' and incident_id not in "
                "(select id from incidents) group by 1"
            ).fetchall()
        )
        times = con.execute(
            "select epoch(created_at)::bigint from incidents order by 1"
        ).fetchnumpy()
    key = next(iter(times), None)
    return created, seen, orphans, times[key] if key is not None else []


async def _incremental(
    store: Store,
    fetcher: _Fetcher,
    state: dict[str, str],
    asked_since: datetime | None,
    ack_times: bool,
    report: SyncReport,
) -> _Work:
    import numpy as np

    mark = _parse(state["watermark"])
    history = _parse(state.get("history_since"))
    assert mark is not None and history is not None
    now = datetime.now(timezone.utc).replace(microsecond=0)
    lo = mark - OVERLAP
    resume = _parse(state.get("log_from"))
    if resume is not None:
        lo = min(lo, resume)  # what the first sync left unconfirmed
    until = max(now, mark) + timedelta(seconds=60)
    work = _Work(history_since=history)
    work.state["log_from"] = None

    extend: Any = None
    if asked_since is not None and asked_since < history:
        # The caller asks for more history than the store holds: fetch the missing stretch
        # like a first sync would (its log too, for ack times), then move the start back.
        extend = asyncio.gather(
            fetcher.incident_window(asked_since, history + timedelta(seconds=1)),
            fetcher.log_window(asked_since, history + timedelta(seconds=1), overview=True)
            if ack_times
            else asyncio.sleep(0, result=[]),
        )
    refs_at = _parse(state.get("references_at"))
    refresh_refs = refs_at is None or now - refs_at > REFERENCE_MAX_AGE
    refs_job = _references(fetcher) if refresh_refs else None

    entries = await fetcher.log_window(lo, until, overview=False)
    entry_ids = [str(e.get("id")) for e in entries if e.get("id")]
    incident_of = {
        str(e["id"]): str(e["incident"]["id"])
        for e in entries
        if e.get("id") and isinstance(e.get("incident"), dict) and e["incident"].get("id")
    }
    touched = sorted(set(incident_of.values()))
    created, seen, orphans, known_times = await asyncio.to_thread(
        _store_lookups, store, touched, entry_ids
    )
    fresh = [e for e in entries if e.get("id") and str(e["id"]) not in seen]
    fresh_ids = {str(e["id"]) for e in fresh}
    changed = {incident_of[i] for i in fresh_ids if i in incident_of}
    triggers: dict[str, int] = dict(orphans)
    for e in fresh:
        if e.get("type") == "trigger_log_entry" and incident_of.get(str(e["id"])):
            t = _parse(e.get("created_at"))
            if t is not None:
                iid = incident_of[str(e["id"])]
                triggers[iid] = min(triggers.get(iid, int(t.timestamp())), int(t.timestamp()))
    history_s = int(history.timestamp())
    targets: list[tuple[str, int]] = []
    for iid in changed | set(orphans):
        if iid in created:
            targets.append((iid, int(created[iid])))
        elif iid in triggers and triggers[iid] >= history_s:
            targets.append((iid, triggers[iid]))
        else:
            report.outside_window += 1
    new_times = [t for iid, t in targets if iid not in created]
    all_times = np.sort(
        np.concatenate(
            [np.asarray(known_times, dtype=np.int64), np.asarray(new_times, dtype=np.int64)]
        )
    )
    plan = plan_refetch(targets, all_times)

    def at(s: int) -> datetime:
        return datetime.fromtimestamp(s, timezone.utc)

    jobs = [fetcher.incident_window(at(a), at(b)) for a, b in plan.windows]
    # A single incident: the one-second window of its creation (created_at never changes),
    # so it goes through the same pager, retries and rate limiting as every other request.
    jobs += [fetcher.incident_window(at(t), at(t + 1)) for _, t in plan.singles]
    lists = await asyncio.gather(*jobs)
    wanted_single = {iid for iid, _ in plan.singles}
    records: dict[str, dict[str, Any]] = {}
    for k, items in enumerate(lists):
        single = k >= len(plan.windows)
        for item in items:
            iid = str(item.get("id"))
            if single and iid not in wanted_single and iid not in created:
                continue  # a neighbour of the same second, not asked for
            records.setdefault(iid, item)
    if extend is not None:
        older, older_entries = await extend
        for item in older:
            records.setdefault(str(item.get("id")), item)
        fresh += [e for e in older_entries if str(e.get("id")) not in fresh_ids]
        work.history_since = asked_since
        work.state["history_since"] = _fmt(asked_since)  # type: ignore[arg-type]
    if refs_job is not None:
        work.references = await refs_job
        work.state["references_at"] = _fmt(now)
    keep_from = work.history_since or history
    work.incidents = [
        r for r in records.values() if (_parse(r.get("created_at")) or keep_from) >= keep_from
    ]
    work.entries = fresh
    newest = _watermark(entries, [])
    mark = max(mark, newest) if newest is not None else mark
    work.state["watermark"] = _fmt(mark)
    report.watermark = mark
    report.since = work.history_since
    report.log_entries = len(fresh)
    report.refetched = len(work.incidents)
    report.per_incident = len(plan.singles)
    report.windows = len(plan.windows)
    return work


def _write(store: Store, work: _Work, report: SyncReport, started: float) -> None:
    """Everything the sync fetched, in one transaction; then a checkpoint."""

    synced_at = datetime.now(timezone.utc)
    with store.writing() as con:
        con.execute("begin transaction")
        _write_in(con, store, work, report, started, synced_at, None)


def _write_in(
    con: Any,
    store: Store,
    work: _Work,
    report: SyncReport,
    started: float,
    synced_at: datetime,
    staged: _Stager | None,
) -> None:
    """The body of :func:`_write` in the open transaction of ``con``: commit, checkpoint.

    ``staged``: a first sync's rows are already in its temporary tables (see
    :class:`_Stager`); they are copied with SQL, keeping the fetched incidents (the first
    copy of each) and the settled log entries.
    """
    from ._store import _no_gc

    con.execute(_ANALYZE_ALL)
    # The cyclic GC paused: the rows below allocate millions of objects next to the fetched
    # dicts (a year: ~250,000 of them), and each collection walked them all (half the write).
    with _no_gc():
        try:
            if staged is not None and staged.in_place:
                _settle_staged(con, work, report)
            elif staged is not None:
                _copy_staged(con, work, report)
            elif work.incidents:
                before = dict(
                    con.execute(
                        "select id, raw from incidents where id in (select unnest(?))",
                        [[str(r.get("id")) for r in work.incidents]],
                    ).fetchall()
                )
                rows = incident_rows(work.incidents, synced_at)
                report.new = int((~rows["id"].isin(list(before))).sum())
                report.changed = int(
                    sum(
                        1
                        for i, raw in zip(rows["id"], rows["raw"], strict=True)
                        if i in before and before[i] != raw
                    )
                )
                con.register("staged_incidents", rows)
                con.execute("delete from incidents where id in (select id from staged_incidents)")
                con.execute(_INSERT_INCIDENTS)
                con.unregister("staged_incidents")
            if work.entries and staged is None:
                entries = log_rows(work.entries).drop_duplicates("id")
                con.register("staged_entries", entries)
                con.execute(
                    "insert into log_entries (id, type, created_at, incident_id, agent_id, "
                    "agent_type, channel_type, summary) "
                    "select id, type, created_at, incident_id, agent_id, "
                    "agent_type, channel_type, summary from staged_entries "
                    "where id not in (select id from log_entries)"
                )
                con.unregister("staged_entries")
            if staged is not None and staged.in_place:
                con.execute(_FIRST_ACKS_ALL)  # a new store: every incident was written now
            else:
                touched = {str(r.get("id")) for r in work.incidents}
                touched |= {
                    str(e["incident"]["id"])
                    for e in work.entries
                    if e.get("type") == "acknowledge_log_entry"
                    and isinstance(e.get("incident"), dict)
                    and e["incident"].get("id")
                }
                if touched:
                    con.execute(_FIRST_ACKS, [sorted(touched)])
            for table, items in work.references.items():
                _write_reference(con, table, items)
            report.seconds = time.perf_counter() - started
            values: dict[str, str | None] = {}
            if staged is not None and staged.in_place:
                values.update(staged.old_state)  # the file replacing the store keeps its state
            values.update(work.state)
            values["last_sync_at"] = _fmt(synced_at)
            values["last_report"] = _dumps(report.as_dict())
            if store.base_url is None:
                base = _adapter_base(store)
                if base:
                    values["base_url"] = base
            write_state(con, values)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        if report.first:
            con.execute("checkpoint")  # compact the initial load once
        else:
            # A small change stays in the write-ahead log (read-only opens replay it; DuckDB
            # checkpoints by itself once the log passes its threshold): closing would
            # otherwise rewrite whole row groups, most of a refresh's time.
            con.execute("pragma disable_checkpoint_on_shutdown")
    report.seconds = time.perf_counter() - started


def _copy_staged(con: Any, work: _Work, report: SyncReport) -> None:
    """A first sync's staged rows (the attached ``stage``) into the store, with SQL.

    Incidents: those the listing returned (``work.incidents``), each once, the first copy
    staged (pages of a window split again may have staged one twice). Log entries: the
    settled ones (``work.entries``), each once, those not stored yet. In the caller's
    transaction.
    """
    from ._store_schema import _INCIDENTS, _LOG_ENTRIES

    def columns(ddl: str) -> str:
        body = ddl.split("(", 1)[1].rsplit(")", 1)[0]
        return ", ".join(line.split()[0] for line in body.split(",\n") if line.strip())

    inc_cols, log_cols = columns(_INCIDENTS), columns(_LOG_ENTRIES)
    ids = [str(r.get("id")) for r in work.incidents]
    con.execute("create temp table stage_keep as select unnest(?::varchar[]) as id", [ids])
    staged = (
        f"select {inc_cols} from stage.incidents s semi join stage_keep k on s.id = k.id "
        "qualify row_number() over (partition by s.id order by s.rowid) = 1"
    )
    row = con.execute("select exists (select 1 from incidents)").fetchone()
    if row and row[0]:
        # Not an empty store (a first sync normally is): count and replace what it holds.
        con.execute(f"create temp table stage_rows as {staged}")
        row = con.execute(
            "select count(*) filter (where i.id is null), "
            "count(*) filter (where i.id is not null and i.raw is distinct from s.raw) "
            "from stage_rows s left join incidents i on i.id = s.id"
        ).fetchone()
        report.new, report.changed = (int(row[0]), int(row[1])) if row else (0, 0)
        con.execute("delete from incidents where id in (select id from stage_rows)")
        con.execute(f"insert into incidents ({inc_cols}) select {inc_cols} from stage_rows")
        con.execute("drop table stage_rows")
    else:
        # One copy, straight from the staging file (no intermediate table).
        row = con.execute(f"insert into incidents ({inc_cols}) {staged}").fetchone()
        report.new, report.changed = (int(row[0]) if row else 0), 0
    entry_ids = [str(e.get("id")) for e in work.entries]
    con.execute(
        "create temp table stage_keep_entries as select unnest(?::varchar[]) as id", [entry_ids]
    )
    con.execute(
        f"insert into log_entries ({log_cols}) select {log_cols} from ("
        "select s.* from stage.log_entries s semi join stage_keep_entries k on s.id = k.id "
        "where s.id not in (select id from log_entries) "
        "qualify row_number() over (partition by s.id order by s.rowid) = 1)"
    )
    for table in ("stage_keep", "stage_keep_entries"):
        con.execute(f"drop table {table}")


def _settle_staged(con: Any, work: _Work, report: SyncReport) -> None:
    """A first sync's staged rows, settled in the staging file that becomes the store.

    The same rows :func:`_copy_staged` would copy, kept where they are: the incidents the
    listing returned (the first staged copy of each) and the settled log entries (the first
    copy of each); the rest is deleted. In the caller's transaction.
    """
    for table, ids in (
        ("incidents", [str(r.get("id")) for r in work.incidents]),
        ("log_entries", [str(e.get("id")) for e in work.entries]),
    ):
        con.execute("create temp table stage_keep as select unnest(?::varchar[]) as id", [ids])
        con.execute(
            f"delete from {table} where rowid in ("
            f"select t.rowid from {table} t anti join stage_keep k on t.id = k.id "
            f"union all select rowid from {table} "
            "qualify row_number() over (partition by id order by rowid) > 1)"
        )
        con.execute("drop table stage_keep")
    row = con.execute("select count(*) from incidents").fetchone()
    report.new, report.changed = (int(row[0]) if row else 0), 0


_INSERT_INCIDENTS = """
insert into incidents (id, incident_number, title, status, urgency, priority, service_id, service,
                       teams, team_ids, assignees, escalation_policy, created_at, acknowledged_at,
                       resolved_at, alert_count, html_url, updated_at, synced_at, first_ack_at, raw)
select id, incident_number, title, cast(status as varchar), cast(urgency as varchar), priority,
       service_id, service, cast(teams as varchar[]), cast(team_ids as varchar[]),
       cast(assignees as varchar[]), escalation_policy, created_at, acknowledged_at,
       resolved_at, alert_count, html_url, updated_at, synced_at, null, raw
from staged_incidents
"""

# First-ack times of the incidents this sync wrote or gave new acknowledge entries, from every
# acknowledge entry the store holds (reads then need no join over the log).
_FIRST_ACKS = """
update incidents set first_ack_at = a.at
from (
    select incident_id, min(created_at) as at from log_entries
    where type = 'acknowledge_log_entry' and incident_id in (select unnest(?))
    group by incident_id
) a
where incidents.id = a.incident_id
"""


_FIRST_ACKS_ALL = """
update incidents set first_ack_at = a.at
from (
    select incident_id, min(created_at) as at from log_entries
    where type = 'acknowledge_log_entry' group by incident_id
) a
where incidents.id = a.incident_id
"""


def _write_reference(con: Any, table: str, items: list[dict[str, Any]]) -> None:
    import pandas as pd

    extra = REFERENCE_TABLES[table]
    data: dict[str, list[Any]] = {
        "id": [x.get("id") for x in items],
        "name": [x.get("name") or x.get("summary") for x in items],
    }
    for col in extra:
        data[col] = [x.get(col) for x in items]
    data["raw"] = [_dumps(x) for x in items]
    con.execute(f"delete from {table}")
    if items:
        con.register("staged_reference", pd.DataFrame(data))
        cols = ", ".join(data)
        con.execute(f"insert into {table} ({cols}) select {cols} from staged_reference")
        con.unregister("staged_reference")


def _adapter_base(store: Store) -> str | None:
    """The adapter's baseUrl from the local config (no secret: header values stay there)."""
    try:
        from ._session import PagerDutySession

        session = PagerDutySession.create(
            store.adapter, config=store.config, base_url=store.base_url, transport=store.transport
        )
        cfg = session.target.current_config()
        return str(cfg.get(store.adapter).base_url) if cfg is not None else None
    except Exception:
        return None
