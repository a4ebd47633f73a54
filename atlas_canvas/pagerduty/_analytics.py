"""Analytics over an incidents frame: MTTA/MTTR, noisiest services, after hours, open by age.

All helpers take the DataFrame of :func:`atlas_canvas.pagerduty.incidents` (or any frame with
the same columns) and return small DataFrames/Series that display well and compare stably.

Example::

    from atlas_canvas import pagerduty as pd_
    df = pd_.incidents(since="90d")
    pd_.mtta_mttr(df, by="week")
    pd_.noisiest_services(df, n=5)
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from .._errors import UsageError

__all__ = ["after_hours_share", "mtta_mttr", "noisiest_services", "open_by_age"]

By = Literal["service", "team", "urgency", "week", "priority", "escalation_policy"]
_BY_CHOICES = ("service", "team", "urgency", "week", "priority", "escalation_policy")
AGE_BINS = (
    ("< 1h", pd.Timedelta(hours=1)),
    ("1–4h", pd.Timedelta(hours=4)),
    ("4–24h", pd.Timedelta(days=1)),
    ("1–7d", pd.Timedelta(days=7)),
    ("> 7d", pd.Timedelta.max),
)


def _need(df: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise UsageError(
            "this frame lacks column(s) " + ", ".join(missing),
            hint="pass the DataFrame returned by atlas_canvas.pagerduty.incidents()",
        )


def _round(td: pd.Series) -> pd.Series:
    return td.dt.round("1s")


def mtta_mttr(df: pd.DataFrame, by: By | None = "service") -> pd.DataFrame:
    """Mean (and median) time to acknowledge and to resolve, grouped ``by``.

    ``by`` is ``"service"``, ``"team"`` (an incident counts for each of its teams),
    ``"urgency"``, ``"week"`` (UTC weeks starting Monday), ``"priority"``,
    ``"escalation_policy"`` or ``None`` for one overall row. Columns: ``incidents``,
    ``acknowledged``, ``mtta``, ``median_tta``, ``resolved``, ``mttr``, ``median_ttr``, then
    the percentiles ``p50_tta``, ``p90_tta``, ``p95_tta``, ``p50_ttr``, ``p90_ttr``,
    ``p95_ttr`` (linear interpolation; p50 is the median), and, when the frame carries
    PagerDuty's ``escalation_count`` (the frame of
    :func:`~atlas_canvas.pagerduty.analytics_incidents`), ``escalated`` (incidents escalated
    at least once) and ``escalations`` (all escalations). An ``analytics_incidents()`` frame
    works directly: its ``seconds_to_first_ack``/``seconds_to_resolve`` become the times.
    Sorted by ``incidents`` (most first) except for weeks, which are in time order and carry
    a ``partial`` column: True for a week the data does not cover whole (the first and last
    week of a window that does not start and end on Mondays; coverage is
    ``df.attrs["window"]`` when the frame has it, else the span of its incidents), also listed
    in ``out.attrs["partial_weeks"]``.

    ``acknowledged`` counts the incidents *with an ack time*: ``mtta``/``median_tta`` rest on
    those only, as ``mttr``/``median_ttr`` rest on the ``resolved`` ones. PagerDuty clears
    acknowledgements when an incident is resolved, so straight from
    :func:`~atlas_canvas.pagerduty.incidents` resolved incidents have none and MTTA covers only
    the incidents acknowledged right now; fill them in first with
    :func:`~atlas_canvas.pagerduty.with_ack_times`.

    Example::

        mtta_mttr(df, by="urgency")
    """
    if "time_to_ack" not in df.columns and "seconds_to_first_ack" in df.columns:
        df = _from_analytics(df)
    _need(df, "time_to_ack", "time_to_resolve", "created_at")
    if by is not None and by not in _BY_CHOICES:
        import difflib

        close = difflib.get_close_matches(str(by), _BY_CHOICES, n=1)
        raise UsageError(
            f"cannot group by {by!r}",
            hint=f"did you mean '{close[0]}'?" if close else "use " + ", ".join(_BY_CHOICES),
        )
    escalations = "escalation_count" in df.columns
    cols = ["time_to_ack", "time_to_resolve", "created_at"]
    work = df[cols + (["escalation_count"] if escalations else [])].copy()
    key: Any
    if by is None:
        work["all"] = "all incidents"
        key = "all"
    elif by == "team":
        _need(df, "teams")
        work["team"] = df["teams"].map(lambda t: list(t) if len(t) else ["(no team)"])
        work = work.explode("team")
        key = "team"
    elif by == "week":
        created = work["created_at"].dt.tz_convert("UTC").dt.tz_localize(None)
        work["week"] = created.dt.to_period("W-SUN").dt.start_time.dt.tz_localize("UTC")
        key = "week"
    else:
        _need(df, by)
        work[by] = df[by].astype("object").where(df[by].notna(), f"(no {by})")
        key = by
    grouped = work.groupby(key, observed=True, sort=by == "week")
    out = pd.DataFrame(
        {
            "incidents": grouped.size(),
            "acknowledged": grouped["time_to_ack"].count(),
            "mtta": _round(grouped["time_to_ack"].mean()),
            "median_tta": _round(grouped["time_to_ack"].median()),
            "resolved": grouped["time_to_resolve"].count(),
            "mttr": _round(grouped["time_to_resolve"].mean()),
            "median_ttr": _round(grouped["time_to_resolve"].median()),
        }
    )
    for q in (50, 90, 95):
        out[f"p{q}_tta"] = _round(grouped["time_to_ack"].quantile(q / 100))
    for q in (50, 90, 95):
        out[f"p{q}_ttr"] = _round(grouped["time_to_resolve"].quantile(q / 100))
    if escalations:
        counts = work["escalation_count"].astype("Float64")
        out["escalated"] = (counts > 0).groupby(work[key], observed=True).sum().astype("int64")
        out["escalations"] = counts.groupby(work[key], observed=True).sum().astype("int64")
    if by != "week":
        out = out.sort_values(["incidents"], ascending=False, kind="stable")
    else:
        out["partial"] = _partial_weeks(out.index, df)
        out.attrs["partial_weeks"] = [w.strftime("%Y-%m-%d") for w in out.index[out["partial"]]]
    out.index.name = key if by is not None else None
    return out


def _partial_weeks(weeks: pd.Index, df: pd.DataFrame) -> pd.Series:
    """Which weeks the data does not cover whole (the first and last, usually).

    Coverage is the window the frame was fetched for (``df.attrs["window"]``) when it has one,
    else the span of its ``created_at``: a week starting before it, or ending after it, holds
    only part of its incidents and its figures compare badly with full weeks.
    """
    window = df.attrs.get("window") or {}
    since, until = window.get("since"), window.get("until")
    if since and until:
        start, end = pd.Timestamp(since), pd.Timestamp(until)
    elif len(df):
        created = df["created_at"].dropna()
        start, end = created.min(), created.max() + pd.Timedelta(seconds=1)
    else:
        return pd.Series(False, index=weeks, dtype=bool)
    starts = pd.DatetimeIndex(weeks)
    ends = starts + pd.Timedelta(days=7)
    return pd.Series((starts < start) | (ends > end), index=weeks, dtype=bool)


def _from_analytics(df: pd.DataFrame) -> pd.DataFrame:
    """An ``analytics_incidents()`` frame with the incidents frame's time and group columns."""
    out = df.copy()
    out["time_to_ack"] = pd.to_timedelta(df["seconds_to_first_ack"].astype("Float64"), unit="s")
    out["time_to_resolve"] = pd.to_timedelta(df["seconds_to_resolve"].astype("Float64"), unit="s")
    renames = {
        "service_name": "service",
        "priority_name": "priority",
        "escalation_policy_name": "escalation_policy",
    }
    for src, dst in renames.items():
        if src in df.columns and dst not in df.columns:
            out[dst] = df[src]
    if "team_name" in df.columns and "teams" not in df.columns:
        out["teams"] = df["team_name"].map(lambda t: [t] if isinstance(t, str) else [])
    return out


