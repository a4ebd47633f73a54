"""Incremental sync against a simulated account: equal to a fresh fetch after any writes.

The simulator answers in-process (``httpx.MockTransport``); its clock is moved between writes
so entries land exactly where a test wants them (at the watermark, inside the overlap...).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from atlas_canvas._errors import UpstreamUnreachableError
from atlas_canvas.pagerduty._store import Store, open_store
from atlas_canvas.pagerduty._store_schema import StoreAccountError
from atlas_canvas.pagerduty._sync import OVERLAP, plan_refetch
from tests.pagerduty.store_sim import NOW, SimAccount, same_rows

UNTIL = NOW + dt.timedelta(days=30)


def _store(acc: SimAccount, tmp: Path, since: dt.datetime, **kw: Any) -> Store:
    """A store after its first sync and the one after it (which confirms the last minutes of
    the log the first sync read while listing), so tests start from the steady state."""
    store = open_store(path=tmp / "pd.duckdb", transport=acc.transport)
    store.sync(since=since, progress=False, **kw)
    settle = store.sync(progress=False)
    assert settle.new == 0 and settle.changed == 0
    return store


def check(acc: SimAccount, store: Store, since: dt.datetime) -> None:
    same_rows(store.incidents(), asyncio.run(acc.fresh(since, UNTIL)))


# -- the state machine ---------------------------------------------------------------------------


class Writes(RuleBasedStateMachine):
    """Responders write (new incidents, acknowledge, resolve, reassign, notes) while the clock
    moves; after every sync the store equals a fresh full fetch of its window."""

    def __init__(self) -> None:
        super().__init__()
        self.acc = SimAccount(120, months=2, seed=11)
        self.dir = Path(tempfile.mkdtemp(prefix="store-sm-"))
        self.since = NOW - dt.timedelta(days=40)
        self.store = _store(self.acc, self.dir, self.since)
        self.writes = 0

    def _pick(self, status: tuple[str, ...], k: int) -> str | None:
        ids = [i for s in status for i in self.acc.incident_ids(s)]
        return sorted(ids)[k % len(ids)] if ids else None

    @rule(title=st.sampled_from(["disk full", "5xx spike", "latency"]))
    def create(self, title: str) -> None:
        self.acc.create(title)
        self.writes += 1

    @rule(k=st.integers(0, 10**6))
    def acknowledge(self, k: int) -> None:
        iid = self._pick(("triggered",), k)
        if iid:
            self.acc.set_status(iid, "acknowledged")
            self.writes += 1

    @rule(k=st.integers(0, 10**6))
    def resolve(self, k: int) -> None:
        iid = self._pick(("triggered", "acknowledged"), k)
        if iid:
            self.acc.set_status(iid, "resolved")
            self.writes += 1

    @rule(k=st.integers(0, 10**6), user=st.integers(0, 50))
    def reassign(self, k: int, user: int) -> None:
        iid = self._pick(("triggered", "acknowledged"), k)
        if iid:
            self.acc.reassign(iid, user)
            self.writes += 1

    @rule(k=st.integers(0, 10**6))
    def note(self, k: int) -> None:
        iid = self._pick(("triggered", "acknowledged", "resolved"), k)
        if iid:
            self.acc.note(iid, f"note {k}")
            self.writes += 1

    @rule(seconds=st.sampled_from([0, 1, 59, 600, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.acc.advance(seconds)

    @precondition(lambda self: self.writes > 0)
    @rule()
    def sync(self) -> None:
        report = self.store.sync(progress=False)
        assert report.new + report.changed <= self.writes + 2  # only what changed (+ neighbours)
        check(self.acc, self.store, self.since)
        self.writes = 0

    @invariant()
    def store_opens(self) -> None:
        assert int(self.store.state["schema_version"]) >= 1

    def teardown(self) -> None:
        try:
            self.store.sync(progress=False)
            check(self.acc, self.store, self.since)
            again = self.store.sync(progress=False)
            assert (again.new, again.changed, again.log_entries) == (0, 0, 0)
        finally:
            self.store.close()
            shutil.rmtree(self.dir, ignore_errors=True)


Writes.TestCase.settings = settings(
    max_examples=8,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWrites = Writes.TestCase


# -- boundaries ----------------------------------------------------------------------------------


def test_changes_exactly_at_the_watermark(tmp_path: Path) -> None:
    acc = SimAccount(150, months=2)
    since = NOW - dt.timedelta(days=70)
    store = _store(acc, tmp_path, since)
    mark = dt.datetime.fromisoformat(store.state["watermark"].replace("Z", "+00:00"))
    acc.sim.store._frozen = int(mark.timestamp())  # writes land on the watermark's second
    old = sorted(acc.incident_ids("resolved"))[5]
    acc.note(old, "at the watermark")
    first = store.sync(progress=False)
    assert first.changed == 1 and first.log_entries == 1
    assert first.watermark == mark
    acc.note(sorted(acc.incident_ids("resolved"))[6], "again, same second")
    second = store.sync(progress=False)
    assert second.changed == 1 and second.log_entries == 1
    quiet = store.sync(progress=False)
    assert (quiet.new, quiet.changed, quiet.log_entries) == (0, 0, 0)
    check(acc, store, since)


def test_a_late_log_entry_inside_the_overlap_is_caught(tmp_path: Path) -> None:
    acc = SimAccount(150, months=2)
    since = NOW - dt.timedelta(days=70)
    store = _store(acc, tmp_path, since)
    late = sorted(acc.incident_ids("triggered") + acc.incident_ids("acknowledged"))[0]
    acc.advance(120)
    acc.set_status(late, "resolved")  # at T
    acc.advance(60)
    acc.create("new at T+60")  # the watermark moves to T+60, past the hidden entry

    def hide(path: str, query: str, body: bytes) -> bytes:
        if path != "/log_entries":
            return body
        data = json.loads(body)
        kept = [e for e in data["log_entries"] if e["incident"]["id"] != late]
        if isinstance(data.get("total"), int):
            data["total"] -= len(data["log_entries"]) - len(kept)
        data["log_entries"] = kept
        return json.dumps(data).encode()

    acc.rewrite = hide  # the resolve entry has not reached the API's log yet
    first = store.sync(progress=False)
    assert first.new == 1
    assert store.incidents(statuses="resolved").id.eq(late).sum() == 0
    acc.rewrite = None  # now it has, with its older timestamp (T < watermark, inside overlap)
    assert OVERLAP >= dt.timedelta(seconds=60)
    second = store.sync(progress=False)
    assert second.changed == 1
    assert store.incidents(statuses="resolved").id.eq(late).sum() == 1
    check(acc, store, since)


def test_more_than_10000_changed_log_entries(tmp_path: Path) -> None:
    acc = SimAccount(1500, months=2, seed=3)
    since = NOW - dt.timedelta(days=70)
    store = _store(acc, tmp_path, since)
    ids = sorted(acc.incident_ids())
    for n in range(10_200):
        if n % 25 == 0:
            acc.advance(1)
        acc.note(ids[(n * 7) % len(ids)], f"n{n}")
    acc.calls.clear()
    report = store.sync(progress=False)
    assert report.log_entries == 10_200
    assert report.changed == len(ids)
    assert acc.status[429] == 0
    check(acc, store, since)


def test_an_incident_created_before_the_window_and_changed_inside_it(tmp_path: Path) -> None:
    acc = SimAccount(300, months=6)
    since = NOW - dt.timedelta(days=30)
    store = _store(acc, tmp_path, since)
    old = next(
        i.id for i in acc.sim.account.incidents if i.created_at < since.timestamp() - 86400 * 10
    )
    acc.advance(30)
    acc.note(old, "still hurting")
    acc.set_status(old, "resolved")
    report = store.sync(progress=False)
    assert report.outside_window == 1 and report.new == 0 and report.changed == 0
    assert old not in set(store.incidents().id)
    assert set(store.log_entries(incident_ids=old).type) >= {"annotate_log_entry"}
    check(acc, store, since)
    again = store.sync(progress=False)
    assert again.outside_window == 0 and again.requests <= 3


def test_a_key_for_another_account_is_refused(tmp_path: Path) -> None:
    acc = SimAccount(100, months=2)
    since = NOW - dt.timedelta(days=70)
    store = _store(acc, tmp_path, since)
    before = store.state
    other = SimAccount(100, months=2, seed=9, subdomain="globex")
    store.transport = other.transport
    with pytest.raises(StoreAccountError, match=r"acme\.pagerduty\.com.*globex\.pagerduty\.com"):
        store.sync(progress=False)
    assert store.state == before
    assert other.calls == {"/users": 1}  # refused before fetching anything else
    store.transport = acc.transport
    store.sync(progress=False)
    check(acc, store, since)


def test_recent_and_old_changes_take_few_requests(tmp_path: Path) -> None:
    acc = SimAccount(3000, months=12)
    since = NOW - dt.timedelta(days=370)
    store = _store(acc, tmp_path, since)
    full = store.sql("select value from sync_state where key = 'last_report'").value.iloc[0]
    full_requests = json.loads(full)["requests"]
    inc = acc.sim.account.incidents
    recent = [i.id for i in inc[-300:]]
    old = [inc[100].id, inc[900].id, inc[1700].id]
    acc.advance(60)
    for k, iid in enumerate(recent[::3][:97]):
        acc.note(iid, f"r{k}")
    for iid in old:
        acc.note(iid, "old")
    report = store.sync(progress=False)
    assert report.changed == 100
    assert report.per_incident == 3 and report.windows >= 1
    assert report.requests <= max(10, full_requests // 50), (report, full_requests)
    check(acc, store, since)


def test_asking_for_more_history_extends_the_store(tmp_path: Path) -> None:
    acc = SimAccount(400, months=6)
    store = _store(acc, tmp_path, NOW - dt.timedelta(days=30))
    n30 = len(store.incidents())
    report = store.sync(since=NOW - dt.timedelta(days=90), progress=False)
    assert report.new > 0 and len(store.incidents()) == n30 + report.new
    check(acc, store, NOW - dt.timedelta(days=90))


def test_first_sync_without_ack_times_then_incremental(tmp_path: Path) -> None:
    acc = SimAccount(200, months=2)
    since = NOW - dt.timedelta(days=70)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    store.sync(since=since, progress=False, ack_times=False)
    assert store.log_entries().empty  # no history log: only what changes from now on
    assert store.state["ack_times"] == "false"
    acc.advance(10)
    iid = sorted(acc.incident_ids("triggered"))[0]
    acc.set_status(iid, "acknowledged")
    acc.advance(10)
    acc.set_status(iid, "resolved")
    store.sync(progress=False)
    row = store.incidents().set_index("id").loc[iid]
    assert row.status == "resolved" and row.acknowledged_at == row.acknowledged_at  # not NaT


# -- the planner ---------------------------------------------------------------------------------


def test_plan_dense_changes_take_one_window() -> None:
    known = np.arange(0, 1000)
    plan = plan_refetch([(f"P{t}", t) for t in range(900, 1000, 2)], known)
    assert plan.windows == [(900, 999)] and plan.singles == [] and plan.requests == 1


def test_plan_sparse_changes_take_one_request_each() -> None:
    known = np.arange(0, 100_000)
    targets = [("A", 10), ("B", 50_000), ("C", 99_000)]
    plan = plan_refetch(targets, known)
    assert plan.windows == [] and [s[0] for s in plan.singles] == ["A", "B", "C"]
    assert plan.requests == 3


def test_plan_mixes_and_never_costs_more_than_singles() -> None:
    rng = np.random.default_rng(4)
    known = np.sort(rng.integers(0, 10**6, 20_000))
    for _ in range(20):
        picks = rng.choice(known, size=int(rng.integers(1, 300)), replace=False)
        targets = [(f"P{i}", int(t)) for i, t in enumerate(picks)]
        plan = plan_refetch(targets, known)
        assert plan.requests <= len(targets)
        covered = {iid for iid, t in plan.singles} | {
            iid for iid, t in targets if any(a <= t < b for a, b in plan.windows)
        }
        assert covered == {iid for iid, _ in targets}
        cost = len(plan.singles) + sum(
            max(1, -(-int(np.searchsorted(known, b) - np.searchsorted(known, a)) // 100))
            for a, b in plan.windows
        )
        assert cost == plan.requests


def test_plan_many_changes_use_the_greedy_plan() -> None:
    known = np.arange(0, 50_000)
    targets = [(f"P{t}", int(t)) for t in range(0, 50_000, 10)]
    plan = plan_refetch(targets, known)
    assert plan.requests <= 500 and len(plan.windows) >= 1


def test_since_all_fetches_the_whole_history(tmp_path: Path) -> None:
    acc = SimAccount(300, months=14)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    report = store.sync(since="all", progress=False)
    assert report.new == 300
    first = min(i.created_at for i in acc.sim.account.incidents)
    assert report.since == dt.datetime.fromtimestamp(first, dt.timezone.utc)
    check(acc, store, report.since)


def test_max_age_skips_a_recent_sync_without_a_request(tmp_path: Path) -> None:
    acc = SimAccount(100, months=2)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    store.sync(since=NOW - dt.timedelta(days=70), progress=False, max_age="1h")
    before = acc.requests
    skipped = store.sync(progress=False, max_age="1h")
    assert acc.requests == before and skipped.requests == 0
    assert skipped.notes and "skipped" in skipped.notes[0]
    assert skipped.watermark is not None
    # Older than max_age, or more history asked for: a real sync.
    assert store.sync(progress=False, max_age=0).requests > 0
    wider = store.sync(since=NOW - dt.timedelta(days=80), progress=False, max_age="1h")
    assert wider.requests > 0 and not wider.notes


def test_the_write_ahead_log_stays_short_over_many_small_syncs(tmp_path: Path) -> None:
    acc = SimAccount(400, months=2)
    store = _store(acc, tmp_path, NOW - dt.timedelta(days=70))
    wal = store.path.with_name(store.path.name + ".wal")
    ids = sorted(acc.incident_ids())
    sizes = []
    for round_ in range(25):
        acc.advance(30)
        for iid in ids[round_ * 15 : round_ * 15 + 15]:
            acc.note(iid, "x" * 2000)
        assert store.sync(progress=False).changed == 15
        sizes.append(wal.stat().st_size if wal.exists() else 0)
    assert max(sizes) < 2 * 2**20, sizes  # checkpointed past ~1 MB, not DuckDB's 16 MB
    assert min(sizes[5:]) < max(sizes)  # ...and it did checkpoint on the way


def test_a_first_sync_stages_its_pages_while_it_fetches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first sync converts and stages batches as pages arrive (before its last request),
    # writes the store in one transaction at the end, and leaves no staging file behind.
    from atlas_canvas.pagerduty import _sync

    events: list[str] = []
    flush, finish = _sync._Stager._flush, _sync._Stager.finish

    def spy_flush(self: Any, con: Any, kind: str, pending: Any) -> None:
        if pending[kind]:
            events.append(f"{kind}@{acc.requests}")
        flush(self, con, kind, pending)

    async def spy_finish(self: Any, *args: Any) -> None:
        events.append(f"finish@{acc.requests}")
        await finish(self, *args)

    monkeypatch.setattr(_sync._Stager, "BATCH", 100)
    monkeypatch.setattr(_sync._Stager, "_flush", spy_flush)
    monkeypatch.setattr(_sync._Stager, "finish", spy_finish)
    acc = SimAccount(400, seed=5)

    # Each answer takes 30 ms, as over a network (the in-process simulator answers at once).
    def slow(path: str, query: str, body: bytes) -> bytes:
        time.sleep(0.03)
        return body

    acc.rewrite = slow
    path = tmp_path / "pd.duckdb"
    stale = tmp_path / "pd.duckdb.stage"
    stale.write_bytes(b"left by a killed sync")
    store = open_store(path=path, transport=acc.transport)
    since = NOW - dt.timedelta(days=400)
    store.sync(since=since, progress=False)
    assert not stale.exists()
    at = [e.startswith("finish@") for e in events].index(True)
    last = int(events[at].split("@")[1])  # every request was made by then
    staged_early = [e for e in events[:at] if int(e.split("@")[1]) < last]
    assert any(e.startswith("incidents@") for e in staged_early), events
    assert any(e.startswith("entries@") for e in staged_early), events
    check(acc, store, since)


def test_a_first_sync_that_fails_leaves_the_store_empty_and_no_staging(tmp_path: Path) -> None:
    acc = SimAccount(400, seed=6)
    acc.fail_after = 12  # the API goes away after some pages were staged
    path = tmp_path / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)
    with pytest.raises(UpstreamUnreachableError):
        store.sync(since=NOW - dt.timedelta(days=400), progress=False)
    assert not (tmp_path / "pd.duckdb.stage").exists()
    assert len(store.incidents()) == 0 and "watermark" not in store.state
    acc.fail_after = None
    store.sync(since=NOW - dt.timedelta(days=400), progress=False)
    check(acc, store, NOW - dt.timedelta(days=400))


def test_the_watermark_is_the_newest_time_in_any_form() -> None:
    # Times in the API's usual form ("...Z", whole seconds) are compared as text and only the
    # greatest is parsed; every other form is parsed, and an impossible date is skipped.
    from atlas_canvas.pagerduty._sync import _watermark

    def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> Any:
        return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=dt.timezone.utc)

    def entries(*times: Any) -> list[dict[str, Any]]:
        return [{"created_at": t} for t in times]

    assert _watermark(entries("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"), []) == utc(
        2025, 1, 2
    )
    # an offset later in the day than the plain text's time, but earlier in UTC, and back
    assert _watermark(entries("2025-01-01T01:00:00Z", "2025-01-01T01:30:00+01:00"), []) == utc(
        2025, 1, 1, 1
    )
    assert _watermark(entries("2025-01-01T00:00:00Z", "2025-01-01T03:00:00+01:00"), []) == utc(
        2025, 1, 1, 2
    )
    # fractions sort before "Z" as text, but name a later time
    assert _watermark(entries("2025-01-01T00:00:05Z", "2025-01-01T00:00:05.500Z"), []) == utc(
        2025, 1, 1, 0, 0, 5, 500_000
    )
    # month 13 is no time: the rest still count
    assert _watermark(entries("2025-13-01T00:00:00Z", "2024-06-01T00:00:00Z"), []) == utc(
        2024, 6, 1
    )
    assert _watermark(entries(None, "", "not a time"), []) is None
    # no log entries: the incidents' own times, the newest of their three fields
    records = [
        {"created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-03-01T00:00:00Z"},
        {"created_at": "2025-02-01T00:00:00Z", "last_status_change_at": "2025-02-02T00:00:00Z"},
    ]
    assert _watermark([], records) == utc(2025, 3, 1)
    assert _watermark(entries(None), records) == utc(2025, 3, 1)
