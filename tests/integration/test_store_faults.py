"""The store under faults: SIGKILL mid-sync, two syncs at once, a 429 storm, the API gone,
and no secret anywhere in what it writes. Real processes (``mom pagerduty sync``) against
the simulator on loopback where the fault is about processes; in-process otherwise."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from atlas_canvas._errors import UpstreamUnreachableError
from atlas_canvas.pagerduty._pager import fetch_incident_records
from atlas_canvas.pagerduty._query import IncidentQuery
from atlas_canvas.pagerduty._store import open_store
from tests.conftest import PLANTED_SECRET
from tests.pagerduty.simenv import NOW, SimEnv, apply_env, simulator_env
from tests.pagerduty.store_sim import SimAccount, same_rows

pytestmark = pytest.mark.integration

SINCE = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    # 100 ms per answer: a first sync takes a few seconds, long enough to kill it anywhere.
    with simulator_env(tmp_path_factory.mktemp("sim"), incidents=1500, latency_ms=100) as env:
        yield env


def mom(env: SimEnv, store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "atlas_canvas", "pagerduty", "sync", "--store", str(store), *args],
        env={**os.environ, **env.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def truth(env: SimEnv) -> int:
    undo = apply_env(env.env)
    try:
        q = IncidentQuery.build(since=SINCE, until=NOW + dt.timedelta(days=1))
        records, _ = asyncio.run(fetch_incident_records(q, config=env.config_path, progress=False))
    finally:
        undo()
    return len(records)


def test_sigkill_at_random_points_then_the_next_sync_completes(sim: SimEnv, tmp_path: Path) -> None:
    store_path = tmp_path / "pd.duckdb"
    expected = truth(sim)
    rng = random.Random(20260105)
    # Kill points are drawn inside the time a whole first sync takes here (measured on a
    # store of its own): a fixed range let every sync finish first on a quick machine.
    t0 = time.monotonic()
    proc = mom(sim, tmp_path / "timing.duckdb", "--since", SINCE)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    whole = time.monotonic() - t0
    killed = 0
    for _ in range(5):
        proc = mom(sim, store_path, "--since", SINCE)
        time.sleep(rng.uniform(0.15, 0.85) * whole)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate(timeout=60)
        # Whatever the moment, the store opens and holds a complete sync or none.
        store = open_store(path=store_path)
        n = len(store.incidents())
        state = store.state
        assert n in (0, expected), n
        assert ("watermark" in state) == (n == expected)
    assert killed >= 3
    proc = mom(sim, store_path, "--since", SINCE, "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert len(open_store(path=store_path).incidents()) == expected
    assert report["new"] in (0, expected)


def test_two_syncs_at_once_wait_for_each_other(sim: SimEnv, tmp_path: Path) -> None:
    store_path = tmp_path / "pd.duckdb"
    a = mom(sim, store_path, "--since", SINCE, "--json")
    time.sleep(0.3)
    b = mom(sim, store_path, "--since", SINCE, "--json")
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    reports = [json.loads(out_a), json.loads(out_b)]
    assert sorted(r["new"] for r in reports) == [0, truth(sim)]
    assert "waiting for the sync already running" in err_b and "pid" in err_b
    store = open_store(path=store_path)
    ids = store.sql("select id, count(*) n from incidents group by 1 having n > 1")
    assert ids.empty  # no incident twice


def test_a_sync_that_cannot_wait_gives_up_clearly(sim: SimEnv, tmp_path: Path) -> None:
    store_path = tmp_path / "pd.duckdb"
    a = mom(sim, store_path, "--since", SINCE)
    time.sleep(0.5)
    b = mom(sim, store_path, "--since", SINCE, "--wait", "0")
    _, err_b = b.communicate(timeout=60)
    a.communicate(timeout=120)
    assert b.returncode == 1
    assert "being synced by pid" in err_b and "gave up" in err_b


def test_no_secret_in_the_store_its_files_or_its_reports(sim: SimEnv, tmp_path: Path) -> None:
    store_path = tmp_path / "pd.duckdb"
    proc = mom(sim, store_path, "--since", SINCE, "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "atlas_canvas",
            "pagerduty",
            "export",
            "--parquet",
            str(tmp_path / "parquet"),
            "--store",
            str(store_path),
        ],
        env={**os.environ, **sim.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert export.returncode == 0, export.stderr
    assert len(export.stdout.split()) == 8
    secret = PLANTED_SECRET.encode()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        assert secret not in path.read_bytes(), path
    for text in (out, err, export.stdout, export.stderr, repr(open_store(path=store_path))):
        assert PLANTED_SECRET not in text
    # The store itself says what it holds, and it is data, not credentials.
    state = open_store(path=store_path).state
    assert state["account"] == "acme.pagerduty.com" and state["base_url"] == sim.base_url


def test_cli_refuses_both_a_config_and_a_server(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "atlas_canvas",
            "pagerduty",
            "sync",
            "--store",
            str(tmp_path / "x.duckdb"),
            "-f",
            "atlas.yml",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "either -f FILE or --base-url URL" in r.stderr


# -- in-process faults ---------------------------------------------------------------------------

WINDOW = (NOW - dt.timedelta(days=400), NOW + dt.timedelta(days=30))


def test_a_429_storm_is_waited_out_and_counted(tmp_path: Path) -> None:
    acc = SimAccount(600)
    acc.storm = range(3, 15)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    report = store.sync(since=WINDOW[0], progress=False)
    assert report.rate_limited == acc.status[429] > 0
    assert report.requests == acc.requests
    same_rows(store.incidents(), asyncio.run(acc.fresh(*WINDOW)))


def test_the_simulator_going_down_mid_sync_keeps_the_last_complete_state(
    tmp_path: Path,
) -> None:
    acc = SimAccount(600)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    store.sync(since=WINDOW[0], progress=False)
    before = store.state
    acc.advance(60)
    for iid in sorted(acc.incident_ids("resolved"))[:30]:
        acc.note(iid, "during the outage")
    acc.fail_after = acc.requests + 2  # identity and one log page answer, then nothing
    with pytest.raises(UpstreamUnreachableError):
        store.sync(progress=False)
    assert store.state == before
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute(
        "select count(*) from log_entries where type = 'annotate_log_entry' "
        "and summary like '%outage%'"
    ).fetchall() == [(0,)]
    con.close()
    acc.fail_after = None
    report = store.sync(progress=False)
    assert report.changed == 30
    same_rows(store.incidents(), asyncio.run(acc.fresh(*WINDOW)))
