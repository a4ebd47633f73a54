"""PagerDuty incident dicts → one tidy ``pandas.DataFrame``, column by column.

Columns (one row per incident, in fetch order):

===================  ==================================  =================================
column               dtype                               from
===================  ==================================  =================================
id                   string                              ``id``
incident_number      Int64                               ``incident_number``
title                string                              ``title``
status               category (triggered, acknowledged,  ``status``
                     resolved)
urgency              category (high, low)                ``urgency``
priority             string (NA without priority)        ``priority.summary`` / ``.name``
service_id           string                              ``service.id``
service              string                              ``service.summary`` / ``.name``
teams                object: list of team names          ``teams[].summary``
assignees            object: list of user names          ``assignments[].assignee.summary``
escalation_policy    string                              ``escalation_policy.summary``
created_at           datetime64[ns, UTC]                 ``created_at``
acknowledged_at      datetime64[ns, UTC] (first ack)     ``min(acknowledgements[].at)``
resolved_at          datetime64[ns, UTC]                 ``resolved_at``
time_to_ack          timedelta64[ns]                     acknowledged_at - created_at
time_to_resolve      timedelta64[ns]                     resolved_at - created_at
alert_count          Int64                               ``alert_counts.all``
html_url             string                              ``html_url``
===================  ==================================  =================================

The extraction is columnar: each column is pulled out in one pass and parsed by pandas' C
parsers in one call (timestamps) instead of building a row per incident or a generic
``json_normalize`` frame of every nested key. That is ~5x faster and ~10x lighter (see
``benchmarks/frame.py``).

The raw dicts stay reachable: ``df.pagerduty.raw`` gives the dicts of the rows of ``df`` (after
any filtering), and ``df.attrs["raw"]`` maps id → dict for the whole fetch.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "FRAME_KIND",
    "RawIncidents",
    "empty_frame",
    "incidents_frame",
    "is_incidents_frame",
]

#: ``df.attrs["atlas_kind"]`` of frames built here (used to pick the rich display).
FRAME_KIND = "pagerduty.incidents"

STATUS_DTYPE = pd.CategoricalDtype(["triggered", "acknowledged", "resolved"])
URGENCY_DTYPE = pd.CategoricalDtype(["high", "low"])
TS_DTYPE = "datetime64[ns, UTC]"

COLUMNS: dict[str, Any] = {
    "id": "string",
    "incident_number": "Int64",
    "title": "string",
    "status": STATUS_DTYPE,
    "urgency": URGENCY_DTYPE,
    "priority": "string",
    "service_id": "string",
    "service": "string",
    "teams": object,
    "assignees": object,
    "escalation_policy": "string",
    "created_at": TS_DTYPE,
    "acknowledged_at": TS_DTYPE,
    "resolved_at": TS_DTYPE,
    "time_to_ack": "timedelta64[ns]",
    "time_to_resolve": "timedelta64[ns]",
    "alert_count": "Int64",
    "html_url": "string",
}

_EMPTY: Mapping[str, Any] = {}


class RawIncidents(Mapping[str, dict[str, Any]]):
    """The raw incident dicts of a fetch, by id, in fetch order.

    Kept in ``df.attrs["raw"]``. pandas deep-copies ``attrs`` on most operations; this object
    hands itself out instead, so filtering a 100,000-row frame does not copy 100,000 dicts.
    """

    __slots__ = ("_by_id_cache", "_records")

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records
        self._by_id_cache: dict[Any, dict[str, Any]] | None = None

    @property
    def _by_id(self) -> dict[Any, dict[str, Any]]:
        # Built on first lookup: most frames are never asked for their raw dicts.
        if self._by_id_cache is None:
            self._by_id_cache = {r.get("id"): r for r in self._records}
        return self._by_id_cache

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(k for k in self._by_id if k is not None)

    def __len__(self) -> int:
        return len(self._by_id)

    def records(self) -> list[dict[str, Any]]:
        return self._records

    def __deepcopy__(self, memo: dict[int, Any]) -> RawIncidents:
        return self

    def __copy__(self) -> RawIncidents:
        return self

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<RawIncidents: {len(self._records)} incidents>"


def _str_col(values: list[Any]) -> pd.Series:
    return pd.Series(values, dtype="string")


def _ts(values: list[Any]) -> pd.Series:
    s = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce")
    return s.astype("datetime64[ns, UTC]")


def _category(values: list[Any], dtype: pd.CategoricalDtype) -> pd.Categorical:
    # Codes straight from a dict: values outside the documented set become missing (-1)
    # rather than new categories.
    codes = {c: i for i, c in enumerate(dtype.categories)}
    return pd.Categorical.from_codes(
        np.array(list(map(codes.get, values, repeat(-1))), dtype=np.int8), dtype=dtype
    )


def _ints(values: list[Any]) -> Any:
    try:
        return pd.array(np.array(values, dtype=np.int64), dtype="Int64")
    except (TypeError, ValueError):  # None or junk among them: the slow, careful way
        return pd.array(
            [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values],
            dtype="Int64",
        )


# Column extraction: each helper first tries a tight comprehension that assumes the documented
# shape (a KeyError/TypeError means the data is irregular), then falls back to a careful one.


def _pluck(recs: list[dict[str, Any]], key: str) -> list[Any]:
    try:
        return list(map(itemgetter(key), recs))  # C-level loop
    except (KeyError, TypeError):
        return [r.get(key) for r in recs]


def _sub(values: list[Any], key: str) -> list[Any]:
    try:
        return list(map(itemgetter(key), values))  # C-level loop
    except (KeyError, TypeError):
        return [v.get(key) if type(v) is dict else None for v in values]


def _names(values: list[Any]) -> list[Any]:
    """``summary`` (else ``name``) of each reference; None for a missing reference."""
    out = _sub(values, "summary")
    if None in out:
        for i in [i for i, x in enumerate(out) if x is None]:
            v = values[i]
            if type(v) is dict:
                out[i] = v.get("name")
    return out


def _name_lists(values: list[Any]) -> list[list[Any]]:
    try:
        # Most incidents have exactly one team: build that list without an inner comprehension.
        return [[v[0]["summary"]] if len(v) == 1 else [t["summary"] for t in v] for v in values]
    except (KeyError, TypeError):
        return [
            [n for n in _names(list(v)) if n] if isinstance(v, (list, tuple)) else []
            for v in values
        ]


def _assignees(values: list[Any]) -> list[list[Any]]:
    try:
        # Resolved incidents have none, open ones usually one.
        return [
            []
            if not v
            else [v[0]["assignee"]["summary"]]
            if len(v) == 1
            else [a["assignee"]["summary"] for a in v]
            for v in values
        ]
    except (KeyError, TypeError):
        return [
            [n for n in _names([a.get("assignee") if type(a) is dict else None for a in v]) if n]
            if isinstance(v, (list, tuple))
            else []
            for v in values
        ]


def _first_ack(acks_per_incident: list[Any]) -> pd.Series:
    """``min(acknowledgements[].at)`` per incident, computed on flat arrays."""
    rows: list[int] = []
    ats: list[Any] = []
    for i, acks in enumerate(acks_per_incident):
        if acks:  # most incidents have none
            for a in acks:
                at = a.get("at") if type(a) is dict else None
                if at:
                    rows.append(i)
                    ats.append(at)
    n = len(acks_per_incident)
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    if ats:
        parsed = _ts(ats)
        valid = parsed.notna().to_numpy()
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        np.minimum.at(out, np.asarray(rows, dtype=np.int64)[valid], ns[valid])
    out[out == np.iinfo(np.int64).max] = np.iinfo(np.int64).min  # NaT
    return pd.Series(out.view("datetime64[ns]")).dt.tz_localize("UTC")


def _objects(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def incidents_frame(
    records: Iterable[Mapping[str, Any]], *, adapter: str | None = None
) -> pd.DataFrame:
    """Build the incidents DataFrame (columns in the module docstring) from raw dicts.

    Example::

        df = incidents_frame(resp.data["incidents"])
        df.groupby("service").time_to_ack.mean()
    """
    recs: list[dict[str, Any]] = [
        r if type(r) is dict else dict(r) for r in records if isinstance(r, (dict, Mapping))
    ]
    if not recs:
        return empty_frame(adapter=adapter, raw=RawIncidents([]))
    # Building a few hundred thousand short-lived lists and strings triggers full cyclic-GC
    # passes that re-scan every raw incident dict (millions of objects, ~0.6 s each at 100k
    # incidents). Nothing built here can form a cycle, so the collector waits until we return.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(recs, adapter)
    finally:
        if was_enabled:
            gc.enable()


_KEYS = (
    "id",
    "incident_number",
    "title",
    "status",
    "urgency",
    "priority",
    "service",
    "teams",
    "assignments",
    "escalation_policy",
    "created_at",
    "acknowledgements",
    "resolved_at",
    "alert_counts",
    "html_url",
)


def _columns(recs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every top-level field needed, as columns, touching each incident dict once.

    ``itemgetter`` fetches all fields of one dict in C while it is in the CPU cache, and
    ``zip(*...)`` transposes rows to columns in C: no Python code runs per incident. One pass
    per field instead would walk 100,000 scattered dicts fifteen times.
    """
    try:
        rows = map(itemgetter(*_KEYS), recs)
        return dict(zip(_KEYS, map(list, zip(*rows, strict=True)), strict=True))
    except (KeyError, TypeError):  # an optional field is missing somewhere: field by field
        return {k: _pluck(recs, k) for k in _KEYS}


