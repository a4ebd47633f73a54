"""Rich display of incident frames: HTML, plain text and a JSON MIME type for JupyterLab.

:class:`IncidentTable` (and any incidents DataFrame once ``%load_ext atlas_canvas`` ran) renders
as three representations:

* ``text/plain``: counts by status and the first rows, "showing N of M" (terminals, nbval);
* ``text/html``: an escaped table, incident numbers linked to ``html_url``;
* ``application/vnd.atlas.pagerduty.incidents+json`` (:data:`MIME_TYPE`) for the JupyterLab
  incidents renderer. Shape (version 1)::

      {"version": 1, "adapter": "pagerduty", "total": 1234, "shown": 20,
       "counts": {"triggered": 3, "acknowledged": 1, "resolved": 1230},
       "incidents": [{"id", "incident_number", "title", "status", "urgency", "priority",
                      "service", "service_id", "teams": [...], "assignees": [...],
                      "created_at", "acknowledged_at", "resolved_at"  (ISO 8601 UTC or null),
                      "time_to_ack_s", "time_to_resolve_s"  (seconds or null),
                      "alert_count", "html_url"}]}
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["MIME_TYPE", "IncidentTable", "incidents_bundle"]

MIME_TYPE = "application/vnd.atlas.pagerduty.incidents+json"
DEFAULT_LIMIT = 20

_STATUS_COLOURS = {"triggered": "#d0021b", "acknowledged": "#f5a623", "resolved": "#417505"}
_URGENCY_COLOURS = {"high": "#d0021b", "low": "#4a4a4a"}


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(pd.Timedelta(value).total_seconds())


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()
    return value


def _safe_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    # Only web links: a hostile html_url like "javascript:..." must not become clickable.
    return url if url.lower().startswith(("https://", "http://")) else None


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cols = set(df.columns)
    # Only the displayed head (a few rows) is walked row by row.
    for r in df.to_dict(orient="records"):
        rec: dict[str, Any] = {}
        for key in ("id", "incident_number", "title", "status", "urgency", "priority"):
            rec[key] = _plain(r.get(key)) if key in cols else None
        for key in ("service", "service_id", "alert_count", "html_url"):
            rec[key] = _plain(r.get(key)) if key in cols else None
        for key in ("teams", "assignees"):
            value = r.get(key)
            rec[key] = [str(v) for v in value] if isinstance(value, (list, tuple)) else []
        for key in ("created_at", "acknowledged_at", "resolved_at"):
            rec[key] = _iso(r.get(key)) if key in cols else None
        rec["time_to_ack_s"] = _seconds(r.get("time_to_ack")) if "time_to_ack" in cols else None
        rec["time_to_resolve_s"] = (
            _seconds(r.get("time_to_resolve")) if "time_to_resolve" in cols else None
        )
        rec["html_url"] = _safe_url(rec["html_url"])
        out.append(rec)
    return out


def _counts(df: pd.DataFrame) -> dict[str, int]:
    if "status" not in df.columns:
        return {}
    vc = df["status"].value_counts(sort=False)
    return {str(k): int(v) for k, v in vc.items()}


def _fmt_td(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, _ = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m"


def _text(payload: dict[str, Any]) -> str:
    counts = ", ".join(f"{v} {k}" for k, v in payload["counts"].items() if v)
    head = f"{payload['total']} incidents" + (f" ({counts})" if counts else "")
    lines = [head]
    for r in payload["incidents"]:
        title = (r["title"] or "").replace("\n", " ")
        if len(title) > 60:
            title = title[:59] + "…"
        created = (r["created_at"] or "")[:16].replace("T", " ")
        lines.append(
            f"#{r['incident_number'] or '?':<6} {r['status'] or '?':<12} {r['urgency'] or '?':<4} "
            f"{created:<16} {(r['service'] or '')[:24]:<24} {title}"
        )
    if payload["shown"] < payload["total"]:
        lines.append(f"showing {payload['shown']} of {payload['total']} incidents")
    return "\n".join(lines)


def _html(payload: dict[str, Any]) -> str:
    e = html.escape
    counts = " · ".join(
        f"<span style='color:{_STATUS_COLOURS.get(k, '#000')}'>{v} {e(k)}</span>"
        for k, v in payload["counts"].items()
        if v
    )
    rows = []
    for r in payload["incidents"]:
        num = e(str(r["incident_number"] or "?"))
        link = (
            f"<a href='{e(r['html_url'], quote=True)}' target='_blank' rel='noopener'>#{num}</a>"
            if r["html_url"]
            else f"#{num}"
        )
        status = r["status"] or ""
        urgency = r["urgency"] or ""
        rows.append(
            "<tr>"
            f"<td>{link}</td>"
            f"<td>{e(r['title'] or '')}</td>"
            f"<td style='color:{_STATUS_COLOURS.get(status, '#000')}'>{e(status)}</td>"
            f"<td style='color:{_URGENCY_COLOURS.get(urgency, '#000')}'>{e(urgency)}</td>"
            f"<td>{e(r['priority'] or '')}</td>"
            f"<td>{e(r['service'] or '')}</td>"
            f"<td>{e(', '.join(r['teams']))}</td>"
            f"<td>{e((r['created_at'] or '').replace('T', ' ').replace('Z', ''))}</td>"
            f"<td>{e(_fmt_td(r['time_to_ack_s']))}</td>"
            f"<td>{e(_fmt_td(r['time_to_resolve_s']))}</td>"
            "</tr>"
        )
    footer = ""
    if payload["shown"] < payload["total"]:
        footer = (
            f"<div class='atlas-footer'>showing {payload['shown']} of {payload['total']} "
            "incidents</div>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "#",
            "title",
            "status",
            "urgency",
            "priority",
            "service",
            "teams",
            "created (UTC)",
            "to ack",
            "to resolve",
        )
    )
    return (
        "<div class='atlas-incidents'>"
        f"<div><b>{payload['total']} incidents</b>{' — ' + counts if counts else ''}</div>"
        f"<table class='dataframe'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{footer}</div>"
    )


def incidents_bundle(df: pd.DataFrame, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The MIME bundle (text/plain, text/html, :data:`MIME_TYPE`) of an incidents frame."""
    limit = max(0, int(limit))
    head = df.head(limit)
    payload: dict[str, Any] = {
        "version": 1,
        "adapter": df.attrs.get("adapter"),
        "total": len(df),
        "shown": len(head),
        "truncated": len(head) < len(df),
        "counts": _counts(df),
        "incidents": _records(head),
    }
    return {MIME_TYPE: payload, "text/html": _html(payload), "text/plain": _text(payload)}


class IncidentTable:
    """A display object for an incidents frame (first ``limit`` rows, all counts).

    Example::

        IncidentTable(df[df.urgency == "high"], limit=10)
    """

    def __init__(self, df: pd.DataFrame, *, limit: int = DEFAULT_LIMIT) -> None:
        self.df = df
        self.limit = limit

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        return incidents_bundle(self.df, limit=self.limit)

    def _repr_html_(self) -> str:
        return str(incidents_bundle(self.df, limit=self.limit)["text/html"])

    def __repr__(self) -> str:
        return str(incidents_bundle(self.df, limit=self.limit)["text/plain"])
