"""Weekly tables and charts flag the weeks the data does not cover whole."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd

from atlas_canvas.pagerduty import incidents_frame, mtta_mttr, weekly_chart

from .fakepd import make_incident

UTC = timezone.utc


def frame(since: datetime, until: datetime, *, window: bool = True) -> pd.DataFrame:
    hours = int((until - since) / timedelta(hours=6))
    records = [make_incident(i + 1, created=since + timedelta(hours=6 * i)) for i in range(hours)]
    df = incidents_frame(records, adapter="pagerduty")
    if window:
        df.attrs["window"] = {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "basis": "explicit",
        }
    return df


def test_a_window_from_wednesday_to_wednesday_has_partial_first_and_last_weeks() -> None:
    # 2025-01-08 and 2025-01-29 are Wednesdays: weeks of Jan 6 and Jan 27 are cut.
    table = mtta_mttr(
        frame(datetime(2025, 1, 8, tzinfo=UTC), datetime(2025, 1, 29, tzinfo=UTC)), by="week"
    )
    flags = {
        pd.Timestamp(str(w)).strftime("%Y-%m-%d"): bool(p) for w, p in table["partial"].items()
    }
    assert flags == {
        "2025-01-06": True,
        "2025-01-13": False,
        "2025-01-20": False,
        "2025-01-27": True,
    }
    assert table.attrs["partial_weeks"] == ["2025-01-06", "2025-01-27"]


def test_monday_to_monday_has_no_partial_week() -> None:
    table = mtta_mttr(
        frame(datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC)), by="week"
    )
    assert not table["partial"].any() and table.attrs["partial_weeks"] == []


def test_without_a_window_the_data_span_decides() -> None:
    df = frame(datetime(2025, 1, 8, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC), window=False)
    table = mtta_mttr(df, by="week")
    # data from Wednesday 8th to Sunday 19th 18:00: both weeks are only partly covered
    assert table["partial"].tolist() == [True, True]
    assert "partial" not in mtta_mttr(df, by="service").columns  # weeks only


def test_weekly_chart_marks_partial_weeks_hollow() -> None:
    table = mtta_mttr(
        frame(datetime(2025, 1, 8, tzinfo=UTC), datetime(2025, 1, 29, 12, tzinfo=UTC)), by="week"
    )
    chart = weekly_chart(table)
    covered = {(v["week"], v["week covered"]) for v in chart.spec["data"]["values"]}
    assert ("2025-01-06", "partial") in covered and ("2025-01-13", "whole") in covered
    assert chart.spec["encoding"]["fill"]["field"] == "week covered"
    assert repr(chart).endswith(", 2 partial>")
