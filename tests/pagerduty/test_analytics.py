"""mtta_mttr states its basis: how many incidents had an ack time / were resolved."""

from __future__ import annotations

import pandas as pd
import pytest

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty._analytics import mtta_mttr
from atlas_canvas.pagerduty._frame import incidents_frame

from .fakepd import make_incidents


def as_listed_by_pagerduty(n: int) -> pd.DataFrame:
    recs = make_incidents(n)
    for r in recs:
        if r["status"] == "resolved":
            r["acknowledgements"] = []  # PagerDuty clears them on resolve
    return incidents_frame(recs)


def test_acknowledged_counts_incidents_with_an_ack_time_not_status() -> None:
    df = as_listed_by_pagerduty(30)  # 10 triggered, 10 acknowledged, 10 resolved
    row = mtta_mttr(df, by=None).iloc[0]
    assert row["incidents"] == 30
    assert row["acknowledged"] == 10  # the resolved ones have no ack time here
    assert row["resolved"] == 10
    assert row["mtta"] == pd.Timedelta(minutes=5)
    # once filled in (as with_ack_times does), the basis grows and MTTA follows it
    filled = df.copy()
    resolved = filled["status"] == "resolved"
    filled.loc[resolved, "time_to_ack"] = pd.Timedelta(minutes=65)
    row = mtta_mttr(filled, by=None).iloc[0]
    assert row["acknowledged"] == 20
    assert row["mtta"] == pd.Timedelta(minutes=35)


def test_per_group_counts_add_up() -> None:
    df = as_listed_by_pagerduty(60)
    table = mtta_mttr(df, by="urgency")
    assert table["incidents"].sum() == 60
    assert table["acknowledged"].sum() == int(df["time_to_ack"].notna().sum())
    assert list(table.columns[:2]) == ["incidents", "acknowledged"]


def test_bad_grouping_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="did you mean 'service'"):
        mtta_mttr(as_listed_by_pagerduty(3), by="servce")  # type: ignore[arg-type]


def _times(acks: list[float | None], resolves: list[float | None], **extra: object) -> pd.DataFrame:
    n = len(acks)
    return pd.DataFrame(
        {
            "time_to_ack": pd.to_timedelta(acks, unit="s"),
            "time_to_resolve": pd.to_timedelta(resolves, unit="s"),
            "created_at": pd.to_datetime(["2026-01-05"] * n, utc=True),
            "service": ["a"] * n,
            **extra,
        }
    )


def test_percentiles_beside_the_mean() -> None:
    acks = [float(s) for s in range(60, 1060, 10)]  # 100 values, 60 s .. 1050 s
    row = mtta_mttr(_times(acks, [a * 10 for a in acks])).iloc[0]
    assert row["p50_tta"] == row["median_tta"] == pd.Timedelta(seconds=555)
    assert row["p90_tta"] == pd.Timedelta(seconds=951)  # linear interpolation, like numpy
    assert row["p95_tta"] == pd.Timedelta(seconds=1000.5).round("1s")
    assert row["p95_ttr"] == pd.Timedelta(seconds=10005)
    assert row["mtta"] == pd.Timedelta(seconds=555)
    # No escalation counts without PagerDuty's escalation_count column.
    assert "escalations" not in mtta_mttr(_times([1.0], [2.0])).columns


def test_escalation_counts_and_missing_times() -> None:
    df = _times([60.0, None, 600.0], [600.0, 900.0, None], escalation_count=[0, 2, 1])
    row = mtta_mttr(df, by=None).iloc[0]
    assert (row["escalated"], row["escalations"]) == (2, 3)
    assert row["p50_tta"] == pd.Timedelta(seconds=330) and row["acknowledged"] == 2
    assert row["resolved"] == 2 and row["p90_ttr"] == pd.Timedelta(seconds=870)
