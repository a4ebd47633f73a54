"""On-call shifts and notifications synced into the incident store (issue 11, item 4)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty import oncalls, open_store
from atlas_canvas.pagerduty._oncall_store import (
    stored_notifications,
    stored_oncalls,
    sync_oncall,
)

from .oncall_sim import SimTransport

APRIL = {"since": "2026-04-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}


def test_sync_then_read_without_requests(tmp_path: Path) -> None:
    sim = SimTransport(incidents=800)
    store = open_store("pagerduty", tmp_path / "pd.duckdb", transport=sim.transport)
    with pytest.raises(UsageError, match="no on-call data"):
        stored_oncalls(store, **APRIL)
    report = sync_oncall(store, since="2026-03-01T00:00:00Z")
    assert report.shifts > 50 and report.notifications > 100 and report.requests > 0
    assert "new notifications" in str(report)

    sim.calls.clear()
    shifts = stored_oncalls(store, **APRIL)
    notes = stored_notifications(store, since="2026-04-01", until="2026-04-08")
    assert sum(sim.calls.values()) == 0  # reading the store costs no request
    live = oncalls(**APRIL, transport=sim.transport)
    pd.testing.assert_frame_equal(shifts, live, check_like=False)
    api = sim.sim.handle(
        "GET",
        "/notifications",
        "since=2026-04-01T00:00:00Z&until=2026-04-08T00:00:00Z&limit=1&total=true",
        {"authorization": "Token token=tok"},
    )
    import json

    assert len(notes) == json.loads(api.body)["total"] > 0
    assert notes["started_at"].is_monotonic_increasing and notes["id"].is_unique


def test_incremental_sync_adds_nothing_twice(tmp_path: Path) -> None:
    sim = SimTransport(incidents=400)
    store = open_store("pagerduty", tmp_path / "pd.duckdb", transport=sim.transport)
    sync_oncall(store, since="2026-05-01T00:00:00Z")
    first = store.sql("select count(*) as n from notifications")["n"].iloc[0]
    shifts = store.sql("select count(*) as n from oncall_shifts")["n"].iloc[0]
    mark = store.state["notifications_synced_until"]
    again = sync_oncall(store)  # from the marks: no new notification, shifts replaced
    assert again.notifications == 0
    assert store.sql("select count(*) as n from notifications")["n"].iloc[0] == first
    keys = store.sql(
        'select escalation_policy_id, escalation_level, user_id, "start", count(*) as n '
        "from oncall_shifts group by all having count(*) > 1"
    )
    assert keys.empty  # no shift stored twice
    assert store.sql("select count(*) as n from oncall_shifts")["n"].iloc[0] >= shifts
    assert store.state["notifications_synced_until"] >= mark
    # The incident tables are untouched and the store still opens for its own sync.
    assert store.sql("select count(*) as n from incidents")["n"].iloc[0] == 0
