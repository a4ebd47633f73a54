"""with_ack_times: first acknowledgement of resolved incidents from their log entries."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty._enrich import with_ack_times_async
from atlas_canvas.pagerduty._frame import incidents_frame

from .fakepd import T0, make_incident


def log_entries(request: httpx.Request) -> httpx.Response:
    iid = request.url.path.split("/")[-2]
    entries = [
        {"type": "resolve_log_entry", "created_at": "2025-01-01T01:00:00Z"},
        {"type": "acknowledge_log_entry", "created_at": "2025-01-01T00:20:00Z"},
        {"type": "acknowledge_log_entry", "created_at": "2025-01-01T00:07:00Z"},
        {"type": "trigger_log_entry", "created_at": "2025-01-01T00:00:00Z"},
    ]
    if iid == "Q00000005":  # resolved without ever being acknowledged
        entries = [e for e in entries if e["type"] != "acknowledge_log_entry"]
    assert request.url.params["is_overview"] == "true"
    return httpx.Response(
        200, json={"log_entries": entries, "limit": 100, "offset": 0, "more": False, "total": None}
    )


async def test_fills_resolved_incidents_only() -> None:
    recs = [make_incident(i, created=T0) for i in range(1, 7)]
    for r in recs:
        if r["status"] == "resolved":
            r["acknowledgements"] = []  # what PagerDuty's list shows once resolved
    df = incidents_frame(recs, adapter="pagerduty")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return log_entries(request)

    out = await with_ack_times_async(df, transport=httpx.MockTransport(handler))
    assert sorted(p.split("/")[-2] for p in seen) == ["Q00000002", "Q00000005"]
    row = out.set_index("id")
    assert row.loc["Q00000002", "acknowledged_at"] == pd.Timestamp("2025-01-01T00:07:00Z")
    assert row.loc["Q00000002", "time_to_ack"] == pd.Timedelta(minutes=7)
    assert pd.isna(row.loc["Q00000005", "acknowledged_at"])
    assert row.loc["Q00000001", "time_to_ack"] == pd.Timedelta(minutes=5)  # unchanged
    assert str(out["acknowledged_at"].dtype) == "datetime64[ns, UTC]"
    assert df["time_to_ack"].isna().sum() == 4  # the input is not modified


async def test_refuses_huge_frames_without_permission() -> None:
    recs = [make_incident(3 * i + 2, created=T0, acknowledgements=[]) for i in range(20)]
    df = incidents_frame(recs)
    with pytest.raises(UsageError, match="max_requests"):
        await with_ack_times_async(df, max_requests=10, transport=httpx.MockTransport(log_entries))
