"""The incident store: an embedded DuckDB copy of one PagerDuty account, synced incrementally.

Opening a year of incidents costs no request, and a refresh costs what changed::

    from atlas_canvas import pagerduty
    store = pagerduty.open_store()             # ~/.local/share/atlas-canvas/store/pagerduty.duckdb
    store.sync(since="365d")                   # first: the year; later: only what changed
    df = store.incidents(statuses="resolved")  # the columns and dtypes of pagerduty.incidents()
    store.sql("select service, count(*) from incidents group by 1")

Where the file lives: ``path=``, else ``ATLAS_STORE`` (a directory for one file per adapter,
or a ``.duckdb`` file), else the user's data directory (``platformdirs``). Only this module
opens the file. Concurrency follows DuckDB's rule (one process writes, or any number read):
reads open the file read-only for the duration of one call; a sync takes the store's lock
(``_store_lock``), fetches, then writes everything in one short transaction. A read that
meets a write in progress retries for ``busy_timeout`` seconds, then says why it gave up.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import UsageError
from ._store_lock import DEFAULT_LOCK_TIMEOUT
from ._store_schema import (
    SCHEMA_VERSION,
    TABLES,
    StoreBusyError,
    StoreError,
    migrate,
    read_state,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import duckdb
    import pandas as pd

    from ._sync import SyncReport

__all__ = [
    "Store",
    "default_store_path",
    "incidents_through_store",
    "open_store",
    "sync",
    "sync_async",
]

#: Seconds a read (or the write of a sync) retries while another process holds the file.
DEFAULT_BUSY_TIMEOUT = 30.0
#: Raw incident dicts are read from the store this many at a time when asked for.
RAW_CHUNK = 500

TimeArg = str | datetime | date | None
ListArg = str | Iterable[str] | None

# Read-only connections this process holds, per store file: a sync in this process closes
# them before it writes, because DuckDB refuses a read-write open of a file the same process
# has open read-only.
_OPEN: dict[str, weakref.WeakSet[Any]] = {}


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - exercised by the fresh-machine test
        raise UsageError(
            "the incident store needs DuckDB",
            hint="pip install 'atlas-canvas[notebook]' (or: pip install duckdb)",
        ) from None
    return duckdb


def default_store_path(adapter: str = "pagerduty") -> Path:
    """Where ``open_store(adapter)`` keeps its file when no ``path=`` is given.

    Example::

        default_store_path("pagerduty")  # ~/.local/share/atlas-canvas/store/pagerduty.duckdb
    """
    env = os.environ.get("ATLAS_STORE", "").strip()
    if env:
        target = Path(env).expanduser()
        if target.suffix == ".duckdb" or target.is_file():
            return target
        return target / f"{adapter}.duckdb"
    import platformdirs

    return Path(platformdirs.user_data_dir("atlas-canvas")) / "store" / f"{adapter}.duckdb"


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "lock" in text.lower() or "different configuration" in text


def _connect(path: Path, *, read_only: bool, busy_timeout: float) -> Any:
    """A DuckDB connection to ``path``, retried while another process holds the file."""
    duckdb = _duckdb()
    deadline = time.monotonic() + busy_timeout
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc):
                raise StoreError(
                    f"cannot open the store {path}: {exc}",
                    hint="is it a DuckDB file written by atlas-canvas? pass another path=",
                ) from None
            if time.monotonic() >= deadline:
                what = "read" if read_only else "write"
                raise StoreBusyError(
                    f"cannot {what} the store {path}: another process holds it "
                    f"(gave up after {busy_timeout:g} s)",
                    hint="a sync writes for a few seconds; a notebook's store.connection keeps "
                    "the file open until store.close(); retry, or raise busy_timeout=",
                ) from None
            time.sleep(delay)
            delay = min(0.5, delay * 2)
    con.execute("set TimeZone = 'UTC'")
    return con


def _times(name: str, value: TimeArg) -> datetime | None:
    from ._query import parse_time

    try:
        return parse_time(value)
    except UsageError as exc:
        raise UsageError(f"{name}: {exc.message}", hint=exc.hint) from None


class Store:
    """One PagerDuty account's incidents, log entries and reference data in a DuckDB file.

    Get one with :func:`open_store`. Reads cost no request; :meth:`sync` fetches what changed.

    Example::

        store = pagerduty.open_store(adapter="pagerduty")
        report = store.sync(since="365d")     # 12 changed, 3 new, 4 requests, 0.6 s
        week = store.incidents(since="7d")
    """

    def __init__(
        self,
        path: Path,
        *,
        adapter: str = "pagerduty",
        config: Any = None,
        base_url: str | None = None,
        transport: Any = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = path
        self.adapter = adapter
        self.config = config
        self.base_url = base_url
        self.transport = transport
        self.busy_timeout = busy_timeout
        self._connection: Any = None

    # -- connections ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        con = _connect(self.path, read_only=True, busy_timeout=self.busy_timeout)
        _OPEN.setdefault(str(self.path.resolve()), weakref.WeakSet()).add(con)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Any]:
        """A read-write connection for a sync's one transaction (store internals only)."""
        for con in list(_OPEN.get(str(self.path.resolve()), ())):
            with contextlib.suppress(Exception):
                con.close()
        self._connection = None
        con = _connect(self.path, read_only=False, busy_timeout=self.busy_timeout)
        # Small syncs leave their changes in the write-ahead log (see _sync._write), which
        # every read-only open replays: keep it short (DuckDB's default lets it reach 16 MB,
        # a second per open); past this, DuckDB checkpoints at the next commit.
        con.execute("set checkpoint_threshold = '1MB'")
        try:
            migrate(con, path=str(self.path))
            yield con
        finally:
            con.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """A read-only DuckDB connection to the store (jupysql's ``%sql``, plain ``duckdb``).

        It keeps the file open: a sync in another process waits for :meth:`close`. A sync in
        this process closes it; ask for ``store.connection`` again afterwards.

        Example::

            con = store.connection
            con.sql("select status, count(*) from incidents group by 1").df()
        """
        con = self._connection
        if con is not None:
            try:
                con.execute("select 1")
                return con
            except Exception:
                self._connection = None
        con = _connect(self.path, read_only=True, busy_timeout=self.busy_timeout)
        _OPEN.setdefault(str(self.path.resolve()), weakref.WeakSet()).add(con)
        self._connection = con
        return con

    def close(self) -> None:
        """Close :attr:`connection` if it is open (reads open and close their own)."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store adapter={self.adapter!r} path={str(self.path)!r}>"

    # -- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, str]:
        """The sync state: schema version, account, history start, watermark, last report."""
        with self._reading() as con:
            return read_state(con)

    # -- reads ---------------------------------------------------------------------------------

    def incidents(
        self,
        *,
        statuses: ListArg = None,
        urgencies: ListArg = None,
        service_ids: ListArg = None,
        team_ids: ListArg = None,
        since: TimeArg = None,
        until: TimeArg = None,
    ) -> pd.DataFrame:
        """The stored incidents matching the filters, as :func:`pagerduty.incidents` returns them.

        Same columns and dtypes (``pagerduty.COLUMNS``), ordered by ``created_at``. Filters
        match like ``GET /incidents``: any of the ``statuses``/``urgencies``/``service_ids``/
        ``team_ids`` given, ``created_at`` from ``since`` (inclusive) to ``until`` (exclusive).
        ``acknowledged_at`` of a resolved incident comes from its first acknowledge log entry
        (PagerDuty's list forgets it), as :func:`with_ack_times` would fill it. The raw dicts
        (``df.pagerduty.raw``) are read from the store when asked for.

        Example::

            df = store.incidents(statuses=["triggered", "acknowledged"], urgencies="high")
        """
        from ._query import STATUSES, URGENCIES, _as_list

        where: list[str] = []
        args: list[Any] = []
        for column, name, value, allowed in (
            ("status", "status", statuses, STATUSES),
            ("urgency", "urgency", urgencies, URGENCIES),
            ("service_id", "service id", service_ids, ()),
        ):
            items = _as_list(name, value, allowed)
            if items:
                where.append(f"i.{column} in (select unnest(?))")
                args.append(items)
        teams = _as_list("team id", team_ids)
        if teams:
            where.append("len(list_intersect(i.team_ids, ?)) > 0")
            args.append(teams)
        s, u = _times("since", since), _times("until", until)
        if s is not None and u is not None and s >= u:
            raise UsageError(
                f"since ({s:%Y-%m-%dT%H:%M:%SZ}) must be before until ({u:%Y-%m-%dT%H:%M:%SZ})"
            )
        if s is not None:
            where.append("i.created_at >= ?")
            args.append(s)
        if u is not None:
            where.append("i.created_at < ?")
            args.append(u)
        sql = _INCIDENTS_SQL.format(where=" and ".join(where) or "true")
        with self._reading() as con, _no_gc():
            cols = con.execute(sql, args).fetchnumpy()
            df = _to_frame(cols, adapter=self.adapter, store=self)
        df.attrs["query"] = {
            "adapter": self.adapter,
            "statuses": _as_list("status", statuses, STATUSES),
            "urgencies": _as_list("urgency", urgencies, URGENCIES),
            "service_ids": _as_list("service id", service_ids),
            "team_ids": teams,
            "since": s.isoformat() if s else None,
            "until": u.isoformat() if u else None,
            "date_range": None,
            "store": str(self.path),
        }
        df.attrs["fetch"] = {
            "requests": 0,
            "retries": 0,
            "windows": 0,
            "duplicates": 0,
            "total": len(df),
        }
        return df

    def log_entries(
        self,
        *,
        incident_ids: ListArg = None,
        types: ListArg = None,
        since: TimeArg = None,
        until: TimeArg = None,
    ) -> pd.DataFrame:
        """Stored log entries (newest first): ``id``, ``type``, ``created_at``, ``incident_id``,
        ``agent_id``, ``agent_type``, ``channel_type``, ``summary``.

        ``types`` takes PagerDuty's names with or without ``_log_entry`` (``acknowledge``).

        Example::

            store.log_entries(types="acknowledge", since="7d")
        """
        from ._query import _as_list

        where: list[str] = []
        args: list[Any] = []
        ids = _as_list("incident id", incident_ids)
        if ids:
            where.append("incident_id in (select unnest(?))")
            args.append(ids)
        kinds = [
            t if t.endswith("_log_entry") else f"{t}_log_entry" for t in _as_list("type", types)
        ]
        if kinds:
            where.append("type in (select unnest(?))")
            args.append(kinds)
        s, u = _times("since", since), _times("until", until)
        if s is not None:
            where.append("created_at >= ?")
            args.append(s)
        if u is not None:
            where.append("created_at < ?")
            args.append(u)
        sql = (
            "select id, type, created_at, incident_id, agent_id, agent_type, channel_type, "
            f"summary from log_entries where {' and '.join(where) or 'true'} "
            "order by created_at desc, id"
        )
        with self._reading() as con:
            df = con.execute(sql, args).df()
        for col in (
            "id",
            "type",
            "incident_id",
            "agent_id",
            "agent_type",
            "channel_type",
            "summary",
        ):
            df[col] = df[col].astype("string")
        df["created_at"] = df["created_at"].astype("datetime64[ns, UTC]")
        return df

    def sql(self, query: str, params: Any = None) -> pd.DataFrame:
        """Run DuckDB SQL against the store (read-only) and return a DataFrame.

        Tables: ``incidents``, ``log_entries``, ``services``, ``teams``, ``users``,
        ``escalation_policies``, ``priorities``, ``sync_state``; ``raw`` columns hold the
        API's JSON (``json_extract_string(raw, '$.status')``).

        Example::

            store.sql("select service, count(*) n from incidents group by 1 order by n desc")
        """
        duckdb = _duckdb()
        if not isinstance(query, str) or not query.strip():
            raise UsageError(
                "sql() needs a query", hint='e.g. store.sql("select * from incidents limit 5")'
            )
        with self._reading() as con:
            try:
                return con.execute(query, params).df()
            except duckdb.Error as exc:
                raise UsageError(
                    f"the store refused the SQL: {exc}", hint="tables: " + ", ".join(TABLES)
                ) from None

    def export_parquet(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write one Parquet file per table into ``directory``; return their paths.

        Any engine reads them (pandas, Spark, Trino, DuckDB). No file holds a credential.

        Example::

            store.export_parquet("export/")  # export/incidents.parquet, .../log_entries.parquet
        """
        out = Path(directory).expanduser()
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} is a file, not a directory", hint="pass a directory path")
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        with self._reading() as con:
            # Every table in the file: the store's own and any another module adds (on-call).
            names = con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'main' order by 1"
            ).fetchall()
            for (table,) in names:
                if not str(table).replace("_", "").isalnum():
                    continue  # not a table this package made; its name is not safe in SQL
                target = out / f"{table}.parquet"
                # The path is ours (a directory the caller named + a fixed table name), but
                # quote it for SQL all the same.
                quoted = str(target).replace("'", "''")
                con.execute(f"copy (select * from {table}) to '{quoted}' (format parquet)")
                written.append(target)
        return written

    # -- sync ----------------------------------------------------------------------------------

    async def sync_async(
        self,
        since: TimeArg = None,
        *,
        progress: bool = True,
        ack_times: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        concurrency: int | None = None,
        max_age: Any = None,
    ) -> SyncReport:
        """Awaitable :meth:`sync`."""
        from ._sync import sync_store

        return await sync_store(
            self,
            since=since,
            progress=progress,
            ack_times=ack_times,
            lock_timeout=lock_timeout,
            concurrency=concurrency,
            max_age=max_age,
        )

    def sync(
        self,
        since: TimeArg = None,
        *,
        progress: bool = True,
        ack_times: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        concurrency: int | None = None,
        max_age: Any = None,
    ) -> SyncReport:
        """Bring the store up to date; return a report (new, changed, requests, seconds, watermark).

        The first sync fetches the history window ``since`` (default 365 days) with the
        concurrent, cap-splitting pager, plus the account's log entries of that time (the
        first-ack times; ``ack_times=False`` skips them). Later syncs read the account-wide
        log since the watermark and refetch only the incidents that changed; ``since`` then
        only matters if it reaches further back than the store does (that re-fetches history).
        ``since="all"`` makes a first sync fetch the whole history. ``max_age`` (``"1h"``,
        seconds or a timedelta) sends nothing when the last sync is younger: a notebook re-run
        then costs no request. One transaction per sync; another sync on the same store waits
        ``lock_timeout`` s.

        Example::

            report = store.sync()
            print(report)   # 12 changed, 3 new, 4 requests, 0.6 s
        """
        from .._bridge import run_sync

        return run_sync(
            self.sync_async(
                since,
                progress=progress,
                ack_times=ack_times,
                lock_timeout=lock_timeout,
                concurrency=concurrency,
                max_age=max_age,
            )
        )


