"""The dashboard's on-call view over the simulator (widgets driven in-process)."""

from __future__ import annotations

import httpx

from atlas_canvas.pagerduty import dashboard, responder_load
from atlas_canvas.pagerduty._charts import MIME_VEGALITE
from atlas_canvas.pagerduty._oncall_view import interruptions_chart, oncall_view

from .oncall_sim import SimTransport

WINDOW = {"since": "2026-05-01", "until": "2026-06-01"}


def test_dashboard_opens_the_oncall_view() -> None:
    sim = SimTransport(incidents=600)
    board = dashboard(**WINDOW, transport=sim.transport, progress=False)
    assert not board.oncall_box.children and sim.calls["/oncalls"] == 0  # nothing until asked
    board.oncall_w.click()
    view = board.oncall_view
    assert board.oncall_box.children == (view.widget,)
    assert view.now is not None and len(view.now) == 12
    assert "On call at now" in view.now_w.value
    load = view.load_frame
    assert load is not None and load.attrs["window"]["since"].startswith("2026-05-01")
    (out,) = view.chart_w.outputs
    values = out["data"][MIME_VEGALITE]["data"]["values"]
    assert sum(v["interruptions"] for v in values) == load["interruptions"].sum()
    assert {v["kind"] for v in values} <= {"sleep", "off", "business"}
    assert load["user"].iloc[0] in view.table_w.value
    assert "source: analytics" in view.message_w.value
    board.oncall_w.click()  # closes
    assert not board.oncall_box.children


def test_view_falls_back_and_shows_errors_inside() -> None:
    plain = SimTransport(incidents=300, plan="professional")
    view = oncall_view(**WINDOW, transport=plain.transport)
    assert "source: computed" in view.message_w.value and "Business plan" in view.message_w.value

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="<html>down</html>")

    broken = oncall_view(**WINDOW, transport=httpx.MockTransport(down))
    assert "503" in broken.now_w.value or "answered" in broken.now_w.value
    assert broken.load_frame is None and broken.message_w.value


def test_chart_orders_responders_by_load() -> None:
    sim = SimTransport(incidents=600)
    load = responder_load(**WINDOW, transport=sim.transport)
    chart = interruptions_chart(load, top=5)
    order = chart.spec["encoding"]["y"]["sort"]
    assert order == list(load[load["interruptions"] > 0]["user"].head(5))
    assert chart.summary.startswith(f"<chart: {int(load['interruptions'].sum())} interruptions")
