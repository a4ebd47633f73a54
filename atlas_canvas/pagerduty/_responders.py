"""Responder health: ``analytics_incidents()`` and ``responder_load()``.

Both read PagerDuty's Analytics API when the account has it (Business plan or above) and
otherwise compute the same columns from incidents, log entries and users through the REST
API, with the rules of :mod:`atlas_canvas.pagerduty._figures` (the simulator's Analytics
answers use the same module, so on it the two sources agree). ``df.attrs["source"]`` says
which one was used, ``df.attrs["note"]`` why when it fell back.

Example::

    from atlas_canvas import pagerduty
    load = pagerduty.responder_load(since="30d")
    load[["user", "interruptions", "sleep_hour_interruptions", "oncall_hours", "load_share"]]
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from .._errors import AtlasError, HTTPStatusError, UsageError
from ._figures import Event, incident_figures, responder_figures

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from ._session import PagerDutySession

__all__ = [
    "ANALYTICS_COLUMNS",
    "RESPONDER_COLUMNS",
    "AnalyticsUnavailable",
    "analytics_incidents",
    "fetch_analytics_incidents",
    "fetch_responder_load",
    "responder_load",
]

TimeArg = str | datetime | date | None
ListArg = str | Iterable[str] | None
Source = Literal["auto", "analytics", "computed"]

#: The Analytics API's page size limit (its cursor pages take up to 1,000 rows).
ANALYTICS_PAGE = 1000
#: The raw-incident columns both sources give (the Analytics API's names).
ANALYTICS_COLUMNS = (
    "id",
    "incident_number",
    "description",
    "status",
    "urgency",
    "major",
    "created_at",
    "updated_at",
    "resolved_at",
    "service_id",
    "service_name",
    "team_id",
    "team_name",
    "escalation_policy_id",
    "escalation_policy_name",
    "priority_id",
    "priority_name",
    "priority_order",
    "seconds_to_first_ack",
    "seconds_to_resolve",
    "seconds_to_engage",
    "seconds_to_mobilize",
    "engaged_seconds",
    "engaged_user_count",
    "active_user_count",
    "acknowledgement_count",
    "assignment_count",
    "reassignment_count",
    "escalation_count",
    "timeout_escalation_count",
    "manual_escalation_count",
    "auto_resolved",
    "total_notifications",
    "total_interruptions",
    "business_hour_interruptions",
    "off_hour_interruptions",
    "sleep_hour_interruptions",
    "assigned_user_ids",
    "assigned_user_names",
    "acknowledged_user_ids",
    "acknowledged_user_names",
    "resolved_by_user_id",
    "resolved_by_user_name",
)
_INT_COLUMNS = (
    "incident_number",
    "priority_order",
    "seconds_to_first_ack",
    "seconds_to_resolve",
    "seconds_to_engage",
    "seconds_to_mobilize",
    "engaged_seconds",
    "engaged_user_count",
    "active_user_count",
    "acknowledgement_count",
    "assignment_count",
    "reassignment_count",
    "escalation_count",
    "timeout_escalation_count",
    "manual_escalation_count",
    "total_notifications",
    "total_interruptions",
    "business_hour_interruptions",
    "off_hour_interruptions",
    "sleep_hour_interruptions",
)
RESPONDER_COLUMNS = (
    "user_id",
    "user",
    "time_zone",
    "incidents",
    "acknowledged",
    "notifications",
    "interruptions",
    "business_hour_interruptions",
    "off_hour_interruptions",
    "sleep_hour_interruptions",
    "oncall_hours",
    "load_share",
    "team",
)


class AnalyticsUnavailable(Exception):
    """The Analytics API cannot answer for this key/account (internal: triggers the fallback)."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


def _ids(value: ListArg) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [x.strip() for item in items for x in str(item).split(",") if x.strip()]


def _errors_of(r: Any) -> list[str]:
    """The ``errors`` texts of a PagerDuty error body (or its message)."""
    try:
        error = r.data.get("error") or {}
    except (ValueError, AttributeError):
        return []
    errors = error.get("errors")
    if isinstance(errors, list) and errors:
        return [str(e) for e in errors]
    return [str(error.get("message"))] if error.get("message") else []


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- the Analytics API ----------------------------------------------------------------------