# Status and urgency come out as the frame's categoricals (a value outside them: missing, as
# incidents_frame does); first-ack times were kept up to date by the syncs, so this is one scan.
_INCIDENTS_SQL = """
select i.id, i.incident_number, i.title,
       case i.status when 'triggered' then 0 when 'acknowledged' then 1
                     when 'resolved' then 2 else -1 end::tinyint as status,
       case i.urgency when 'high' then 0 when 'low' then 1 else -1 end::tinyint as urgency,
       i.priority, i.service_id,
       i.service, array_to_string(i.teams, chr(31)) as teams,
       array_to_string(i.assignees, chr(31)) as assignees, i.escalation_policy,
       epoch_ns(i.created_at) as created_at,
       epoch_ns(coalesce(i.acknowledged_at,
                         case when i.status = 'resolved' then i.first_ack_at end))
           as acknowledged_at,
       epoch_ns(i.resolved_at) as resolved_at, i.alert_count, i.html_url
from incidents i
where {where}
"""


#: Lists of names come out of DuckDB joined with this (a control character no name holds):
#: splitting text is ~10x faster than turning DuckDB's per-row arrays into lists.
_SEP = "\x1f"


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a frame is built.

    A 50,000-row frame allocates 100,000 lists (teams, assignees): each 700 allocations set
    off a collection that walks everything the kernel holds, which cost a fresh kernel more
    than the lists themselves. None of these objects forms a cycle; collection resumes after.
    """
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _filled(values: Any, fill: Any) -> Any:
    """A ``fetchnumpy`` column as a plain array (DuckDB masks NULLs of nullable columns)."""
    import numpy as np

    if isinstance(values, np.ma.MaskedArray):
        # Not ``filled(None)``: numpy reads a None fill as "the default fill value".
        out = np.array(values.data, copy=True)
        out[np.ma.getmaskarray(values)] = fill
        return out
    return values


def _sorted(cols: dict[str, Any]) -> dict[str, Any]:
    """The rows ordered by ``created_at``, ``incident_number``, ``id`` (NULLs last).

    Sorted here on two integer keys rather than by an ORDER BY, which made DuckDB carry every
    text column through its sort (a fifth of a reopen); ``id`` only breaks exact ties.
    """
    import numpy as np

    last = np.iinfo(np.int64).max
    created = np.asarray(_filled(cols["created_at"], last), dtype="int64")
    number = np.asarray(_filled(cols["incident_number"], last), dtype="int64")
    order = np.lexsort((number, created))
    c, k = created[order], number[order]
    if len(order) > 1 and bool(np.any((c[1:] == c[:-1]) & (k[1:] == k[:-1]))):
        ids = np.asarray(_filled(cols["id"], "\uffff"), dtype=object)
        order = np.array(
            sorted(range(len(ids)), key=lambda r: (created[r], number[r], ids[r])), dtype=np.intp
        )
    if bool(np.all(order[1:] > order[:-1])):
        return cols  # already in order
    return {name: values[order] for name, values in cols.items()}


def _lists(values: Any) -> Any:
    """Joined names -> one fresh list per row.

    The joined text takes a few dozen distinct values (team and assignee combinations), so
    each distinct value is split once and rows get copies (a row's list is its own, as in
    ``incidents_frame``).
    """
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(_filled(values, None), use_na_sentinel=True)
    split = [u.split(_SEP) if u else [] for u in uniques.tolist()]
    split.append([])  # code -1: NULL
    out = np.empty(len(codes), dtype=object)
    out[:] = [split[c].copy() for c in codes.tolist()]
    return out


def _to_frame(cols: dict[str, Any], *, adapter: str, store: Store) -> pd.DataFrame:
    """``fetchnumpy`` columns -> the exact dtypes of ``incidents_frame`` (``_frame.COLUMNS``).

    Built from numpy arrays rather than ``.df()``: DuckDB's pandas conversion of timestamps
    with a time zone and of text columns cost most of a reopen; here timestamps travel as
    epoch nanoseconds, status/urgency as category codes and names once per distinct value.
    """
    import numpy as np
    import pandas as pd

    from ._frame import COLUMNS, STATUS_DTYPE, URGENCY_DTYPE, _tag

    cols = _sorted(cols)
    n = len(cols["id"])
    data: dict[str, Any] = {}
    for name in (
        "id",
        "title",
        "priority",
        "service_id",
        "service",
        "escalation_policy",
        "html_url",
    ):
        data[name] = pd.array(_filled(cols[name], None), dtype="string")
    for name in ("incident_number", "alert_count"):
        values = cols[name]
        mask = np.ma.getmaskarray(values)
        data[name] = pd.arrays.IntegerArray(
            np.asarray(_filled(values, 0), dtype="int64"), mask.copy()
        )
    data["status"] = pd.Categorical.from_codes(
        np.asarray(cols["status"], dtype="int8"), dtype=STATUS_DTYPE
    )
    data["urgency"] = pd.Categorical.from_codes(
        np.asarray(cols["urgency"], dtype="int8"), dtype=URGENCY_DTYPE
    )
    data["teams"] = _lists(cols["teams"])
    data["assignees"] = _lists(cols["assignees"])
    nat = np.iinfo(np.int64).min  # NaT's bit pattern
    for name in ("created_at", "acknowledged_at", "resolved_at"):
        ns = np.asarray(_filled(cols[name], nat), dtype="int64")
        data[name] = pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")
    data["time_to_ack"] = data["acknowledged_at"] - data["created_at"]
    data["time_to_resolve"] = data["resolved_at"] - data["created_at"]
    df = pd.DataFrame({name: data[name] for name in COLUMNS}, index=pd.RangeIndex(n))
    _tag(df, adapter=adapter, raw=_stored_raw(store, cols["id"]))
    return df


def _stored_raw(store: Store, ids: Any) -> Any:
    from ._frame import RawIncidents

    class StoredRaw(RawIncidents):
        """The raw dicts of a frame read from the store, loaded from the file when asked for.

        A 50,000-incident frame keeps only its ids here; the JSON stays in the store (the
        kernel does not grow by the half-gigabyte those dicts take as Python objects).
        """

        __slots__ = ("_cache", "_ids", "_index", "_path", "_store")

        def __init__(self, ids: list[str]) -> None:
            super().__init__([])
            self._ids = ids
            self._index: dict[str, int] | None = None
            self._cache: dict[str, dict[str, Any]] = {}
            self._store = store

        def _positions(self) -> dict[str, int]:
            if self._index is None:
                self._index = {k: i for i, k in enumerate(self._ids)}
            return self._index

        def __contains__(self, key: object) -> bool:
            return key in self._positions()

        def __getitem__(self, key: str) -> dict[str, Any]:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
            pos = self._positions().get(key)
            if pos is None:
                raise KeyError(key)
            # Callers walk frames in row order: load the next rows with this one.
            chunk = self._ids[pos : pos + RAW_CHUNK]
            with self._store._reading() as con:
                found = con.execute(
                    "select id, raw from incidents where id in (select unnest(?))", [chunk]
                ).fetchall()
            for iid, raw in found:
                self._cache[iid] = json.loads(raw)
            if key not in self._cache:
                raise KeyError(key)
            return self._cache[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._ids)

        def __len__(self) -> int:
            return len(self._ids)

        def records(self) -> list[dict[str, Any]]:
            return [self[k] for k in self._ids]

        def __repr__(self) -> str:
            return f"<StoredRaw: {len(self._ids)} incidents in {self._store.path}>"

    return StoredRaw([str(x) for x in _filled(ids, "").tolist()])


def open_store(
    adapter: str = "pagerduty",
    path: str | os.PathLike[str] | None = None,
    *,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> Store:
    """Open (creating if needed) the incident store of ``adapter``.

    ``path``: the DuckDB file (default: ``ATLAS_STORE``, else the user's data directory, one
    file per adapter). ``config``/``base_url``/``transport`` choose how :meth:`Store.sync`
    reaches PagerDuty, as for :func:`pagerduty.incidents`. Sends no request.

    Example::

        store = pagerduty.open_store("pagerduty")
        store.incidents(since="30d")
    """
    from .._routing import adapter_path

    adapter_path(adapter)  # refuses a bad adapter name now, with a clear message
    target = Path(path).expanduser() if path is not None else default_store_path(adapter)
    if target.is_dir():
        target = target / f"{adapter}.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    store = Store(
        target,
        adapter=adapter,
        config=config,
        base_url=base_url,
        transport=transport,
        busy_timeout=busy_timeout,
    )
    # One read-only open when the file is current (reopening is on a notebook's hot path).
    state: dict[str, str] = {}
    version = None
    if target.exists() and target.stat().st_size > 0:
        from ._store_schema import schema_version

        with store._reading() as con:
            version = schema_version(con)
            state = read_state(con)
    if version != SCHEMA_VERSION:
        with store.writing():
            pass  # creates the schema, migrates, or refuses a newer file with a clear message
        state = store.state
    if state.get("adapter") not in (None, adapter):
        raise StoreError(
            f"{target} holds the store of adapter {state.get('adapter')!r}, not {adapter!r}",
            hint="each adapter has its own file: pass another path= or leave path unset",
        )
    return store


def open_store_for_sync(
    adapter: str,
    path: str | os.PathLike[str] | None,
    *,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
) -> Store:
    """:func:`open_store` for a sync that follows: where requests go is checked first, so a
    missing or broken config, or one without ``adapter``, leaves no new empty store behind."""
    from ._session import PagerDutySession

    PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport
    ).checked()
    return open_store(adapter, path, config=config, base_url=base_url, transport=transport)


async def incidents_through_store(
    query: Any,
    store: Any,
    *,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    progress: bool = True,
    concurrency: int | None = None,
) -> pd.DataFrame:
    """``pagerduty.incidents(..., store=...)``: sync the store, then read ``query`` from it.

    ``store`` is ``True`` (the adapter's default file), a path, or a :class:`Store`. The window
    is the one :func:`pagerduty.incidents` would fetch (``df.attrs["window"]``); a window that
    reaches further back than the store makes the sync fetch that history first.
    """
    import asyncio

    from ._query import parse_time

    if isinstance(store, Store):
        target = store
    else:
        path = None if store is True else store
        target = await asyncio.to_thread(
            open_store_for_sync,
            query.adapter,
            path,
            config=config,
            base_url=base_url,
            transport=transport,
        )
    window = query.window()
    since = parse_time(window["since"]) if window["since"] else None
    until = parse_time(window["until"]) if window["until"] else None
    first_since: Any = "all" if query.date_range == "all" else since
    report = await target.sync_async(first_since, progress=progress, concurrency=concurrency)
    df = await asyncio.to_thread(
        target.incidents,
        statuses=list(query.statuses),
        urgencies=list(query.urgencies),
        service_ids=list(query.service_ids),
        team_ids=list(query.team_ids),
        since=since,
        until=until,
    )
    df.attrs["window"] = window
    # What was asked, as fetch_incidents records it, plus the store: a dashboard's Refresh
    # asks again (a lone since still ends "now" then) and syncs the same file.
    df.attrs["query"] = {**query.asked(), "store": str(target.path)}
    df.attrs["sync"] = report.as_dict()
    df.attrs["fetch"] = {
        "requests": report.requests,
        "retries": report.retries,
        "rate_limited": report.rate_limited,
        "total": len(df),
        "seconds": round(report.seconds, 3),
    }
    return df


async def sync_async(
    adapter: str = "pagerduty",
    since: TimeArg = None,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> SyncReport:
    """Awaitable :func:`sync`."""
    if not isinstance(store, Store):
        store = open_store_for_sync(
            adapter, store, config=config, base_url=base_url, transport=transport
        )
    return await store.sync_async(since, progress=progress, lock_timeout=lock_timeout)


def sync(
    adapter: str = "pagerduty",
    since: TimeArg = None,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    progress: bool = True,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> SyncReport:
    """Sync the store of ``adapter`` (``store``: a :class:`Store` or a path); return the report.

    Example::

        report = pagerduty.sync("pagerduty", since="365d")
        report.new, report.changed, report.requests, report.seconds, report.watermark
    """
    from .._bridge import run_sync

    return run_sync(
        sync_async(
            adapter,
            since,
            store,
            progress=progress,
            config=config,
            base_url=base_url,
            transport=transport,
            lock_timeout=lock_timeout,
        )
    )
