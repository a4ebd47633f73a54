"""PagerDuty incidents through an Atlas adapter: fetch all, DataFrame, analytics, actions.

Importing this package is cheap; pandas and friends load on first use.

Example::

    from atlas_canvas import pagerduty
    df = pagerduty.incidents(statuses=["triggered", "acknowledged"], since="30d")
    pagerduty.mtta_mttr(df, by="service")
    pagerduty.dashboard(df)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "COLUMNS",
    "FetchStats",
    "IncidentDashboard",
    "IncidentTable",
    "PagerDutySession",
    "Store",
    "SyncReport",
    "acknowledge",
    "acknowledge_async",
    "add_note",
    "add_note_async",
    "after_hours_share",
    "analytics_incidents",
    "dashboard",
    "fetch_incidents",
    "incidents",
    "incidents_frame",
    "interruptions_chart",
    "mtta_mttr",
    "noisiest_services",
    "oncall_view",
    "oncalls",
    "open_by_age",
    "open_store",
    "per_day_chart",
    "resolve",
    "resolve_async",
    "responder_load",
    "stored_notifications",
    "stored_oncalls",
    "sync",
    "sync_oncall",
    "weekly_chart",
    "with_ack_times",
    "with_ack_times_async",
]

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._actions import (
        acknowledge,
        acknowledge_async,
        add_note,
        add_note_async,
        resolve,
        resolve_async,
    )
    from ._analytics import after_hours_share, mtta_mttr, noisiest_services, open_by_age
    from ._api import fetch_incidents, incidents
    from ._charts import per_day as per_day_chart
    from ._charts import weekly as weekly_chart
    from ._dashboard import IncidentDashboard, dashboard
    from ._display import IncidentTable
    from ._enrich import with_ack_times, with_ack_times_async
    from ._frame import COLUMNS, incidents_frame
    from ._oncall import oncalls
    from ._oncall_store import stored_notifications, stored_oncalls, sync_oncall
    from ._oncall_view import interruptions_chart, oncall_view
    from ._pager import FetchStats
    from ._responders import analytics_incidents, responder_load
    from ._session import PagerDutySession
    from ._store import Store, open_store, sync
    from ._sync import SyncReport

_LAZY = {
    "COLUMNS": "._frame",
    "FetchStats": "._pager",
    "IncidentDashboard": "._dashboard",
    "IncidentTable": "._display",
    "PagerDutySession": "._session",
    "acknowledge": "._actions",
    "acknowledge_async": "._actions",
    "add_note": "._actions",
    "add_note_async": "._actions",
    "after_hours_share": "._analytics",
    "analytics_incidents": "._responders",
    "interruptions_chart": "._oncall_view",
    "oncall_view": "._oncall_view",
    "oncalls": "._oncall",
    "stored_notifications": "._oncall_store",
    "stored_oncalls": "._oncall_store",
    "sync_oncall": "._oncall_store",
    "responder_load": "._responders",
    "dashboard": "._dashboard",
    "fetch_incidents": "._api",
    "incidents": "._api",
    "incidents_frame": "._frame",
    "mtta_mttr": "._analytics",
    "noisiest_services": "._analytics",
    "open_by_age": "._analytics",
    "per_day_chart": "._charts:per_day",
    "weekly_chart": "._charts:weekly",
    "with_ack_times": "._enrich",
    "with_ack_times_async": "._enrich",
    "resolve": "._actions",
    "resolve_async": "._actions",
    "Store": "._store",
    "SyncReport": "._sync",
    "open_store": "._store",
    "sync": "._store",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'atlas_canvas.pagerduty' has no attribute {name!r}")
    module_name, _, attr = module_name.partition(":")
    value = getattr(importlib.import_module(module_name, __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
