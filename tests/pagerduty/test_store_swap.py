"""A first sync into an empty store builds the new store beside it and renames it over it.

What must hold: the rename is the only moment the store changes (killed before it, the old
store; after it, the new one), the store keeps its file mode and the state it had, nothing is
left beside it, an open connection in this process does not keep the old file alive, and a
store that already holds something (on-call rows) is copied into instead, keeping them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from atlas_canvas.pagerduty import _sync
from atlas_canvas.pagerduty._store import open_store
from tests.pagerduty.store_sim import NOW, SimAccount, same_rows

ROOT = Path(__file__).resolve().parents[2]
SINCE = NOW - dt.timedelta(days=400)
UNTIL = NOW + dt.timedelta(days=30)


def leftovers(path: Path) -> list[str]:
    return sorted(
        p.name for p in path.parent.iterdir() if p.name not in (path.name, path.name + ".lock")
    )


def test_an_empty_store_is_replaced_in_one_rename_keeping_its_mode_and_state(
    tmp_path: Path,
) -> None:
    acc = SimAccount(300, seed=21)
    path = tmp_path / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)
    os.chmod(path, 0o600)
    before = path.stat().st_ino
    con = store.connection  # a notebook's open connection to the empty store
    assert con.execute("select count(*) from incidents").fetchone() == (0,)
    schema = store.state["schema_version"]
    report = store.sync(since=SINCE, progress=False)
    assert report.new == len(acc.incident_ids()) and report.first
    assert path.stat().st_ino != before  # the staged file took the store's name
    assert path.stat().st_mode & 0o777 == 0o600
    assert leftovers(path) == []  # no staging file, no write-ahead log
    assert store.state["schema_version"] == schema and "watermark" in store.state
    # The connection from before is not left reading the old file: ask again, see the sync.
    assert store.connection.execute("select count(*) from incidents").fetchone() == (report.new,)
    same_rows(store.incidents(), asyncio.run(acc.fresh(SINCE, UNTIL)))
    # The next sync is an ordinary incremental one on the new file.
    assert store.sync(progress=False).new == 0


def test_a_store_holding_oncall_rows_is_copied_into_and_keeps_them(tmp_path: Path) -> None:
    acc = SimAccount(200, seed=22)
    path = tmp_path / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)
    con = duckdb.connect(str(path))
    con.execute("create table oncall_shifts (user_id varchar)")
    con.execute("insert into oncall_shifts values ('U1')")
    con.close()
    before = path.stat().st_ino
    report = store.sync(since=SINCE, progress=False)
    assert path.stat().st_ino == before  # written in place
    assert store.sql("select user_id from oncall_shifts").user_id.tolist() == ["U1"]
    assert report.new == len(acc.incident_ids())
    assert leftovers(path) == []
    same_rows(store.incidents(), asyncio.run(acc.fresh(SINCE, UNTIL)))


def test_a_failed_rename_leaves_the_empty_store_and_the_next_sync_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = SimAccount(200, seed=23)
    path = tmp_path / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_sync.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        store.sync(since=SINCE, progress=False)
    assert len(store.incidents()) == 0 and "watermark" not in store.state
    assert leftovers(path) == []
    monkeypatch.undo()
    store.sync(since=SINCE, progress=False)
    same_rows(store.incidents(), asyncio.run(acc.fresh(SINCE, UNTIL)))


_KILLED = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from atlas_canvas.pagerduty import _sync
    from atlas_canvas.pagerduty._store import open_store
    from tests.pagerduty.store_sim import NOW, SimAccount

    point = sys.argv[2]
    real_replace, real_write_in = os.replace, _sync._write_in

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def replace(src, dst):
        if point == "before rename":
            die()
        real_replace(src, dst)
        if point == "after rename":
            die()

    def write_in(con, *args):
        if point == "writing":
            con.execute("create table half_written (x int)")  # then killed mid-transaction
            die()
        real_write_in(con, *args)

    _sync.os.replace = replace
    _sync._write_in = write_in
    acc = SimAccount(200, seed=24)
    store = open_store(path=sys.argv[1], transport=acc.transport)
    store.sync(since=NOW - dt.timedelta(days=400), progress=False)
    """
)


@pytest.mark.parametrize("point", ["writing", "before rename", "after rename"])
def test_sigkill_around_the_rename_leaves_a_whole_store(tmp_path: Path, point: str) -> None:
    path = tmp_path / "pd.duckdb"
    acc = SimAccount(200, seed=24)
    open_store(path=path, transport=acc.transport)  # the empty store a user made first
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED, str(path), point],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    store = open_store(path=path, transport=acc.transport)
    n = len(store.incidents())
    expected = len(acc.incident_ids())
    assert n == (expected if point == "after rename" else 0)
    assert ("watermark" in store.state) == (n == expected)
    store.sync(since=SINCE, progress=False)  # resumes (or goes on) and completes
    same_rows(store.incidents(), asyncio.run(acc.fresh(SINCE, UNTIL)))
    # (an incremental sync may leave its small change in the store's write-ahead log)
    assert [n for n in leftovers(path) if not n.endswith(".duckdb.wal")] == []
