"""The incident store: reads, schema, lock, SQL, connection, Parquet (simulated, no sockets)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from atlas_canvas._errors import AtlasError, UsageError
from atlas_canvas.pagerduty import _store_lock
from atlas_canvas.pagerduty._frame import COLUMNS
from atlas_canvas.pagerduty._store import Store, default_store_path, open_store
from atlas_canvas.pagerduty._store_schema import (
    SCHEMA_VERSION,
    TABLES,
    StoreBusyError,
    StoreError,
)
from atlas_canvas.pagerduty._sync import SyncReport
from tests.pagerduty.store_sim import NOW, SimAccount, same_rows

SINCE = NOW - dt.timedelta(days=400)
UNTIL = NOW + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimAccount, Store, SyncReport]:
    acc = SimAccount(400)
    path = tmp_path_factory.mktemp("store") / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)
    report = store.sync(since=SINCE, progress=False)
    return acc, store, report


@pytest.fixture(scope="module")
def fresh(synced: tuple[SimAccount, Store, SyncReport]) -> pd.DataFrame:
    return asyncio.run(synced[0].fresh(SINCE, UNTIL))


def test_first_sync_reports_and_equals_a_fresh_fetch(
    synced: tuple[SimAccount, Store, SyncReport], fresh: pd.DataFrame
) -> None:
    _, store, report = synced
    assert report.first and report.new == 400 and report.changed == 0
    assert report.requests > 0 and report.rate_limited == 0
    assert report.watermark is not None and report.watermark <= NOW
    assert str(report).startswith("0 changed, 400 new, ")
    df = store.incidents()
    assert {k: str(v) for k, v in df.dtypes.items()} == {
        k: str(pd.Series([], dtype=v).dtype) for k, v in COLUMNS.items()
    }
    same_rows(df, fresh)
    # First-ack times of resolved incidents came with the sync (the list forgets them).
    resolved = df[df.status == "resolved"]
    assert resolved.acknowledged_at.notna().sum() > len(resolved) // 2
    state = store.state
    assert state["account"] == "acme.pagerduty.com"
    assert state["schema_version"] == str(SCHEMA_VERSION)
    assert state["adapter"] == "pagerduty"


def test_reading_costs_no_request(synced: tuple[SimAccount, Store, SyncReport]) -> None:
    acc, store, _ = synced
    before = acc.requests
    store.incidents()
    store.log_entries()
    store.sql("select count(*) from incidents")
    assert acc.requests == before


@pytest.mark.parametrize(
    "filters",
    [
        {"statuses": "resolved"},
        {"statuses": ["triggered", "acknowledged"]},
        {"urgencies": "high"},
        {"since": NOW - dt.timedelta(days=30)},
        {"until": NOW - dt.timedelta(days=300)},
        {"since": NOW - dt.timedelta(days=90), "until": NOW - dt.timedelta(days=30)},
    ],
)
def test_filters_match_the_frame(
    synced: tuple[SimAccount, Store, SyncReport], fresh: pd.DataFrame, filters: dict[str, object]
) -> None:
    store = synced[1]
    want = fresh
    if "statuses" in filters:
        s = filters["statuses"]
        want = want[want.status.isin([s] if isinstance(s, str) else list(s))]  # type: ignore[call-overload]
    if "urgencies" in filters:
        want = want[want.urgency == filters["urgencies"]]
    if "since" in filters:
        want = want[want.created_at >= pd.Timestamp(filters["since"])]  # type: ignore[arg-type]
    if "until" in filters:
        want = want[want.created_at < pd.Timestamp(filters["until"])]  # type: ignore[arg-type]
    got = store.incidents(**filters)  # type: ignore[arg-type]
    assert 0 < len(got) < len(fresh)
    same_rows(got, want.reset_index(drop=True))


def test_service_and_team_filters(
    synced: tuple[SimAccount, Store, SyncReport], fresh: pd.DataFrame
) -> None:
    store = synced[1]
    service = fresh.service_id.iloc[0]
    assert set(store.incidents(service_ids=service).id) == set(
        fresh[fresh.service_id == service].id
    )
    raw = store.incidents().pagerduty.raw
    team_id = raw[0]["teams"][0]["id"]
    expected = {r["id"] for r in raw if any(t["id"] == team_id for t in r["teams"])}
    assert set(store.incidents(team_ids=[team_id]).id) == expected


def test_bad_filters_are_clear(synced: tuple[SimAccount, Store, SyncReport]) -> None:
    store = synced[1]
    with pytest.raises(UsageError, match="did you mean 'resolved'"):
        store.incidents(statuses="resolvd")
    with pytest.raises(UsageError, match="since"):
        store.incidents(since="yesterday-ish")
    with pytest.raises(UsageError, match="before until"):
        store.incidents(since="2025-06-01", until="2025-01-01")


def test_raw_dicts_are_read_from_the_store_on_demand(
    synced: tuple[SimAccount, Store, SyncReport],
) -> None:
    acc, store, _ = synced
    df = store.incidents()
    raw = df.attrs["raw"]
    assert "StoredRaw" in repr(raw) and len(raw) == len(df)
    assert not raw._cache  # nothing loaded until asked
    last = df.iloc[-3:]
    dicts = last.pagerduty.raw
    assert [d["id"] for d in dicts] == list(last.id)
    found = acc.sim.store.find_incident(dicts[0]["id"])
    assert found is not None
    full = acc.sim.store.render.incident(found)
    assert dicts[0]["title"] == full["title"] and dicts[0]["html_url"] == full["html_url"]
    assert len(raw._cache) <= 3


def test_log_entries(synced: tuple[SimAccount, Store, SyncReport]) -> None:
    store = synced[1]
    acks = store.log_entries(types="acknowledge")
    assert len(acks) > 0 and set(acks.type) == {"acknowledge_log_entry"}
    assert acks.created_at.is_monotonic_decreasing
    one = acks.incident_id.iloc[0]
    mine = store.log_entries(incident_ids=one)
    assert set(mine.incident_id) == {one} and "trigger_log_entry" in set(mine.type)
    recent = store.log_entries(since=NOW - dt.timedelta(days=7))
    assert (recent.created_at >= pd.Timestamp(NOW - dt.timedelta(days=7))).all()


def test_sql_and_read_only_connection(synced: tuple[SimAccount, Store, SyncReport]) -> None:
    store = synced[1]
    counts = store.sql("select status, count(*) as n from incidents group by 1 order by 1")
    assert counts.n.sum() == 400
    first = store.sql("select json_extract_string(raw, '$.status') s from incidents limit 1")
    assert first.s.iloc[0] in ("triggered", "acknowledged", "resolved")
    with pytest.raises(UsageError, match="refused the SQL"):
        store.sql("select * from no_such_table")
    with pytest.raises(UsageError, match="needs a query"):
        store.sql("  ")
    con = store.connection
    assert isinstance(con, duckdb.DuckDBPyConnection)
    assert con.execute("select count(*) from incidents").fetchall() == [(400,)]
    assert con.sql("select count(*) n from incidents").df().n.iloc[0] == 400
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("delete from incidents")
    assert store.connection is con
    store.close()
    assert store.connection is not con
    store.close()


def test_export_parquet_one_file_per_table(
    synced: tuple[SimAccount, Store, SyncReport], tmp_path: Path
) -> None:
    store = synced[1]
    files = store.export_parquet(tmp_path / "out")
    assert sorted(p.name for p in files) == sorted(f"{t}.parquet" for t in TABLES)
    con = duckdb.connect()
    n = con.execute(f"select count(*) from '{tmp_path / 'out' / 'incidents.parquet'}'").fetchone()
    assert n == (400,)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        store.export_parquet(tmp_path / "file")


def test_default_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ATLAS_STORE", raising=False)
    assert default_store_path("pd-eu").name == "pd-eu.duckdb"
    assert "atlas-canvas" in str(default_store_path())
    monkeypatch.setenv("ATLAS_STORE", str(tmp_path / "stores"))
    assert default_store_path("pagerduty") == tmp_path / "stores" / "pagerduty.duckdb"
    monkeypatch.setenv("ATLAS_STORE", str(tmp_path / "one.duckdb"))
    assert default_store_path("other") == tmp_path / "one.duckdb"
    store = open_store("pagerduty")
    assert store.path == tmp_path / "one.duckdb" and store.path.exists()
    assert store.incidents().empty and list(store.incidents().columns) == list(COLUMNS)


def test_store_errors_are_the_error_trees_own() -> None:
    # The store modules re-export the classes of the one error tree, not copies of them.
    import atlas_canvas
    from atlas_canvas import _errors
    from atlas_canvas.pagerduty import _store_lock, _sync

    assert StoreError is _errors.StoreError is atlas_canvas.StoreError
    assert StoreBusyError is _errors.StoreBusyError is _store_lock.StoreBusyError
    assert _sync.StoreAccountError is _errors.StoreAccountError
    assert issubclass(_errors.StoreAccountError, StoreError)
    assert (StoreError.code, StoreBusyError.code, _errors.StoreAccountError.code) == (
        "ATLAS_StoreError",
        "ATLAS_StoreBusyError",
        "ATLAS_StoreAccountError",
    )
    assert _errors.StoreAccountError.exit_code == 2


def test_bad_adapter_name(tmp_path: Path) -> None:
    with pytest.raises(AtlasError):
        open_store("../etc", path=tmp_path / "x.duckdb")


def test_another_adapters_file_is_refused(
    synced: tuple[SimAccount, Store, SyncReport],
) -> None:
    with pytest.raises(StoreError, match="holds the store of adapter 'pagerduty'"):
        open_store("pd-eu", path=synced[1].path)


def test_newer_schema_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    open_store(path=path)
    con = duckdb.connect(str(path))
    con.execute("update sync_state set value = '99' where key = 'schema_version'")
    con.close()
    with pytest.raises(StoreError, match="newer atlas-canvas"):
        open_store(path=path)
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("create table incidents (x int)")
    con.close()
    with pytest.raises(StoreError, match="no store schema version"):
        open_store(path=foreign)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(path=junk)


def test_lock_waits_then_gives_up_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with _store_lock.sync_lock(path):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(5)
    messages: list[str] = []
    started = time.monotonic()
    with pytest.raises(StoreBusyError, match=r"being synced by pid \d+") as info:
        with _store_lock.sync_lock(path, timeout=0.3, waiting=messages.append):
            pass
    assert time.monotonic() - started >= 0.3
    assert "gave up after waiting 0.3 s" in str(info.value)
    assert len(messages) == 1 and "waiting for the sync already running" in messages[0]
    # Once the holder is done, the next one gets in (and would have, while waiting).
    threading.Timer(0.2, release.set).start()
    with _store_lock.sync_lock(path, timeout=5, waiting=messages.append):
        pass
    t.join()


def test_a_read_meets_a_writer_in_another_process_and_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "busy.duckdb"
    store = open_store(path=path, busy_timeout=0.5)
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
        "time.sleep(30)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        with pytest.raises(StoreBusyError, match="another process holds it"):
            store.incidents()
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert store.incidents().empty


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    """Version 1 kept first-ack times only in the log and raw JSON on log entries."""
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table incidents (id varchar not null, incident_number bigint, title varchar, "
        "status varchar, urgency varchar, priority varchar, service_id varchar, service varchar, "
        "teams varchar[], team_ids varchar[], assignees varchar[], escalation_policy varchar, "
        "created_at timestamptz, acknowledged_at timestamptz, resolved_at timestamptz, "
        "alert_count bigint, html_url varchar, updated_at timestamptz, synced_at timestamptz, "
        "raw varchar)"
    )
    con.execute(
        "create table log_entries (id varchar not null, type varchar, created_at timestamptz, "
        "incident_id varchar, agent_id varchar, agent_type varchar, channel_type varchar, "
        "summary varchar, raw varchar)"
    )
    for table in ("services", "teams", "escalation_policies", "priorities"):
        con.execute(f"create table {table} (id varchar not null, name varchar, raw varchar)")
    con.execute(
        "create table users (id varchar not null, name varchar, email varchar, raw varchar)"
    )
    con.execute("create table sync_state (key varchar not null, value varchar)")
    con.execute("insert into sync_state values ('schema_version', '1'), ('adapter', 'pagerduty')")
    con.execute(
        "insert into incidents (id, incident_number, title, status, urgency, teams, assignees, "
        "created_at, resolved_at, raw) values ('P1', 1, 'disk', 'resolved', 'high', ['Ops'], [], "
        "'2025-01-01T00:00:00Z', '2025-01-01T01:00:00Z', '{}')"
    )
    con.execute(
        "insert into log_entries values ('L1', 'acknowledge_log_entry', '2025-01-01T00:05:00Z', "
        "'P1', 'U1', 'user_reference', 'website', 'Acknowledged', '{}')"
    )
    con.close()
    store = open_store(path=path)
    assert store.state["schema_version"] == str(SCHEMA_VERSION) == "3"
    ddl = store.sql("select sql from duckdb_tables() where table_name = 'incidents'").sql[0]
    assert "RAW VARCHAR USING COMPRESSION ZSTD" in ddl.upper()  # version 3
    assert store.incidents().pagerduty.raw == [{}]  # the raw JSON kept
    df = store.incidents()
    assert df.time_to_ack.iloc[0] == pd.Timedelta(minutes=5)
    assert df.teams.iloc[0] == ["Ops"] and df.assignees.iloc[0] == []
    assert "raw" not in set(store.sql("describe log_entries").column_name)


def test_export_includes_tables_other_modules_add(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    store = open_store(path=path)
    con = duckdb.connect(str(path))
    con.execute("create table oncall_shifts (user_id varchar)")
    con.execute("insert into oncall_shifts values ('U1')")
    con.close()
    names = sorted(p.name for p in store.export_parquet(tmp_path / "out"))
    assert names == sorted([*(f"{t}.parquet" for t in TABLES), "oncall_shifts.parquet"])


def test_frame_rows_are_ordered_with_ties_and_nulls_and_own_their_lists() -> None:
    # The read sorts in numpy (not SQL): created_at, then incident_number (NULLs last), then
    # id for exact ties; each row's teams list is its own object.
    import numpy as np

    from atlas_canvas.pagerduty._store import _lists, _sorted

    ns = np.ma.masked_array([30, 10, 10, 10, 20], mask=[False] * 5)
    num = np.ma.masked_array([1, 5, 5, 0, 2], mask=[False, True, False, False, False])
    ids = np.array(["e", "d", "b", "c", "a"], dtype=object)
    cols = {"created_at": ns, "incident_number": num, "id": ids}
    out = _sorted(cols)
    assert out["id"].tolist() == ["c", "b", "d", "a", "e"]
    tie = _sorted(
        {
            "created_at": np.array([5, 5, 1]),
            "incident_number": np.array([7, 7, 9]),
            "id": np.array(["z", "y", "x"], dtype=object),
        }
    )
    assert tie["id"].tolist() == ["x", "y", "z"]
    lists = _lists(
        np.ma.masked_array(
            np.array(["a\x1fb", "a\x1fb", "", "x"], dtype=object), mask=[False, False, False, True]
        )
    )
    assert lists.tolist() == [["a", "b"], ["a", "b"], [], []]
    assert lists[0] is not lists[1]
