"""The on-call view: who is on call now, and the load per responder as a chart and a table.

Used by the incidents dashboard (its "On call" button) and on its own::

    from atlas_canvas.pagerduty._oncall_view import oncall_view
    oncall_view("pagerduty", since="30d")

Nothing is fetched until the view is built; errors show inside it, never raised out of a
widget callback. The chart is set through ``Output.outputs`` (widget state), like the
dashboard's, so saved notebooks compare cleanly under nbval.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._charts import CHART_WIDTH, MIME_VEGALITE, SCHEMA, VegaLite

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from ._oncall import OnCallNow

__all__ = ["KIND_COLOURS", "OnCallView", "interruptions_chart", "oncall_view"]

KIND_COLOURS = {"sleep": "#4b3f72", "off": "#f5a623", "business": "#4a90e2"}
_KIND_COLUMNS = (
    ("sleep", "sleep_hour_interruptions"),
    ("off", "off_hour_interruptions"),
    ("business", "business_hour_interruptions"),
)


def interruptions_chart(load: pd.DataFrame, *, top: int = 20) -> VegaLite:
    """Stacked bars: each responder's interruptions by kind (sleep, off, business hours).

    ``load`` is the frame of :func:`~atlas_canvas.pagerduty.responder_load`; the ``top``
    most interrupted responders are shown, most first.

    Example::

        interruptions_chart(pagerduty.responder_load(since="30d"))
    """
    rows = load[load["interruptions"] > 0].head(top)
    order = [str(u) for u in rows["user"]]
    values = [
        {"responder": str(r["user"]), "kind": kind, "interruptions": int(r[col])}
        for _, r in rows.iterrows()
        for kind, col in _KIND_COLUMNS
        if int(r[col])
    ]
    spec = {
        "$schema": SCHEMA,
        "title": "Interruptions per responder (in their own time zone)",
        "width": CHART_WIDTH,
        "height": max(60, 22 * len(order)),
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "responder", "type": "nominal", "sort": order, "title": None},
            "x": {"field": "interruptions", "type": "quantitative", "stack": "zero"},
            "color": {
                "field": "kind",
                "type": "nominal",
                "scale": {"domain": list(KIND_COLOURS), "range": list(KIND_COLOURS.values())},
                "title": "hours",
            },
            "order": {"field": "kind", "sort": "descending"},
            "tooltip": [
                {"field": "responder", "type": "nominal"},
                {"field": "kind", "type": "nominal"},
                {"field": "interruptions", "type": "quantitative"},
            ],
        },
    }
    total = int(load["interruptions"].sum()) if len(load) else 0
    return VegaLite(spec, summary=f"<chart: {total} interruptions over {len(order)} responders>")


def _load_table(load: pd.DataFrame, *, top: int = 20) -> str:
    head = (
        "<tr><th>Responder</th><th>Zone</th><th>Incidents</th><th>Acked</th>"
        "<th>Interruptions</th><th>Sleep</th><th>Off</th><th>Business</th>"
        "<th>On call (h)</th><th>Share</th></tr>"
    )
    body = "".join(
        "<tr>"
        f"<td>{html.escape(str(r['user']))}</td><td>{html.escape(str(r['time_zone']))}</td>"
        f"<td>{int(r['incidents'])}</td><td>{int(r['acknowledged'])}</td>"
        f"<td><b>{int(r['interruptions'])}</b></td><td>{int(r['sleep_hour_interruptions'])}</td>"
        f"<td>{int(r['off_hour_interruptions'])}</td>"
        f"<td>{int(r['business_hour_interruptions'])}</td>"
        f"<td>{float(r['oncall_hours']):.0f}</td><td>{float(r['load_share']):.0%}</td>"
        "</tr>"
        for _, r in load.head(top).iterrows()
    )
    return f"<table class='atlas-oncall-load'><thead>{head}</thead><tbody>{body}</tbody></table>"


class OnCallView:
    """Who is on call now plus the load per responder over a window (an ipywidgets view).

    ``now_loader`` returns an :class:`~atlas_canvas.pagerduty._oncall.OnCallNow`;
    ``load_loader`` a :func:`~atlas_canvas.pagerduty.responder_load` frame. :meth:`load`
    (re)fetches both and renders them.
    """

    def __init__(
        self,
        now_loader: Callable[[], OnCallNow],
        load_loader: Callable[[], pd.DataFrame],
        *,
        window: str = "",
    ) -> None:
        import ipywidgets as w

        self._now_loader = now_loader
        self._load_loader = load_loader
        self.window = window
        self.now_w = w.HTML()
        self.message_w = w.HTML()
        self.chart_w = w.Output(layout=w.Layout(width="100%"))
        self.table_w = w.HTML()
        self.reload_w = w.Button(description="Reload on-call", icon="refresh")
        self.reload_w.on_click(lambda _b: self.load())
        self.widget = w.VBox(
            [
                w.HTML("<h4>On call now</h4>"),
                self.now_w,
                w.HTML(f"<h4>Load per responder {html.escape(window)}</h4>"),
                self.message_w,
                self.chart_w,
                self.table_w,
                self.reload_w,
            ],
            layout=w.Layout(border="1px solid #ddd", padding="6px"),
        )
        self.widget.add_class("atlas-oncall-view")
        self.now: OnCallNow | None = None
        self.load_frame: pd.DataFrame | None = None

    def load(self) -> None:
        """Fetch who is on call and the load; show what failed inside the view."""
        from .._errors import AtlasError

        try:
            self.now = self._now_loader()
            self.now_w.value = self.now._repr_html_()
        except AtlasError as exc:
            self.now_w.value = f"<span style='color:#d0021b'>{html.escape(str(exc))}</span>"
        try:
            load = self._load_loader()
        except AtlasError as exc:
            self.message_w.value = f"<span style='color:#d0021b'>{html.escape(str(exc))}</span>"
            return
        self.load_frame = load
        source = load.attrs.get("source", "")
        note = load.attrs.get("note")
        self.message_w.value = html.escape(
            f"{len(load)} responders, {int(load['interruptions'].sum())} interruptions "
            f"(source: {source})" + (f"; {note}" if note else "")
        )
        chart = interruptions_chart(load)
        self.chart_w.outputs = (
            {
                "output_type": "display_data",
                "data": {MIME_VEGALITE: chart.spec, "text/plain": chart.summary},
                "metadata": {},
            },
        )
        self.table_w.value = _load_table(load)

    def __repr__(self) -> str:
        n = 0 if self.load_frame is None else len(self.load_frame)
        return f"OnCallView: {len(self.now) if self.now else 0} on call now, {n} responders"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = repr(self)
        return bundle


def oncall_view(
    adapter: str = "pagerduty",
    *,
    since: Any = "30d",
    until: Any = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
) -> OnCallView:
    """Build and load the on-call view for ``adapter`` (load over ``since``..``until``).

    Example::

        oncall_view("pagerduty", since="2026-05-01", until="2026-06-01")
    """
    from ._oncall import on_call_now
    from ._responders import responder_load

    conn = {"config": config, "base_url": base_url, "transport": transport}
    label = f"since {since}" + (f" until {until}" if until else "")
    view = OnCallView(
        lambda: on_call_now(adapter=adapter, **conn),
        lambda: responder_load(since=since, until=until, adapter=adapter, **conn),
        window=f"({label})",
    )
    view.load()
    return view
