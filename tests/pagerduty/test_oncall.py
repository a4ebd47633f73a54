"""``oncalls()`` against the simulator: shifts, clipping, filters, layers, overrides."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty import oncalls
from atlas_canvas.pagerduty._oncall import ONCALL_COLUMNS

from .oncall_sim import NOW, SimTransport

MONTH = {"since": "2026-04-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
LO = pd.Timestamp("2026-04-01", tz="UTC")
HI = pd.Timestamp("2026-05-01", tz="UTC")


@pytest.fixture(scope="module")
def sim() -> SimTransport:
    return SimTransport(incidents=300)


def test_columns_types_and_clipping(sim: SimTransport) -> None:
    df = oncalls(**MONTH, transport=sim.transport)
    assert tuple(df.columns) == ONCALL_COLUMNS
    assert str(df["escalation_level"].dtype) == "Int64"
    assert df["start"].dtype == "datetime64[ns, UTC]" and df["end"].dtype == df["start"].dtype
    assert df["duration"].dtype == "timedelta64[ns]"
    assert df["start"].min() == LO and df["end"].max() == HI  # shifts over the edges are cut
    assert (df["duration"] == df["end"] - df["start"]).all()
    # Every policy level is covered the whole month: durations add up to 30 days each.
    a = sim.sim.account
    per_level = df.groupby(["escalation_policy_id", "escalation_level"])["duration"].sum()
    assert len(per_level) == 2 * len(a.escalation_policies)
    assert (per_level == pd.Timedelta(days=30)).all()
    assert df.attrs["window"]["since"].startswith("2026-04-01")


def test_the_model_agrees(sim: SimTransport) -> None:
    a = sim.sim.account
    df = oncalls(**MONTH, schedule_ids=a.schedules[0].id, transport=sim.transport)
    lo, hi = int(LO.timestamp()), int(HI.timestamp())
    expected = [
        (max(b, lo), min(e, hi), a.users[u].id)
        for b, e, u in a.schedules[0].segments
        if b < hi and e > lo
    ]
    got = [(int(r.start.timestamp()), int(r.end.timestamp()), r.user_id) for r in df.itertuples()]
    assert got == expected


def test_overlapping_layers_and_an_override(sim: SimTransport) -> None:
    a = sim.sim.account
    layered = next(s for s in a.schedules if len(s.layers) > 1)
    df = oncalls(**MONTH, schedule_ids=[layered.id], transport=sim.transport)
    # The weekend layer (Saturday 09:00 to Monday 09:00 local) wins over the weekly one.
    weekend, weekly = layered.layers[1], layered.layers[0]
    saturday = df[df["start"].dt.day_of_week == 5]
    assert len(saturday) >= 4
    differs = 0
    for row in saturday.itertuples():
        t = int(row.start.timestamp())
        if any(o.start <= t < o.end for o in layered.overrides):
            continue
        turn = (t - weekend.virtual_start) // weekend.turn_seconds
        assert row.user_id == a.users[weekend.users[turn % len(weekend.users)]].id
        differs += row.user_id != a.users[weekly.users[turn % len(weekly.users)]].id
    assert differs  # the layers really overlap with different people
    override = next(
        o for s in a.schedules for o in s.overrides if LO.timestamp() <= o.start < HI.timestamp()
    )
    sched = next(s for s in a.schedules if override in s.overrides)
    mid = dt.datetime.fromtimestamp((override.start + override.end) // 2, dt.timezone.utc)
    now = oncalls(since=mid, until=mid, schedule_ids=sched.id, transport=sim.transport)
    assert list(now["user_id"]) == [a.users[override.user].id]
    # A moment keeps the shift's own bounds: the override's.
    assert now["start"].iloc[0].timestamp() == override.start


def test_earliest_and_a_user_on_two_schedules(sim: SimTransport) -> None:
    a = sim.sim.account
    user = a.users[a.schedules[0].users[0]]
    quarter = {"since": "2026-02-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    mine = oncalls(**quarter, user_ids=user.id, transport=sim.transport)
    assert set(mine["user_id"]) == {user.id}
    assert set(mine["schedule_id"]) == {s.id for s in a.schedules if user.idx in s.users}
    assert mine["escalation_level"].nunique() == 2  # primary and secondary
    first = oncalls(**quarter, user_ids=user.id, earliest=True, transport=sim.transport)
    assert len(first) == 2 and len(first) < len(mine)
    assert set(first["start"]) == set(mine.groupby("escalation_level")["start"].min())


def test_now_and_long_windows(sim: SimTransport) -> None:
    a = sim.sim.account
    now = oncalls(transport=sim.transport)  # the simulator's clock is frozen at NOW
    assert len(now) == 2 * len(a.escalation_policies)
    assert (now["start"] <= pd.Timestamp(NOW)).all() and (now["end"] > pd.Timestamp(NOW)).all()
    sim.calls.clear()
    year = oncalls(
        since="2025-06-01T00:00:00Z",
        until="2026-06-01T00:00:00Z",
        escalation_policy_ids=a.escalation_policies[2].id,
        transport=sim.transport,
    )
    assert sim.calls["/oncalls"] >= 5  # 90-day pieces
    per_level = year.groupby("escalation_level")["duration"].sum()
    assert (per_level == pd.Timedelta(days=365)).all()  # no shift lost or doubled at the cuts


def test_bad_window() -> None:
    with pytest.raises(UsageError, match="before since"):
        oncalls(since="2026-05-02", until="2026-05-01")


def test_on_call_now_table_and_nobody() -> None:
    from atlas_canvas.pagerduty._oncall import OnCallNow, oncalls_frame

    entry = {
        "escalation_policy": {"id": "PE", "summary": "Ops <On-call>"},
        "escalation_level": 1,
        "schedule": None,  # a user targeted directly by the policy
        "user": {"id": "PU", "summary": "Ana & Bo"},
        "start": None,  # permanently on call
        "end": None,
    }
    table = OnCallNow(oncalls_frame([entry], None, None), "now")
    assert table.rows() == [("Ops <On-call>", 1, "Ana & Bo", "", "-")]
    assert "Ops &lt;On-call&gt;" in table._repr_html_() and "Ana &amp; Bo" in table._repr_html_()
    assert "Ana & Bo" in repr(table)
    nobody = OnCallNow(oncalls_frame([], None, None), "2026-01-01T00:00:00+00:00")
    assert len(nobody) == 0 and repr(nobody).startswith("nobody is on call")
    assert "Nobody" in nobody._repr_html_()
