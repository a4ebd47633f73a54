"""Responder figures: PagerDuty's hour kinds and unique interruptions, both data sources.

The pure rules (:mod:`atlas_canvas.pagerduty._figures`) are tested at their edges; then
``analytics_incidents()`` and ``responder_load()`` against the simulator: the Analytics API
and the computed fallback give the same frames, the plan without analytics falls back with a
one-line note, a user-level key without filters gets PagerDuty's rule explained.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty import analytics_incidents, mtta_mttr, responder_load
from atlas_canvas.pagerduty._figures import (
    UNIQUE_INTERRUPTION_WINDOW,
    Event,
    hour_kind,
    incident_figures,
    interruptions,
    percentile,
)

from .oncall_sim import USER_TOKEN, SimTransport

WEEK = {"since": "2026-05-01", "until": "2026-05-08"}


def at(text: str, zone: str) -> float:
    """Epoch seconds of a local wall-clock time in ``zone``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(zone)).timestamp()


# -- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "kind"),
    [
        ("2026-03-04 07:59:59", "sleep"),  # Wednesday
        ("2026-03-04 08:00:00", "business"),
        ("2026-03-04 17:59:59", "business"),
        ("2026-03-04 18:00:00", "off"),
        ("2026-03-04 21:59:59", "off"),
        ("2026-03-04 22:00:00", "sleep"),
        ("2026-03-07 12:00:00", "off"),  # Saturday daytime
        ("2026-03-08 08:00:00", "off"),  # Sunday morning
        ("2026-03-07 23:30:00", "sleep"),  # Saturday night is sleep, not off
        ("2026-03-09 08:00:00", "business"),  # Monday
    ],
)
def test_hour_kinds_at_the_edges(local: str, kind: str) -> None:
    for zone in ("America/Los_Angeles", "Asia/Kolkata", "Europe/Berlin"):
        assert hour_kind(at(local, zone), zone) == kind


def test_dst_change_uses_the_local_clock() -> None:
    zone = "America/New_York"
    # 2026-03-08: clocks jump 02:00 -> 03:00. 07:59 and 08:00 local straddle the business edge
    # on the Monday after, though the UTC hour moved by one against the week before.
    before = at("2026-03-06 08:00:00", zone)  # Friday, EST (13:00 UTC)
    after = at("2026-03-09 08:00:00", zone)  # Monday, EDT (12:00 UTC)
    assert dt.datetime.fromtimestamp(before, dt.timezone.utc).hour == 13
    assert dt.datetime.fromtimestamp(after, dt.timezone.utc).hour == 12
    assert hour_kind(before, zone) == hour_kind(after, zone) == "business"
    assert hour_kind(after - 1, zone) == "sleep"
    # 12:00 UTC on the Monday before the change was 07:00 EST: still sleep hours.
    assert hour_kind(dt.datetime(2026, 3, 2, 12, tzinfo=dt.timezone.utc).timestamp(), zone) == (
        "sleep"
    )
    # Autumn: 2026-11-01 01:30 happens twice; both are sleep.
    first = at("2026-11-01 01:30:00", zone)
    assert hour_kind(first, zone) == hour_kind(first + 3600, zone) == "sleep"


def test_one_incident_pages_kolkata_and_los_angeles() -> None:
    # 2026-05-06 03:00 UTC: 08:30 Wednesday in Kolkata (UTC+5:30), 20:00 Tuesday in LA.
    t = dt.datetime(2026, 5, 6, 3, 0, tzinfo=dt.timezone.utc).timestamp()
    zones = {"IN": "Asia/Kolkata", "LA": "America/Los_Angeles"}
    events = [
        Event("assign", t, "IN", "auto"),
        Event("notify", t + 5, "IN", "auto", "push_notification"),
        Event("escalate", t + 1800, "LA", "timeout"),
        Event("notify", t + 1805, "LA", "auto", "push_notification"),
    ]
    found = {i.user: i.kind for i in interruptions(events, zones)}
    assert found == {"IN": "business", "LA": "off"}
    f = incident_figures(t, None, events, zones)
    assert f["total_interruptions"] == 2
    assert (f["business_hour_interruptions"], f["off_hour_interruptions"]) == (1, 1)
    assert f["timeout_escalation_count"] == 1 and f["escalation_count"] == 1
    assert f["assigned_user_ids"] == ["IN", "LA"]


