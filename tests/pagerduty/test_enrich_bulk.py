"""with_ack_times over a simulated account: the account-wide log and the per-incident lists agree.

The simulator answers in-process through an httpx MockTransport (no sockets), so the request
counts of each path can be checked exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import httpx
import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty import _enrich
from atlas_canvas.pagerduty._enrich import with_ack_times_async
from atlas_canvas.pagerduty._frame import incidents_frame
from atlas_canvas.pagerduty._pager import fetch_incident_records
from atlas_canvas.pagerduty._query import IncidentQuery
from atlas_canvas.simulator import SimulatorConfig
from atlas_canvas.simulator._handler import Simulator

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
PREFIX = "/v1/apis/http/pagerduty"


class SimTransport:
    """Routes Atlas proxy paths to a simulator; counts requests per kind of path."""

    def __init__(self, incidents: int = 1200, *, account_log: bool = True) -> None:
        self.sim = Simulator(
            SimulatorConfig(
                seed=5, incidents=incidents, token="tok", now=NOW, rate_limit_per_min=10**6
            )
        )
        self.account_log = account_log
        self.calls: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        kind = "incident_log" if path.endswith("/log_entries") and path != "/log_entries" else path
        self.calls[kind] += 1
        if path == "/log_entries" and not self.account_log:
            return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})
        reply = self.sim.handle(
            request.method,
            path,
            request.url.query.decode(),
            {"authorization": "Token token=tok"},
        )
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


async def frame(sim: SimTransport) -> pd.DataFrame:
    records, _ = await fetch_incident_records(
        IncidentQuery.build(date_range="all"), transport=sim.transport, progress=False
    )
    sim.calls.clear()
    return incidents_frame(records, adapter="pagerduty")


def truth(sim: SimTransport) -> dict[str, pd.Timestamp]:
    """First acknowledgement of each incident, straight from the simulator's model."""
    out = {}
    for inc in sim.sim.account.incidents:
        if inc.ack_at and inc.ack_by >= 0:
            out[inc.id] = pd.Timestamp(inc.ack_at, unit="s", tz="UTC")
    return out


async def test_account_log_and_per_incident_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = SimTransport()
    df = await frame(sim)
    recent = df[df.created_at >= df.created_at.max() - pd.Timedelta(days=60)]
    missing = recent.acknowledged_at.isna() & (recent.status == "resolved")
    assert missing.sum() > 100  # the list really lost them

    bulk = await with_ack_times_async(recent, transport=sim.transport)
    assert sim.calls["incident_log"] == 0
    assert 0 < sim.calls["/log_entries"] < missing.sum() / 3
    sim.calls.clear()

    monkeypatch.setattr(_enrich, "SMALL_SET", 10**9)  # force one request per incident
    one_by_one = await with_ack_times_async(recent, transport=sim.transport)
    assert sim.calls["incident_log"] == missing.sum() and sim.calls["/log_entries"] == 0

    pd.testing.assert_series_equal(bulk.acknowledged_at, one_by_one.acknowledged_at)
    pd.testing.assert_series_equal(bulk.time_to_ack, one_by_one.time_to_ack)
    filled = bulk[missing]
    assert filled.acknowledged_at.notna().sum() > 100
    expected = truth(sim)
    for iid, at in zip(filled.id, filled.acknowledged_at, strict=True):
        assert (pd.isna(at) and iid not in expected) or at == expected[iid]
    assert (filled.time_to_ack.dropna() > pd.Timedelta(0)).all()
    # rows that had an ack time, or are not resolved, are untouched
    pd.testing.assert_series_equal(bulk.acknowledged_at[~missing], recent.acknowledged_at[~missing])


async def test_account_log_lifts_the_request_guard() -> None:
    sim = SimTransport()
    df = await frame(sim)
    missing = int((df.acknowledged_at.isna() & (df.status == "resolved")).sum())
    # more incidents than max_requests, but the account-wide log takes far fewer pages
    out = await with_ack_times_async(df, max_requests=missing // 4, transport=sim.transport)
    assert sim.calls["incident_log"] == 0
    assert out.acknowledged_at.notna().sum() > df.acknowledged_at.notna().sum()
    # both ways too dear: refused before any page is fetched, saying what each would cost
    sim.calls.clear()
    with pytest.raises(UsageError, match=r"one log-entries request each.*pages") as info:
        await with_ack_times_async(df, max_requests=3, transport=sim.transport)
    assert "max_requests" in str(info.value.hint)
    assert sim.calls["incident_log"] == 0
    span = df.resolved_at.max() - df.created_at.min()
    # only the total=true probes, one per window of at most 179 days
    assert sim.calls == Counter({"/log_entries": -(-span // pd.Timedelta(days=179))})


async def test_small_sets_and_spread_out_sets_go_per_incident() -> None:
    sim = SimTransport()
    df = await frame(sim)
    resolved = df[df.acknowledged_at.isna() & (df.status == "resolved")]
    await with_ack_times_async(resolved.head(10), transport=sim.transport)
    assert sim.calls == Counter({"incident_log": 10})  # no probe for a handful
    sim.calls.clear()
    # 30 incidents spread over the whole account: its log of that time is far more pages
    spread = resolved.iloc[:: max(1, len(resolved) // 30)].head(30)
    out = await with_ack_times_async(spread, transport=sim.transport)
    assert sim.calls["incident_log"] == 30
    assert sim.calls["/log_entries"] <= 2  # the probes
    assert out.acknowledged_at.notna().sum() > 0


async def test_falls_back_when_the_account_log_is_missing() -> None:
    sim = SimTransport(account_log=False)
    df = await frame(sim)
    recent = df[df.created_at >= df.created_at.max() - pd.Timedelta(days=20)]
    need = int((recent.acknowledged_at.isna() & (recent.status == "resolved")).sum())
    assert need > _enrich.SMALL_SET
    out = await with_ack_times_async(recent, transport=sim.transport)
    assert sim.calls["/log_entries"] == 1 and sim.calls["incident_log"] == need
    assert out.acknowledged_at.notna().sum() > recent.acknowledged_at.notna().sum()


async def test_account_log_past_the_offset_cap_is_split_by_time() -> None:
    sim = SimTransport(incidents=8000)
    df = await frame(sim)
    span = df[df.created_at >= df.created_at.max() - pd.Timedelta(days=170)]
    missing = span.acknowledged_at.isna() & (span.status == "resolved")
    out = await with_ack_times_async(span, transport=sim.transport)
    assert sim.calls["incident_log"] == 0
    # more than 10,000 important entries in that time: one window could not page them all
    probe = sim.sim.handle(
        "GET",
        "/log_entries",
        "is_overview=true&total=true&limit=1&since="
        + span.created_at.min().strftime("%Y-%m-%dT%H:%M:%SZ")
        + "&until=2026-01-06T00:00:00Z",
        {"authorization": "Token token=tok"},
    )
    assert json.loads(probe.body)["total"] > 10_000
    expected = truth(sim)
    got = out[missing]
    assert got.acknowledged_at.notna().sum() > 1000
    for iid, at in zip(got.id, got.acknowledged_at, strict=True):
        assert (pd.isna(at) and iid not in expected) or at == expected[iid]
