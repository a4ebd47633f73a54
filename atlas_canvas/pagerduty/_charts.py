"""Charts of incident frames as Vega-Lite v5 specs, which JupyterLab renders natively.

The specs are written out (data inline, already aggregated), so they are small, JSON-stable
(saved notebooks compare cleanly) and need no JavaScript from the network. Altair 6 emits
Vega-Lite v6, which JupyterLab 4 does not render; these use the v5 MIME type it does.

Example::

    from atlas_canvas import pagerduty
    pagerduty.per_day_chart(df)                                # incidents per day by urgency
    pagerduty.weekly_chart(pagerduty.mtta_mttr(df, by="week"))  # MTTA/MTTR per week
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["MIME_VEGALITE", "VegaLite", "per_day", "weekly"]

MIME_VEGALITE = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
# A fixed width: "container" makes JupyterLab's Vega renderer loop on resize (the tab hangs
# or crashes in Chromium when a notebook with a saved chart is opened).
CHART_WIDTH = 640
URGENCY_COLOURS = {"high": "#d0021b", "low": "#4a90e2"}


class VegaLite:
    """A Vega-Lite spec that displays as a chart (and as a one-line text elsewhere)."""

    def __init__(self, spec: dict[str, Any], *, summary: str) -> None:
        self.spec = spec
        self.summary = summary

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        return {MIME_VEGALITE: self.spec, "text/plain": self.summary}

    def __repr__(self) -> str:
        return self.summary


def per_day(df: pd.DataFrame, *, by: str = "urgency", title: str | None = None) -> VegaLite:
    """Stacked bars of incidents created per day (UTC), coloured ``by`` urgency or status."""
    if len(df):
        day = df["created_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
        key = df[by].astype("object").where(df[by].notna(), "unknown")
        counts = (
            pd.DataFrame({"day": day, by: key})
            .groupby(["day", by], sort=True)
            .size()
            .reset_index(name="incidents")
        )
        values = [
            {"day": d, by: str(k), "incidents": int(n)}
            for d, k, n in counts.itertuples(index=False)
        ]
    else:
        values = []
    colour: dict[str, Any] = {"field": by, "type": "nominal", "title": by}
    if by == "urgency":
        colour["scale"] = {
            "domain": list(URGENCY_COLOURS),
            "range": list(URGENCY_COLOURS.values()),
        }
    spec = {
        "$schema": SCHEMA,
        "title": title or f"Incidents per day by {by}",
        "width": CHART_WIDTH,
        "height": 180,
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "day",
                "type": "temporal",
                "timeUnit": "utcyearmonthdate",
                "title": "day (UTC)",
            },
            "y": {
                "field": "incidents",
                "type": "quantitative",
                "stack": "zero",
                "title": "incidents",
            },
            "color": colour,
            "tooltip": [
                {"field": "day", "type": "temporal", "timeUnit": "utcyearmonthdate"},
                {"field": by, "type": "nominal"},
                {"field": "incidents", "type": "quantitative"},
            ],
        },
    }
    days = len({v["day"] for v in values})
    return VegaLite(spec, summary=f"<chart: {len(df)} incidents over {days} days by {by}>")


def weekly(table: pd.DataFrame, *, fields: tuple[str, ...] = ("mtta", "mttr")) -> VegaLite:
    """Lines of time columns (in minutes) per week from ``mtta_mttr(df, by="week")``.

    Weeks the table flags ``partial`` (not covered whole by the data) are hollow points and
    say so in the tooltip.
    """
    values: list[dict[str, Any]] = []
    partial = table["partial"] if "partial" in table.columns else None
    for week, row in table.iterrows():  # one row per week: a few dozen at most
        for field in fields:
            td = row.get(field)
            if td is None or pd.isna(td):
                continue
            value: dict[str, Any] = {
                "week": pd.Timestamp(str(week)).strftime("%Y-%m-%d"),
                "measure": field.upper(),
                "minutes": round(pd.Timedelta(td).total_seconds() / 60, 1),
            }
            if partial is not None:
                value["week covered"] = "partial" if bool(row.get("partial")) else "whole"
            values.append(value)
    spec = {
        "$schema": SCHEMA,
        "title": "Mean time to acknowledge / resolve per week",
        "width": CHART_WIDTH,
        "height": 180,
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "week", "type": "temporal", "title": "week (UTC)"},
            "y": {"field": "minutes", "type": "quantitative", "title": "minutes"},
            "color": {"field": "measure", "type": "nominal"},
            "tooltip": [
                {"field": "week", "type": "temporal"},
                {"field": "measure", "type": "nominal"},
                {"field": "minutes", "type": "quantitative"},
            ],
        },
    }
    summary = f"<chart: {' and '.join(f.upper() for f in fields)} over {len(table)} weeks>"
    if partial is not None:
        encoding = spec["encoding"]
        assert isinstance(encoding, dict)
        # A partial week's point is hollow: its figures rest on part of a week's incidents.
        encoding["fill"] = {
            "field": "week covered",
            "type": "nominal",
            "scale": {"domain": ["whole", "partial"], "range": ["currentColor", "white"]},
            "legend": None,
        }
        encoding["tooltip"].append({"field": "week covered", "type": "nominal"})
        n = int(partial.sum())
        if n:
            summary = summary[:-1] + f", {n} partial>"
    return VegaLite(spec, summary=summary)