def test_unique_interruptions_and_what_interrupts() -> None:
    t = at("2026-05-06 03:00:00", "Europe/Berlin")
    zones = {"U": "Europe/Berlin"}
    rule = [
        Event("notify", t + 5, "U", "auto", "push_notification"),
        Event("notify", t + 5, "U", "auto", "email_notification"),
        Event("notify", t + 65, "U", "auto", "sms_notification"),
        Event("notify", t + 305, "U", "auto", "phone_notification"),
    ]
    once = incident_figures(t, None, rule, zones)
    assert once["total_notifications"] == 4
    assert once["total_interruptions"] == once["sleep_hour_interruptions"] == 1
    # A page just inside the window still counts once; one at the window's end is new.
    late = Event("notify", t + 5 + UNIQUE_INTERRUPTION_WINDOW, "U", "auto", "push_notification")
    inside = Event("notify", t + 4 + UNIQUE_INTERRUPTION_WINDOW, "U", "auto", "sms_notification")
    assert incident_figures(t, None, [*rule, inside], zones)["total_interruptions"] == 1
    assert incident_figures(t, None, [*rule, late], zones)["total_interruptions"] == 2
    # An email alone interrupts nobody.
    email = [Event("notify", t, "U", "auto", "email_notification")]
    assert incident_figures(t, None, email, zones)["total_interruptions"] == 0


def test_an_incident_with_no_notification() -> None:
    t = at("2026-05-09 12:00:00", "America/New_York")  # a Saturday
    events = [Event("trigger", t), Event("resolve", t + 120, None, "timeout")]
    f = incident_figures(t, t + 120, events, {})
    assert f["total_notifications"] == f["total_interruptions"] == 0
    assert f["seconds_to_resolve"] == 120 and f["auto_resolved"] is True
    assert f["seconds_to_first_ack"] is None and f["engaged_user_count"] == 0


def test_percentile_is_linear() -> None:
    assert percentile([], 50) is None
    assert percentile([10], 95) == 10
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([0, 100], 90) == pytest.approx(90)


# -- both sources over the simulator --------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> SimTransport:
    return SimTransport()


def test_analytics_and_computed_agree(sim: SimTransport) -> None:
    sim.calls.clear()
    api = analytics_incidents(**WEEK, transport=sim.transport)
    assert api.attrs["source"] == "analytics"
    assert sim.calls["/analytics/raw/incidents"] == 1  # one 1,000-row page holds the week
    computed = analytics_incidents(**WEEK, transport=sim.transport, source="computed")
    assert computed.attrs["source"] == "computed"
    assert len(api) > 20
    pd.testing.assert_frame_equal(api[computed.columns], computed)
    assert api["created_at"].dtype == "datetime64[ns, UTC]"
    assert str(api["seconds_to_first_ack"].dtype) == "Int64"
    assert api["total_interruptions"].sum() > 0
    both = api["business_hour_interruptions"] + api["off_hour_interruptions"]
    assert (both + api["sleep_hour_interruptions"] == api["total_interruptions"]).all()