def _build(recs: list[dict[str, Any]], adapter: str | None) -> pd.DataFrame:
    col = _columns(recs)
    services = col["service"]
    created = _ts(col["created_at"])
    acked = _first_ack(col["acknowledgements"])
    resolved = _ts(col["resolved_at"])
    data: dict[str, Any] = {
        "id": _str_col(col["id"]),
        "incident_number": _ints(col["incident_number"]),
        "title": _str_col(col["title"]),
        "status": _category(col["status"], STATUS_DTYPE),
        "urgency": _category(col["urgency"], URGENCY_DTYPE),
        "priority": _str_col(_names(col["priority"])),
        "service_id": _str_col(_sub(services, "id")),
        "service": _str_col(_names(services)),
        "teams": _objects(_name_lists(col["teams"])),
        "assignees": _objects(_assignees(col["assignments"])),
        "escalation_policy": _str_col(_names(col["escalation_policy"])),
        "created_at": created,
        "acknowledged_at": acked,
        "resolved_at": resolved,
        "time_to_ack": acked - created,
        "time_to_resolve": resolved - created,
        "alert_count": _ints(_sub(col["alert_counts"], "all")),
        "html_url": _str_col(col["html_url"]),
    }
    df = pd.DataFrame(data, index=pd.RangeIndex(len(recs)))
    _tag(df, adapter=adapter, raw=RawIncidents(recs))
    return df