def noisiest_services(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` services with the most incidents: counts, high urgency, alerts, share.

    Example::

        noisiest_services(df, n=5)
    """
    _need(df, "service", "urgency")
    if n < 1:
        raise UsageError("n must be at least 1")
    service = df["service"].astype("object").where(df["service"].notna(), "(no service)")
    work = pd.DataFrame(
        {
            "service": service,
            "high": (df["urgency"] == "high").astype("int64"),
            "alerts": df["alert_count"].fillna(0).astype("int64")
            if "alert_count" in df.columns
            else 0,
            "open": (df["status"] != "resolved").astype("int64") if "status" in df.columns else 0,
        }
    )
    g = work.groupby("service", sort=False)
    out = pd.DataFrame(
        {
            "incidents": g.size(),
            "high_urgency": g["high"].sum(),
            "open": g["open"].sum(),
            "alerts": g["alerts"].sum(),
        }
    )
    total = max(len(df), 1)
    out["share"] = (out["incidents"] / total).round(3)
    out = out.sort_values(["incidents", "high_urgency"], ascending=False, kind="stable")
    return out.head(n)


def after_hours_share(
    df: pd.DataFrame,
    *,
    tz: str = "UTC",
    start_hour: int = 9,
    end_hour: int = 18,
    by: str | None = None,
) -> pd.DataFrame:
    """Share of incidents created outside business hours (weekends count as after hours).

    Business hours are ``start_hour``–``end_hour`` on Monday–Friday in time zone ``tz``.
    Returns one row overall, or one per ``by`` value (e.g. ``by="service"``), with
    ``incidents``, ``after_hours`` and ``share``.

    Example::

        after_hours_share(df, tz="Europe/Berlin", by="service")
    """
    _need(df, "created_at")
    if not (0 <= start_hour < end_hour <= 24):
        raise UsageError("need 0 <= start_hour < end_hour <= 24")
    try:
        local = df["created_at"].dt.tz_convert(tz)
    except Exception:  # zoneinfo raises several types for a bad name
        raise UsageError(f"unknown time zone {tz!r}", hint="e.g. 'UTC', 'Europe/Berlin'") from None
    hour = local.dt.hour
    weekend = local.dt.day_of_week >= 5
    after = (weekend | (hour < start_hour) | (hour >= end_hour)).astype("int64")
    if by is None:
        n = len(df)
        a = int(after.sum())
        return pd.DataFrame(
            {"incidents": [n], "after_hours": [a], "share": [round(a / n, 3) if n else 0.0]},
            index=pd.Index(["all incidents"]),
        )
    _need(df, by)
    keys = df[by].astype("object").where(df[by].notna(), f"(no {by})")
    g = pd.DataFrame({by: keys, "after": after}).groupby(by, sort=False)["after"]
    out = pd.DataFrame({"incidents": g.size(), "after_hours": g.sum()})
    out["share"] = (out["after_hours"] / out["incidents"]).round(3)
    return out.sort_values("incidents", ascending=False, kind="stable")


def open_by_age(df: pd.DataFrame, *, now: Any = None) -> pd.DataFrame:
    """Open (triggered or acknowledged) incidents by age bucket and status.

    ``now`` defaults to the current time; pass a fixed time for reproducible reports.
    Rows are the buckets ``< 1h`` … ``> 7d`` (all present, in order), columns the statuses.

    Example::

        open_by_age(df, now="2025-03-01T12:00:00Z")
    """
    _need(df, "status", "created_at")
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    # Incidents created after `now` are not open yet at that time.
    open_ = df[df["status"].isin(["triggered", "acknowledged"]) & (df["created_at"] <= ts)]
    age = ts - open_["created_at"]
    labels = [label for label, _ in AGE_BINS]
    edges = [pd.Timedelta.min] + [edge for _, edge in AGE_BINS]
    bucket = pd.cut(age, bins=pd.Index(edges), labels=labels, right=False)  # type: ignore[arg-type]  # timedelta bins work; the stubs only list numbers
    table = pd.crosstab(
        pd.Categorical(bucket, categories=labels, ordered=True),
        open_["status"].astype("object"),
        dropna=False,
    )
    table = table.reindex(index=labels, columns=["triggered", "acknowledged"], fill_value=0)
    table.index.name = "age"
    table.columns.name = None
    table["open"] = table.sum(axis=1)
    return table.astype("int64")