async def _post(session: PagerDutySession, rest: str, body: dict[str, Any]) -> dict[str, Any]:
    """One Analytics request; 402/403 mean "not for this key/plan"; 5xx/429 retried a little."""
    for attempt in range(5):
        r = await session.request("POST", rest, json=body)
        if r.status in (429, 500, 502, 503, 504) and attempt < 4:
            await asyncio.sleep(0 if r.status == 429 else 0.25 * 2**attempt)
            continue  # the pacer holds a 429's retry until the reset
        break
    if r.status in (402, 403, 404):
        reason = {
            402: "the account's plan does not include PagerDuty's Analytics API (Business plan "
            "or above)",
            403: "this key may not read PagerDuty's Analytics API",
            404: "this endpoint has no Analytics API",
        }[r.status]
        raise AnalyticsUnavailable(reason)
    if r.status == 400:
        text = r.body.decode("utf-8", "replace")
        if "retention" in text.lower():
            # Older than the Analytics API keeps: the REST API still has the incidents.
            raise AnalyticsUnavailable(
                "PagerDuty's Analytics API does not hold data that old ("
                + "; ".join(_errors_of(r))
                + ")"
            )
        if "team_ids" in text and "service_ids" in text:
            raise UsageError(
                "PagerDuty's Analytics API answered 400: a user-level API key (or an OAuth "
                "token) must filter by team or service",
                hint="pass team_ids=[...] or service_ids=[...], use an account-level key, or "
                "source='computed' to compute the figures from incidents and log entries",
                field="team_ids",
            )
    if not r.ok:
        raise await session.explain(r)
    data = r.data
    if not isinstance(data, dict):
        raise HTTPStatusError(f"POST {session.url(rest)} answered no JSON object", status=r.status)
    return data


async def _analytics_rows(
    session: PagerDutySession,
    since: datetime,
    until: datetime,
    filters: dict[str, Any],
    counter: list[int],
) -> list[dict[str, Any]]:
    """Every raw-incident row created in ``[since, until)``, in 1,000-row cursor pages.

    One cursor chain over the whole window: ``ceil(rows / 1000)`` requests, a tenth of a
    100-per-page list. (Parallel chains over time slices would each end on a partial page;
    the Analytics API gives no total to size them by.)
    """
    body: dict[str, Any] = {
        "filters": {**filters, "created_at_start": _iso(since), "created_at_end": _iso(until)},
        "limit": ANALYTICS_PAGE,
        "order": "asc",
        "order_by": "created_at",
        "time_zone": "Etc/UTC",
    }
    rows: list[dict[str, Any]] = []
    while True:
        page = await _post(session, "analytics/raw/incidents", body)
        counter[0] += 1
        rows += page.get("data") or []
        if not page.get("more") or not page.get("last"):
            return rows
        body = {**body, "starting_after": page["last"]}


# -- computed from the REST API -------------------------------------------------------------


def _events(entries: list[dict[str, Any]]) -> list[Event]:
    out = []
    for e in entries:
        kind = str(e.get("type", "")).removesuffix("_log_entry")
        at = _epoch(e["created_at"])
        channel = (e.get("channel") or {}).get("type")
        if kind in ("assign", "escalate"):
            for who in e.get("assignees") or []:
                out.append(Event(kind, at, who.get("id"), channel))
        elif kind == "notify":
            note = ((e.get("channel") or {}).get("notification") or {}).get("type")
            out.append(Event(kind, at, (e.get("user") or {}).get("id"), channel, note))
        else:
            agent = e.get("agent") or {}
            user = agent.get("id") if str(agent.get("type", "")).startswith("user") else None
            out.append(Event(kind, at, user, channel))
    return out


async def _account_users(session: PagerDutySession, stats: Any) -> list[dict[str, Any]]:
    from ._pager import ListSpec, Pager

    return await Pager(session, stats=stats).collect(ListSpec("users", "users", unit="user"))