def empty_frame(*, adapter: str | None = None, raw: RawIncidents | None = None) -> pd.DataFrame:
    """An incidents frame with no rows and the documented columns and dtypes."""
    df = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in COLUMNS.items()})
    _tag(df, adapter=adapter, raw=raw or RawIncidents([]))
    return df


def _tag(df: pd.DataFrame, *, adapter: str | None, raw: RawIncidents) -> None:
    df.attrs["atlas_kind"] = FRAME_KIND
    df.attrs["adapter"] = adapter
    df.attrs["raw"] = raw


def is_incidents_frame(obj: Any) -> bool:
    """True for a DataFrame built by :func:`incidents_frame` that still has its key columns."""
    return (
        isinstance(obj, pd.DataFrame)
        and obj.attrs.get("atlas_kind") == FRAME_KIND
        and {"id", "title", "status", "urgency", "created_at"}.issubset(obj.columns)
    )


@pd.api.extensions.register_dataframe_accessor("pagerduty")
class PagerDutyAccessor:
    """``df.pagerduty``: the raw dicts and helpers of an incidents frame.

    Example::

        df[df.status == "triggered"].pagerduty.raw[0]["first_trigger_log_entry"]
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    @property
    def raw(self) -> list[dict[str, Any]]:
        """The raw incident dicts of the rows of this frame, in row order."""
        store = self._df.attrs.get("raw")
        if not isinstance(store, RawIncidents) or "id" not in self._df.columns:
            raise AttributeError("this DataFrame was not built by atlas_canvas.pagerduty")
        return [store[i] for i in self._df["id"].tolist() if i in store]

    def copy_raw(self) -> list[dict[str, Any]]:
        """Deep copies of :attr:`raw` (safe to modify)."""
        return copy.deepcopy(self.raw)
