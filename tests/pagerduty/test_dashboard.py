"""The incidents dashboard: local filtering, tiles, paging, escaping, actions, errors, scale."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pandas as pd

from atlas_canvas._errors import HTTPStatusError, UsageError
from atlas_canvas.pagerduty._charts import MIME_VEGALITE
from atlas_canvas.pagerduty._dashboard import IncidentDashboard, dashboard
from atlas_canvas.pagerduty._frame import incidents_frame

from .fakepd import T0, FakePD, make_incident, make_incidents


def board_for(n: int = 120, **kwargs: Any) -> IncidentDashboard:
    return IncidentDashboard(incidents_frame(make_incidents(n), adapter="pagerduty"), **kwargs)


def test_filters_refilter_the_loaded_frame_without_refetching() -> None:
    calls = []
    board = board_for(loader=lambda: calls.append(1) or incidents_frame([]), page_size=10)
    assert "120" in board.tiles_w.value
    board.status_w.value = ("triggered",)
    assert len(board.filtered()) == 40 and set(board.filtered()["status"]) == {"triggered"}
    board.urgency_w.value = ("high",)
    assert set(board.filtered()["urgency"]) == {"high"}
    board.service_w.value = ("Service 0",)
    assert set(board.filtered()["service"]) == {"Service 0"}
    board.search_w.value = "incident 1"
    assert all("incident 1" in t.lower() for t in board.filtered()["title"])
    board.clear_w.click()
    assert len(board.filtered()) == 120
    board.since_w.value = date(2025, 1, 10)
    board.until_w.value = date(2025, 1, 19)
    created = board.filtered()["created_at"]
    assert created.min() >= pd.Timestamp("2025-01-10", tz="UTC")
    assert created.max() < pd.Timestamp("2025-01-20", tz="UTC")
    board.team_w.value = ("Payments",)
    assert len(board.filtered()) == len(created)
    assert calls == []  # nothing was fetched


def test_tiles_show_open_triggered_mtta_mttr() -> None:
    board = board_for(30)
    tiles = board.tiles_w.value
    assert ">30<" in tiles  # incidents
    assert ">20<" in tiles  # open: triggered + acknowledged
    assert ">10<" in tiles  # triggered
    assert "5m" in tiles and "1h 0m" in tiles  # MTTA 5 min, MTTR 1 h


def test_mtta_tile_states_how_many_incidents_it_rests_on() -> None:
    recs = make_incidents(30)
    for r in recs:
        if r["status"] == "resolved":
            r["acknowledgements"] = []  # what PagerDuty's list shows once resolved
    board = IncidentDashboard(incidents_frame(recs))
    tiles = board.tiles_w.value
    # only the 10 currently acknowledged incidents carry an ack time
    assert "10 of 30 with ack times" in tiles
    assert "10 of 30 resolved" in tiles
    assert "pagerduty.with_ack_times(df)" in tiles  # the tooltip says how to fill the rest
    board.status_w.value = ("resolved",)
    assert "0 of 10 with ack times" in board.tiles_w.value
    assert "MTTA</div><div style='font-size:22px;font-weight:600;color:#333'>–<" in (
        board.tiles_w.value
    )


def _listed(n: int) -> pd.DataFrame:
    recs = make_incidents(n)
    for r in recs:
        if r["status"] == "resolved":
            r["acknowledgements"] = []  # what PagerDuty's list shows once resolved
    return incidents_frame(recs, adapter="pagerduty")


def test_load_ack_times_fills_mtta_in_place_for_the_rows_shown() -> None:
    asked: list[pd.DataFrame] = []

    def ack_loader(rows: pd.DataFrame) -> pd.DataFrame:
        asked.append(rows)
        out = rows.copy()
        out["acknowledged_at"] = out["created_at"] + pd.Timedelta(minutes=65)
        out.loc[out.index[-1], "acknowledged_at"] = pd.NaT  # one was never acknowledged
        out["time_to_ack"] = out["acknowledged_at"] - out["created_at"]
        return out

    df = _listed(30)
    board = IncidentDashboard(df, ack_loader=ack_loader)
    assert not board.ack_times_w.disabled
    board.urgency_w.value = ("low",)  # 22 low: 8 resolved, without ack times
    shown = board.filtered()
    assert f"of {len(shown)} with ack times" in board.tiles_w.value
    board.ack_times_w.click()
    (rows,) = asked
    assert set(rows["status"]) == {"resolved"} and set(rows["urgency"]) == {"low"}
    assert rows["acknowledged_at"].isna().all() and len(rows) == 8
    acked = int(shown["time_to_ack"].notna().sum()) + 7
    assert f"{acked} of {len(shown)} with ack times" in board.tiles_w.value
    assert "ack times loaded for 7 of 8 resolved incidents" in board.message_w.value
    filled = board.df.set_index("id").loc[rows["id"]]
    assert (filled["time_to_ack"].dropna() == pd.Timedelta(minutes=65)).all()
    assert df["acknowledged_at"].isna().sum() == 20  # the caller's frame is not modified
    board.urgency_w.value = ("high",)
    board.ack_times_w.click()  # the high ones are filled separately, on demand
    assert len(asked) == 2 and set(asked[1]["urgency"]) == {"high"}
    board.urgency_w.value = ("low",)
    board.ack_times_w.click()
    assert len(asked) == 2 and "already has its ack time" in board.message_w.value


def test_load_ack_times_errors_stay_inside_and_no_adapter_disables_it() -> None:
    def fail(rows: pd.DataFrame) -> pd.DataFrame:
        raise UsageError("3,000 incidents would need one log-entries request each")

    board = IncidentDashboard(_listed(12), ack_loader=fail)
    before = board.tiles_w.value
    board.ack_times_w.click()  # must not raise
    assert "log-entries request each" in board.message_w.value
    assert board.tiles_w.value == before
    assert IncidentDashboard(_listed(3)).ack_times_w.disabled


def test_dashboard_loads_ack_times_from_the_simulated_account() -> None:
    from atlas_canvas.pagerduty._api import incidents

    from .test_enrich_bulk import SimTransport

    sim = SimTransport(incidents=400)
    df = incidents("pagerduty", date_range="all", progress=False, transport=sim.transport)
    board = dashboard(df, transport=sim.transport)
    board.since_w.value = (df.created_at.max() - pd.Timedelta(days=30)).date()
    view = board.filtered()
    before = int(view["time_to_ack"].notna().sum())
    missing = int((view["acknowledged_at"].isna() & (view["status"] == "resolved")).sum())
    assert missing > 5
    board.ack_times_w.click()
    assert "⚠" not in board.message_w.value, board.message_w.value
    after = int(board.filtered()["time_to_ack"].notna().sum())
    assert before < after <= before + missing
    assert f"{after} of {len(view)} with ack times" in board.tiles_w.value


def test_table_pages_newest_first_and_escapes_titles() -> None:
    recs = make_incidents(60)
    recs[-1]["title"] = "<img src=x onerror=alert(1)>"
    recs[-1]["html_url"] = "javascript:alert(1)"
    board = IncidentDashboard(incidents_frame(recs), page_size=25)
    html = board.table_w.value
    assert "<img" not in html and "&lt;img" in html and "javascript:" not in html
    assert html.index("#60") < html.index("#59")  # newest first
    assert "rows 1–25 of 60" in board.page_w.value and board.prev_w.disabled
    board.next_w.click()
    board.next_w.click()
    assert "rows 51–60 of 60" in board.page_w.value and board.next_w.disabled
    assert len(board.select_w.options) == 10


def test_actions_need_confirmation_and_update_the_view() -> None:
    done: list[tuple[str, list[str]]] = []
    board = board_for(12, actor=lambda action, ids: done.append((action, ids)))
    board.ack_w.click()
    assert "select incidents" in board.message_w.value and done == []
    triggered = [v for label, v in board.select_w.options if "[triggered]" in label][:2]
    board.select_w.value = tuple(triggered)
    board.ack_w.click()
    assert board.confirm_box.layout.display == "flex" and "Acknowledge 2 incidents?" in (
        board.confirm_text_w.value
    )
    assert done == []
    board.cancel_w.click()
    assert done == [] and board.confirm_box.layout.display == "none"
    board.select_w.value = tuple(triggered)
    board.resolve_w.click()
    board.confirm_w.click()
    assert done == [("resolved", triggered)]
    assert set(board.df.set_index("id").loc[triggered, "status"]) == {"resolved"}
    assert "resolved 2 incidents" in board.message_w.value


def test_errors_are_shown_inside_the_dashboard() -> None:
    def fail(action: str, ids: list[str]) -> None:
        raise HTTPStatusError("PagerDuty answered 403", status=403, hint="read-only key")

    board = board_for(6, actor=fail)
    board.select_w.value = (board.select_w.options[0][1],)
    board.resolve_w.click()
    board.confirm_w.click()  # must not raise
    assert "PagerDuty answered 403" in board.message_w.value

    fake = FakePD(make_incidents(5), faults=[("401", None)])
    opened = dashboard("pagerduty", transport=fake.transport(), progress=False)
    assert "401" in opened.message_w.value and len(opened.df) == 0
    opened.refresh_w.click()  # the retry works once the API answers again
    assert len(opened.df) == 5 and "refreshed: 5 incidents" in opened.message_w.value


def test_dashboard_acts_through_the_adapter() -> None:
    fake = FakePD(make_incidents(6))
    board = dashboard(
        "pagerduty", transport=fake.transport(), progress=False, from_email="dana@example.com"
    )
    first = board.select_w.options[0][1]
    board.select_w.value = (first,)
    board.ack_w.click()
    board.confirm_w.click()
    ((method, path, body, headers),) = fake.writes
    assert (method, path) == ("PUT", "incidents") and headers["from"] == "dana@example.com"
    assert body["incidents"] == [
        {"id": first, "type": "incident_reference", "status": "acknowledged"}
    ]


def test_chart_is_vega_lite_in_widget_state() -> None:
    board = board_for(20)
    (out,) = board.chart_w.outputs
    spec = out["data"][MIME_VEGALITE]
    assert spec["$schema"].endswith("/v5.json") and spec["mark"]["type"] == "bar"
    assert sum(v["incidents"] for v in spec["data"]["values"]) == 20
    board.urgency_w.value = ("high",)
    (out,) = board.chart_w.outputs
    assert sum(v["incidents"] for v in out["data"][MIME_VEGALITE]["data"]["values"]) == 5
    bundle = board._repr_mimebundle_()
    assert bundle["text/plain"].startswith("IncidentDashboard: 5 of 20 incidents")


def test_responsive_with_50000_incidents() -> None:
    recs = [make_incident(i, created=T0 + timedelta(minutes=10 * i)) for i in range(50_000)]
    board = IncidentDashboard(incidents_frame(recs, adapter="pagerduty"), page_size=50)
    timings = []
    for change in (
        lambda: setattr(board.status_w, "value", ("triggered", "acknowledged")),
        lambda: setattr(board.search_w, "value", "incident 4"),
        lambda: setattr(board.team_w, "value", ("Payments",)),
        lambda: board.next_w.click(),
    ):
        t0 = time.perf_counter()
        change()
        timings.append(time.perf_counter() - t0)
    assert max(timings) < 1.0, timings  # typically ~30 ms each
    assert board.table_w.value.count("<tr>") == 51  # header + one page
