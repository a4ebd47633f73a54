"""The incidents DataFrame: documented columns and dtypes, edge cases, escaped display."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pandas as pd
import pytest

from atlas_canvas.pagerduty._display import MIME_TYPE, IncidentTable, incidents_bundle
from atlas_canvas.pagerduty._frame import COLUMNS, RawIncidents, incidents_frame

from .fakepd import T0, make_incident, make_incidents

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"quotes\""


def test_columns_and_dtypes() -> None:
    df = incidents_frame(make_incidents(12), adapter="pagerduty")
    assert list(df.columns) == list(COLUMNS)
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert list(df["status"].cat.categories) == ["triggered", "acknowledged", "resolved"]
    assert list(df["urgency"].cat.categories) == ["high", "low"]
    for col in ("created_at", "acknowledged_at", "resolved_at"):
        assert isinstance(df[col].dtype, pd.DatetimeTZDtype) and str(df[col].dt.tz) == "UTC"
    for col in ("time_to_ack", "time_to_resolve"):
        assert pd.api.types.is_timedelta64_dtype(df[col])
    assert str(df["incident_number"].dtype) == "Int64"
    assert str(df["alert_count"].dtype) == "Int64"
    assert isinstance(df["id"].dtype, pd.StringDtype)
    row = df.iloc[1]  # incident 2: resolved, acked 5 min after creation, resolved after 1 h
    assert row["status"] == "resolved"
    assert row["time_to_ack"] == timedelta(minutes=5)
    assert row["time_to_resolve"] == timedelta(hours=1)
    assert row["service"] == "Service 2" and row["service_id"] == "PSVC2"
    assert row["teams"] == ["Payments"]


def test_empty_result_keeps_columns_and_dtypes() -> None:
    df = incidents_frame([])
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    assert isinstance(df["created_at"].dtype, pd.DatetimeTZDtype)
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)
    assert incidents_bundle(df)[MIME_TYPE]["total"] == 0


def test_missing_optional_fields() -> None:
    bare = {"id": "PBARE", "title": "bare", "created_at": "2025-01-01T00:00:00Z"}
    odd = make_incident(
        7, created=T0, priority={"summary": "P1"}, service=None, status="weird", alert_counts=None
    )
    del odd["acknowledgements"]
    df = incidents_frame([bare, odd])
    assert df.loc[0, "id"] == "PBARE" and pd.isna(df.loc[0, "status"])
    assert pd.isna(df.loc[0, "incident_number"]) and pd.isna(df.loc[0, "acknowledged_at"])
    assert df.loc[0, "teams"] == [] and df.loc[0, "assignees"] == []
    assert df.loc[1, "priority"] == "P1" and pd.isna(df.loc[1, "service"])
    assert pd.isna(df.loc[1, "status"]) and pd.isna(df.loc[1, "alert_count"])


def test_first_acknowledgement_is_the_earliest() -> None:
    inc = make_incident(3, created=T0)
    inc["acknowledgements"] = [
        {"at": "2025-01-01T00:30:00Z", "acknowledger": {"summary": "B"}},
        {"at": "2025-01-01T00:10:00+00:00", "acknowledger": {"summary": "A"}},
    ]
    inc["assignments"] = [{"at": "x", "assignee": {"summary": "Dana"}}, {"assignee": None}]
    df = incidents_frame([inc])
    assert df.loc[0, "acknowledged_at"] == pd.Timestamp("2025-01-01T00:10:00Z")
    assert df.loc[0, "assignees"] == ["Dana"]


def test_raw_dicts_stay_reachable_and_are_not_copied() -> None:
    recs = make_incidents(50)
    df = incidents_frame(recs)
    sub = df[df["status"] == "triggered"]
    assert isinstance(sub.attrs["raw"], RawIncidents) and sub.attrs["raw"] is df.attrs["raw"]
    assert sub.pagerduty.raw[0] is recs[2]
    assert [r["id"] for r in sub.pagerduty.raw] == sub["id"].tolist()
    assert copy.deepcopy(df).attrs["raw"] is df.attrs["raw"]
    with pytest.raises(AttributeError):
        _ = pd.DataFrame({"a": [1]}).pagerduty.raw


def test_hostile_titles_are_escaped_in_html() -> None:
    inc = make_incident(1, created=T0, title=HOSTILE, html_url="javascript:alert(1)")
    inc["service"]["summary"] = "<b>svc</b>"
    df = incidents_frame([inc, make_incident(2, created=T0)])
    bundle = IncidentTable(df)._repr_mimebundle_()
    html = bundle["text/html"]
    assert "<script>" not in html and "<img" not in html and "<b>svc" not in html
    assert "&lt;script&gt;" in html
    assert "javascript:" not in html  # not turned into a link
    assert "https://acme.pagerduty.com/incidents/Q00000002" in html
    assert "<script>" not in df.to_html()
    payload = bundle[MIME_TYPE]
    assert payload["incidents"][0]["title"] == HOSTILE  # JSON carries data, renderer escapes
    assert payload["incidents"][0]["html_url"] is None
    json.dumps(payload)  # JSON-safe


def test_bundle_limits_rows_and_says_so() -> None:
    df = incidents_frame(make_incidents(40), adapter="pagerduty")
    bundle = incidents_bundle(df, limit=5)
    payload = bundle[MIME_TYPE]
    assert payload["total"] == 40 and payload["shown"] == 5 and payload["truncated"] is True
    assert payload["counts"] == {"triggered": 13, "acknowledged": 14, "resolved": 13}
    assert "showing 5 of 40 incidents" in bundle["text/plain"]
    assert "showing 5 of 40 incidents" in bundle["text/html"]
    first = payload["incidents"][0]
    assert first["created_at"] == "2025-01-01T00:00:00Z" and first["time_to_ack_s"] == 300.0
    assert first["service"] == "Service 1" and first["teams"] == ["Payments"]