def test_responder_load_sources_agree(sim: SimTransport) -> None:
    api = responder_load(**WEEK, transport=sim.transport)
    computed = responder_load(**WEEK, transport=sim.transport, source="computed")
    assert (api.attrs["source"], computed.attrs["source"]) == ("analytics", "computed")
    pd.testing.assert_frame_equal(api, computed)
    # The interface's columns, in its order (more may follow them).
    assert list(api.columns[:12]) == [
        "user_id", "user", "time_zone", "incidents", "acknowledged", "notifications",
        "interruptions", "business_hour_interruptions", "off_hour_interruptions",
        "sleep_hour_interruptions", "oncall_hours", "load_share",
    ]  # fmt: skip
    kinds = api[
        ["business_hour_interruptions", "off_hour_interruptions", "sleep_hour_interruptions"]
    ].sum(axis=1)
    assert (kinds == api["interruptions"]).all()
    assert api["load_share"].sum() == pytest.approx(1.0)
    assert api["oncall_hours"].max() == pytest.approx(7 * 24)  # someone held a whole week
    assert set(api["time_zone"]) >= {"Europe/Berlin", "America/New_York"}


def test_plan_without_analytics_falls_back_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = SimTransport(plan="professional")
    df = analytics_incidents(**WEEK, transport=plain.transport)
    err = capsys.readouterr().err
    assert df.attrs["source"] == "computed" and "Business plan" in df.attrs["note"]
    assert err.count("\n") == 1 and err.startswith("note: ") and "Traceback" not in err
    load = responder_load(**WEEK, transport=plain.transport)
    assert load.attrs["source"] == "computed" and len(load) > 5
    with pytest.raises(UsageError, match="not available"):
        analytics_incidents(**WEEK, transport=plain.transport, source="analytics")


def test_user_level_key_needs_a_team_or_service(sim: SimTransport) -> None:
    user = SimTransport(token=USER_TOKEN)
    with pytest.raises(UsageError) as info:
        analytics_incidents(**WEEK, transport=user.transport)
    assert "user-level API key" in str(info.value) and "team_ids=" in str(info.value)
    team = user.sim.account.teams[1].id
    rows = analytics_incidents(**WEEK, team_ids=team, transport=user.transport)
    assert len(rows) and set(rows["team_id"]) == {team}


def test_analytics_pages_hold_1000_rows() -> None:
    big = SimTransport(incidents=6000)
    df = analytics_incidents(
        since="2025-06-01T12:00:00Z", until="2026-06-01T12:00:00Z", transport=big.transport
    )
    assert len(df) == 6000 and df["id"].is_unique
    # Month slices, each one cursor chain of 1,000-row pages: far fewer than 100-row lists.
    assert big.calls["/analytics/raw/incidents"] <= 6000 // 1000 + 13
    assert df.attrs["fetch"]["requests"] == big.calls["/analytics/raw/incidents"]


def test_mtta_mttr_reads_an_analytics_frame(sim: SimTransport) -> None:
    rows = analytics_incidents(**WEEK, transport=sim.transport)
    table = mtta_mttr(rows, by="team")
    assert {"p50_tta", "p90_tta", "p95_tta", "escalated", "escalations"} <= set(table.columns)
    assert table["escalations"].sum() == rows["escalation_count"].sum()
    assert table["incidents"].sum() == len(rows)


def test_bad_arguments() -> None:
    with pytest.raises(UsageError, match="source"):
        analytics_incidents(source="guess")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="before since"):
        responder_load(since="2026-05-08", until="2026-05-01")


def test_older_than_the_analytics_retention_falls_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    short = SimTransport(analytics_retention_days=60)  # the simulator's clock: 2026-06-01
    recent = analytics_incidents(since="2026-05-01", until="2026-05-08", transport=short.transport)
    assert recent.attrs["source"] == "analytics"
    old = analytics_incidents(since="2026-01-01", until="2026-01-08", transport=short.transport)
    assert old.attrs["source"] == "computed" and "that old" in old.attrs["note"]
    assert "within the last 60 days" in old.attrs["note"]
    assert capsys.readouterr().err.count("note: ") == 1
    computed = analytics_incidents(
        since="2026-01-01", until="2026-01-08", transport=short.transport, source="computed"
    )
    pd.testing.assert_frame_equal(old, computed)