async def _computed_inputs(
    session: PagerDutySession,
    since: datetime,
    until: datetime,
    service_ids: list[str],
    team_ids: list[str],
    stats: Any,
    users_future: asyncio.Future[list[dict[str, Any]]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Incidents created in the window, their log entries, and the account's users
    (``users_future``: a users fetch already under way)."""
    from ._pager import LOG_ENTRIES, Pager, fetch_incident_records
    from ._query import IncidentQuery

    query = IncidentQuery.build(
        session.adapter,
        service_ids=service_ids or None,
        team_ids=team_ids or None,
        since=since,
        until=until,
    )
    (records, inc_stats), users = await asyncio.gather(
        fetch_incident_records(query, session=session, progress=False),
        users_future if users_future is not None else _account_users(session, stats),
    )
    stats.requests += inc_stats.requests
    wanted = {r["id"] for r in records}
    by_incident: dict[str, list[dict[str, Any]]] = {i: [] for i in wanted}
    if records:
        # Entries run from the first trigger to the last resolve (or now, if still open).
        first = min(_epoch(r["created_at"]) for r in records)
        open_now = any(not r.get("resolved_at") for r in records)
        last = (
            datetime.now(timezone.utc).timestamp()
            if open_now
            else max(_epoch(r["resolved_at"]) for r in records)
        )
        lo = datetime.fromtimestamp(first, timezone.utc)
        hi = datetime.fromtimestamp(last + 1, timezone.utc)
        spec = replace(LOG_ENTRIES, params=(("time_zone", "UTC"),), unit="log entry")
        pager = Pager(session, stats=stats)
        for entry in await pager.collect(spec, since=lo, until=hi):
            inc = (entry.get("incident") or {}).get("id")
            if inc in by_incident:
                by_incident[inc].append(entry)
    return records, by_incident, users


def _computed_rows(
    records: list[dict[str, Any]],
    logs: dict[str, list[dict[str, Any]]],
    users: list[dict[str, Any]],
    major_priorities: set[str],
) -> list[dict[str, Any]]:
    zones = {u["id"]: u.get("time_zone") for u in users}
    names = {u["id"]: u.get("name") or u.get("summary") for u in users}
    rows = []
    for r in records:
        f = incident_figures(*_timeline(r, logs), zones)
        service = r.get("service") or {}
        team = (r.get("teams") or [{}])[0]
        ep = r.get("escalation_policy") or {}
        priority = r.get("priority") or None
        by = f["resolved_by_user_id"]
        rows.append(
            {
                "id": r["id"],
                "incident_number": r.get("incident_number"),
                "description": r.get("title"),
                "status": r.get("status"),
                "urgency": r.get("urgency"),
                "major": bool(priority and priority.get("id") in major_priorities)
                or int(f["engaged_user_count"]) > 1,  # type: ignore[call-overload]
                "created_at": r["created_at"],
                "updated_at": r.get("updated_at"),
                "resolved_at": r.get("resolved_at"),
                "service_id": service.get("id"),
                "service_name": service.get("summary"),
                "team_id": team.get("id"),
                "team_name": team.get("summary"),
                "escalation_policy_id": ep.get("id"),
                "escalation_policy_name": ep.get("summary"),
                "priority_id": priority.get("id") if priority else None,
                "priority_name": (priority.get("name") or priority.get("summary"))
                if priority
                else None,
                "priority_order": priority.get("order") if priority else None,
                **{k: v for k, v in f.items() if k != "resolved_by_user_id"},
                "assigned_user_names": [names.get(u) for u in _strs(f["assigned_user_ids"])],
                "acknowledged_user_names": [
                    names.get(u) for u in _strs(f["acknowledged_user_ids"])
                ],
                "resolved_by_user_id": by,
                "resolved_by_user_name": names.get(str(by)) if by else None,
            }
        )
    return rows


async def _major_priorities(session: PagerDutySession) -> set[str]:
    """The two highest priorities: PagerDuty's "major incident" rule."""
    try:
        data = await session.get_json("priorities", {"limit": 100})
    except AtlasError:
        return set()  # an account without priorities: none is major by priority
    items = sorted(data.get("priorities") or [], key=lambda p: -(p.get("order") or 0))
    return {p["id"] for p in items[:2]}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in ANALYTICS_COLUMNS:
        if col not in df.columns:
            df[col] = None
    rest = [c for c in df.columns if c not in ANALYTICS_COLUMNS]
    df = df[[*ANALYTICS_COLUMNS, *rest]]
    for col in ("created_at", "updated_at", "resolved_at"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    for col in _INT_COLUMNS:
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    for col in ("major", "auto_resolved"):
        df[col] = df[col].astype("boolean")
    for col in ("status", "urgency"):
        df[col] = df[col].astype("category")
    return df.sort_values(["created_at", "incident_number"], kind="stable").reset_index(drop=True)


def _note(note: str) -> None:
    # One line, never a traceback: the frame still comes back.
    print(f"note: {note}", file=sys.stderr)


def _start(
    adapter: str,
    source: str,
    since: TimeArg,
    until: TimeArg,
    config: Any,
    base_url: str | None,
    transport: Any,
    session: PagerDutySession | None,
) -> tuple[datetime, datetime, PagerDutySession]:
    """Both fetches' first steps: check ``source``, resolve the window, open the session."""
    from ._oncall import window
    from ._session import PagerDutySession

    if source not in ("auto", "analytics", "computed"):
        raise UsageError(f"source must be 'auto', 'analytics' or 'computed', got {source!r}")
    lo, hi = window(since, until)
    pds = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    return lo, hi, pds


def _unavailable(exc: AnalyticsUnavailable, hint: str) -> UsageError:
    """The error for ``source="analytics"`` when the Analytics API cannot answer."""
    return UsageError(f"PagerDuty's Analytics API is not available: {exc.note}", hint=hint)


def _finish(
    df: pd.DataFrame,
    source: str,
    lo: datetime,
    hi: datetime,
    requests: int,
    note: str | None = None,
) -> pd.DataFrame:
    """Label a frame with its source, window and request count (and the fallback's note)."""
    df.attrs.update(
        source=source,
        window={"since": lo.isoformat(), "until": hi.isoformat()},
        fetch={"requests": requests},
    )
    if note:
        df.attrs["note"] = note
        _note(note)
    return df


def _timeline(
    record: dict[str, Any], logs: dict[str, list[dict[str, Any]]]
) -> tuple[float, float | None, list[Event]]:
    """An incident's created and resolved epochs and its log entries as events."""
    created = _epoch(record["created_at"])
    resolved = _epoch(record["resolved_at"]) if record.get("resolved_at") else None
    return created, resolved, _events(logs.get(record["id"], []))


async def fetch_analytics_incidents(
    adapter: str = "pagerduty",
    *,
    since: TimeArg = None,
    until: TimeArg = None,
    service_ids: ListArg = None,
    team_ids: ListArg = None,
    source: Source = "auto",
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """The awaitable :func:`analytics_incidents`."""
    from ._pager import FetchStats

    lo, hi, pds = _start(adapter, source, since, until, config, base_url, transport, session)
    services, teams = _ids(service_ids), _ids(team_ids)
    note = None
    if source in ("auto", "analytics"):
        filters: dict[str, Any] = {}
        if services:
            filters["service_ids"] = services
        if teams:
            filters["team_ids"] = teams
        counter = [0]
        try:
            rows = await _analytics_rows(pds, lo, hi, filters, counter)
        except AnalyticsUnavailable as exc:
            if source == "analytics":
                raise _unavailable(
                    exc,
                    "use source='computed' (or 'auto') to compute the same columns from "
                    "incidents and log entries",
                ) from None
            note = f"{exc.note}; computed from incidents and log entries instead"
        else:
            return _finish(_frame(rows), "analytics", lo, hi, counter[0])
    stats = FetchStats()
    (records, logs, users), major = await asyncio.gather(
        _computed_inputs(pds, lo, hi, services, teams, stats), _major_priorities(pds)
    )
    df = _frame(_computed_rows(records, logs, users, major))
    return _finish(df, "computed", lo, hi, stats.requests + 1, note)


def analytics_incidents(
    since: TimeArg = None,
    until: TimeArg = None,
    service_ids: ListArg = None,
    team_ids: ListArg = None,
    adapter: str = "pagerduty",
    *,
    source: Source = "auto",
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """PagerDuty's Analytics raw incidents (created in the window), one typed row each.

    Columns use the Analytics API's names (``pagerduty._responders.ANALYTICS_COLUMNS``):
    ``seconds_to_first_ack``, ``seconds_to_resolve``, ``engaged_user_count``,
    ``escalation_count``, ``total_notifications``, ``total_interruptions`` and the
    business/off/sleep-hour split, assigned/acknowledged users, ... A lone ``since`` runs to
    now; neither is the last 30 days. ``source="auto"`` reads the Analytics API (one chain of
    1,000-row cursor pages) and, when the account's plan lacks it, the key may not read it
    or the window is older than it keeps, computes the same columns from incidents, log
    entries and users and prints a one-line note; ``"analytics"`` or ``"computed"`` force one
    source. ``df.attrs["source"]`` is ``"analytics"`` or ``"computed"``. A user-level key must pass
    ``team_ids`` or ``service_ids`` (PagerDuty's rule); the error says so.

    Example::

        from atlas_canvas import pagerduty
        rows = pagerduty.analytics_incidents(since="30d")
        rows["seconds_to_first_ack"].describe()
    """
    from .._bridge import run_sync

    return run_sync(
        fetch_analytics_incidents(
            adapter,
            since=since,
            until=until,
            service_ids=service_ids,
            team_ids=team_ids,
            source=source,
            config=config,
            base_url=base_url,
            transport=transport,
            session=session,
        )
    )


# -- responder load ---------------------------------------------------------------------------


def _load_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(RESPONDER_COLUMNS))
    for col in RESPONDER_COLUMNS[3:10]:
        df[col] = df[col].astype("int64")
    df["oncall_hours"] = df["oncall_hours"].astype("float64")
    total = df["interruptions"].sum()
    df["load_share"] = (df["interruptions"] / total) if total else 0.0
    for col in ("user_id", "user", "time_zone", "team"):
        df[col] = df[col].astype("string")
    return df.sort_values(
        ["interruptions", "oncall_hours", "user"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


async def fetch_responder_load(
    adapter: str = "pagerduty",
    *,
    since: TimeArg = None,
    until: TimeArg = None,
    team_ids: ListArg = None,
    source: Source = "auto",
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """The awaitable :func:`responder_load`."""
    from ._oncall import oncall_records, oncalls_frame
    from ._pager import FetchStats

    lo, hi, pds = _start(adapter, source, since, until, config, base_url, transport, session)
    teams = _ids(team_ids)
    stats = FetchStats()
    users_task = asyncio.ensure_future(_account_users(pds, stats))
    note = None
    rows: list[dict[str, Any]] = []
    try:
        if source in ("auto", "analytics"):
            filters: dict[str, Any] = {"date_range_start": _iso(lo), "date_range_end": _iso(hi)}
            if teams:
                filters["team_ids"] = teams
            try:
                data = await _post(
                    pds,
                    "analytics/metrics/responders/all",
                    {"filters": filters, "time_zone": "Etc/UTC"},
                )
            except AnalyticsUnavailable as exc:
                if source == "analytics":
                    raise _unavailable(exc, "use source='computed' (or 'auto')") from None
                note = f"{exc.note}; computed from incidents, log entries and on-calls instead"
            else:
                stats.requests += 1
                users = {u["id"]: u for u in await users_task}
                for m in data.get("data") or []:
                    uid = str(m.get("responder_id"))
                    user = users.get(uid, {})
                    rows.append(
                        {
                            "user_id": uid,
                            "user": m.get("responder_name") or user.get("name"),
                            "time_zone": user.get("time_zone"),
                            "team": m.get("team_name"),
                            "incidents": m.get("total_incident_count") or 0,
                            "acknowledged": m.get("total_incidents_acknowledged") or 0,
                            "notifications": m.get("total_notifications") or 0,
                            "interruptions": m.get("total_interruptions") or 0,
                            "business_hour_interruptions": m.get(
                                "total_business_hour_interruptions"
                            )
                            or 0,
                            "off_hour_interruptions": m.get("total_off_hour_interruptions") or 0,
                            "sleep_hour_interruptions": m.get("total_sleep_hour_interruptions")
                            or 0,
                            "oncall_hours": (m.get("total_seconds_on_call") or 0) / 3600,
                        }
                    )
                return _finish(_load_frame(rows), "analytics", lo, hi, stats.requests)
        (records, logs, user_list), shifts = await asyncio.gather(
            _computed_inputs(pds, lo, hi, [], teams, stats, users_task),
            oncall_records(pds, lo, hi, stats=stats),
        )
    finally:
        if not users_task.done():
            users_task.cancel()
    zones = {u["id"]: u.get("time_zone") for u in user_list}
    per = responder_figures((_timeline(r, logs) for r in records), zones)
    hours = oncalls_frame(shifts, lo, hi)
    by_user = hours.groupby("user_id")["duration"].sum() if len(hours) else None
    users = {u["id"]: u for u in user_list}
    team_names = {u["id"]: ((u.get("teams") or [{}])[0].get("summary")) for u in user_list}
    team_ids_of = {u["id"]: {t.get("id") for t in u.get("teams") or []} for u in user_list}
    on_call = {} if by_user is None else {str(k): v for k, v in by_user.items()}
    for uid in sorted(set(per) | set(on_call)):
        if teams and not (team_ids_of.get(uid, set()) & set(teams)):
            continue
        r = per.get(uid, {})
        user = users.get(uid, {})
        seconds = on_call[uid].total_seconds() if uid in on_call else 0.0
        rows.append(
            {
                "user_id": uid,
                "user": user.get("name") or user.get("summary"),
                "time_zone": user.get("time_zone"),
                "team": team_names.get(uid),
                "incidents": r.get("incidents", 0),
                "acknowledged": r.get("acknowledged", 0),
                "notifications": r.get("notifications", 0),
                "interruptions": r.get("interruptions", 0),
                "business_hour_interruptions": r.get("business_hour_interruptions", 0),
                "off_hour_interruptions": r.get("off_hour_interruptions", 0),
                "sleep_hour_interruptions": r.get("sleep_hour_interruptions", 0),
                "oncall_hours": seconds / 3600,
            }
        )
    return _finish(_load_frame(rows), "computed", lo, hi, stats.requests, note)


def responder_load(
    since: TimeArg = None,
    until: TimeArg = None,
    adapter: str = "pagerduty",
    *,
    team_ids: ListArg = None,
    source: Source = "auto",
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> pd.DataFrame:
    """On-call load per responder over a window (incidents created in it, hours on call in it).

    One row per responder (anyone assigned, escalated to, notified, acknowledging or on call):
    ``user_id``, ``user``, ``time_zone``, ``incidents`` (assigned, notified or
    acknowledged), ``acknowledged``, ``notifications``, ``interruptions`` and
    ``business_hour_interruptions``/``off_hour_interruptions``/``sleep_hour_interruptions``
    (PagerDuty's hours in the responder's own zone; they add up to ``interruptions``; several
    pages about one incident within 10 minutes count once), ``oncall_hours`` and
    ``load_share`` (the responder's share of all interruptions in the frame), then ``team``
    (the responder's first team). Most loaded
    first. Reads ``/analytics/metrics/responders/all`` when the plan has it, else computes the
    same from incidents, log entries and ``/oncalls`` (``df.attrs["source"]``, and a one-line
    note saying why).

    Example::

        from atlas_canvas import pagerduty
        pagerduty.responder_load(since="2026-05-01", until="2026-06-01").head()
    """
    from .._bridge import run_sync

    return run_sync(
        fetch_responder_load(
            adapter,
            since=since,
            until=until,
            team_ids=team_ids,
            source=source,
            config=config,
            base_url=base_url,
            transport=transport,
            session=session,
        )
    )
