"""The Analytics API: raw incidents (cursor paging), incident and responder metrics.

Every figure is computed by :mod:`atlas_canvas.pagerduty._figures` from the same incident
log the REST endpoints serve, so the library's computed fallback (incidents + log entries)
gives the same numbers. Analytics needs the Business plan: on ``plan="professional"`` every
``/analytics/*`` request answers PagerDuty's 402 "Missing Account Ability" (code 2014).
User-level keys must filter by ``team_ids`` or ``service_ids`` (a 400 otherwise), as the
operation's description in the OpenAPI file says.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..pagerduty._figures import Event, incident_figures, percentile, responder_figures
from ._model import Incident
from ._problems import ApiProblem, bad_request, not_found
from ._render import timeline
from ._timefmt import format_ts, get_zone, parse_ts

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._handler import Call, Simulator

__all__ = ["MAX_ANALYTICS_LIMIT", "route"]

MAX_ANALYTICS_LIMIT = 1000
DEFAULT_ANALYTICS_LIMIT = 20
PLAN_ERROR = {
    "error": {
        "message": "Payment Required",
        "code": 2014,
        "errors": [
            "Missing Account Ability: the account's plan does not include Analytics "
            "(Business plan or above)."
        ],
    }
}
USER_KEY_FILTER_ERROR = (
    "A team_ids or service_ids filter is required for user-level API keys or keys "
    "generated through an OAuth flow."
)
_ORDER_BY = ("created_at", "seconds_to_resolve", "updated_at")


def route(sim: Simulator, call: Call) -> Any:
    """Dispatch ``/analytics/...`` (the handler answers 200 with what this returns)."""
    if sim.config.plan != "business":
        raise ApiProblem(402, PLAN_ERROR)
    parts, method = call.parts, call.method
    tail = "/".join(parts[1:])
    if method == "POST" and tail == "raw/incidents":
        return raw_incidents(sim, call)
    if method == "GET" and len(parts) == 4 and parts[1:3] == ["raw", "incidents"]:
        return {"data": _row(sim, _incident(sim, parts[3]), None)} | {"time_zone": "Etc/UTC"}
    # The OpenAPI file has GET for .../responses; POST (as some clients send) answers the same.
    if method in ("GET", "POST") and len(parts) == 5 and parts[1:3] == ["raw", "incidents"]:
        if parts[4] == "responses":
            return responses(sim, call, parts[3])
    if method == "POST" and tail in (
        "metrics/incidents/all",
        "metrics/incidents/services",
        "metrics/incidents/teams",
    ):
        return incident_metrics(sim, call, parts[3])
    if method == "POST" and tail == "metrics/responders/all":
        return responder_metrics(sim, call)
    raise not_found()


def _incident(sim: Simulator, ident: str) -> Incident:
    inc = sim.store.find_incident(ident)
    if inc is None:
        raise not_found()
    return inc


def _body(call: Call) -> dict[str, Any]:
    if call.body and "json" not in call.headers.get("content-type", ""):
        raise bad_request("params must be a Hash")
    try:
        body = json.loads(call.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("params must be a Hash")
    filters = body.get("filters", {})
    if not isinstance(filters, dict):
        raise bad_request("Filters must be an object.")
    return body


def _zone(body: dict[str, Any]) -> tuple[str, dt.tzinfo | None]:
    name = body.get("time_zone") or "Etc/UTC"
    if not isinstance(name, str):
        raise bad_request("Time zone is not a valid time zone.")
    try:
        return name, get_zone(name)
    except KeyError:
        raise bad_request("Time zone is not a valid time zone.") from None


def _time(filters: dict[str, Any], name: str, zone: dt.tzinfo | None) -> int | None:
    value = filters.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_ts(str(value), zone)
    except ValueError:
        raise bad_request(f"{name} is not a valid ISO 8601 date.") from None


def _ids(filters: dict[str, Any], name: str) -> set[str] | None:
    value = filters.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{name} must be a list of ids.")
    return set(value)


def _check_user_key(call: Call, filters: dict[str, Any]) -> None:
    if call.who.kind == "user" and not (filters.get("team_ids") or filters.get("service_ids")):
        raise bad_request(USER_KEY_FILTER_ERROR)


# -- per-incident figures -------------------------------------------------------------------


def events_of(sim: Simulator, inc: Incident) -> list[Event]:
    """The incident's log as :class:`Event` records (what the REST log entries say)."""
    users = sim.account.users
    events = inc.history if inc.history is not None else timeline(sim.account, inc)
    out = []
    for ev in events:
        if ev.kind in ("assign", "escalate", "notify"):
            user = users[ev.target].id if ev.target >= 0 else None
        else:
            user = users[ev.agent].id if ev.agent >= 0 else None
        out.append(Event(ev.kind, ev.at, user, ev.channel, ev.notice))
    return out


def _figures(sim: Simulator, inc: Incident) -> dict[str, Any]:
    cache: dict[int, tuple[int, dict[str, Any]]] = sim.__dict__.setdefault("_figure_cache", {})
    hit = cache.get(inc.number)
    if hit is not None and hit[0] == inc.version:
        return hit[1]
    figures = incident_figures(
        inc.created_at, inc.resolved_at or None, events_of(sim, inc), sim.user_zones
    )
    cache[inc.number] = (inc.version, figures)
    return figures


def _row(sim: Simulator, inc: Incident, zone: dt.tzinfo | None) -> dict[str, Any]:
    a = sim.account
    service = a.services[inc.service]
    team = a.teams[service.team]
    ep = a.escalation_policies[sim.store.render.incident_ep(inc)]
    priority = a.priorities[inc.priority] if inc.priority >= 0 else None
    names = sim.user_names
    f = _figures(sim, inc)
    resolved_by = f["resolved_by_user_id"]
    return {
        "id": inc.id,
        "incident_number": inc.number,
        "description": inc.title,
        "status": inc.status,
        "urgency": inc.urgency,
        "major": (priority is not None and priority.idx < 2) or f["engaged_user_count"] > 1,
        "created_at": format_ts(inc.created_at, zone),
        "updated_at": format_ts(inc.updated_at, zone),
        "resolved_at": format_ts(inc.resolved_at, zone) if inc.resolved_at else None,
        "service_id": service.id,
        "service_name": service.name,
        "team_id": team.id,
        "team_name": team.name,
        "escalation_policy_id": ep.id,
        "escalation_policy_name": ep.name,
        "priority_id": priority.id if priority else None,
        "priority_name": priority.name if priority else None,
        "priority_order": (len(a.priorities) - priority.idx) * 32 if priority else None,
        "incident_type_id": "PINCDEF",
        "incident_type_name": "Base Incident",
        "seconds_to_first_ack": f["seconds_to_first_ack"],
        "seconds_to_resolve": f["seconds_to_resolve"],
        "seconds_to_engage": f["seconds_to_engage"],
        "seconds_to_mobilize": f["seconds_to_mobilize"],
        "engaged_seconds": f["engaged_seconds"],
        "engaged_user_count": f["engaged_user_count"],
        "active_user_count": f["active_user_count"],
        "acknowledgement_count": f["acknowledgement_count"],
        "assignment_count": f["assignment_count"],
        "reassignment_count": f["reassignment_count"],
        "escalation_count": f["escalation_count"],
        "timeout_escalation_count": f["timeout_escalation_count"],
        "manual_escalation_count": f["manual_escalation_count"],
        "auto_resolved": f["auto_resolved"],
        "snoozed_seconds": 0,
        "user_defined_effort_seconds": None,
        "total_notifications": f["total_notifications"],
        "total_interruptions": f["total_interruptions"],
        "business_hour_interruptions": f["business_hour_interruptions"],
        "off_hour_interruptions": f["off_hour_interruptions"],
        "sleep_hour_interruptions": f["sleep_hour_interruptions"],
        "assigned_user_ids": f["assigned_user_ids"],
        "assigned_user_names": [names[u] for u in f["assigned_user_ids"]],
        "acknowledged_user_ids": f["acknowledged_user_ids"],
        "acknowledged_user_names": [names[u] for u in f["acknowledged_user_ids"]],
        "joined_user_ids": [],
        "joined_user_names": [],
        "resolved_by_user_id": resolved_by,
        "resolved_by_user_name": names.get(resolved_by) if resolved_by else None,
    }


def _select(
    sim: Simulator, filters: dict[str, Any], zone: dt.tzinfo | None, *, start: str, end: str
) -> list[Incident]:
    """Incidents matching the Analytics filters, oldest first."""
    import bisect

    lo = _time(filters, start, zone)
    hi = _time(filters, end, zone)
    retention = sim.config.analytics_retention_days
    if retention:
        horizon = sim.store.clock() - retention * 86400
        if lo is None or lo < horizon:
            raise bad_request(
                f"{start} must be within the last {retention} days (analytics data retention)."
            )
    updated_after = _time(filters, "updated_after", zone)
    incidents = sim.store.incidents
    created = sim.store.created
    i = bisect.bisect_left(created, lo) if lo is not None else 0
    j = bisect.bisect_left(created, hi) if hi is not None else len(incidents)
    urgency = filters.get("urgency")
    if urgency not in (None, "high", "low"):
        raise bad_request("urgency must be high or low.")
    major = filters.get("major")
    a = sim.account
    teams = _ids(filters, "team_ids")
    services = _ids(filters, "service_ids")
    priorities = _ids(filters, "priority_ids")
    priority_names = _ids(filters, "priority_names")
    out = []
    for inc in incidents[i:j]:
        service = a.services[inc.service]
        if urgency and inc.urgency != urgency:
            continue
        if services is not None and service.id not in services:
            continue
        if teams is not None and a.teams[service.team].id not in teams:
            continue
        if updated_after is not None and inc.updated_at <= updated_after:
            continue
        if priorities is not None or priority_names is not None:
            p = a.priorities[inc.priority] if inc.priority >= 0 else None
            if p is None:
                continue
            if priorities is not None and p.id not in priorities:
                continue
            if priority_names is not None and p.name not in priority_names:
                continue
        if major is not None:
            f = _figures(sim, inc)
            is_major = 0 <= inc.priority < 2 or int(f["engaged_user_count"]) > 1
            if bool(major) != is_major:
                continue
        out.append(inc)
    return out


def _cursor(inc: Incident) -> str:
    return base64.urlsafe_b64encode(f"incident:{inc.number}".encode()).decode().rstrip("=")


def _from_cursor(value: Any) -> int:
    try:
        text = base64.urlsafe_b64decode(str(value) + "=" * (-len(str(value)) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "incident":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("starting_after is not a cursor this API returned.") from None


def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", DEFAULT_ANALYTICS_LIMIT)
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not 1 <= limit <= MAX_ANALYTICS_LIMIT
    ):
        raise bad_request(f"limit must be an integer between 1 and {MAX_ANALYTICS_LIMIT}.")
    return limit


def raw_incidents(sim: Simulator, call: Call) -> dict[str, Any]:
    """``POST /analytics/raw/incidents``: one row per incident, cursor paged (limit <= 1000)."""
    body = _body(call)
    filters = body.get("filters") or {}
    _check_user_key(call, filters)
    zone_name, zone = _zone(body)
    limit = _limit(body)
    order = body.get("order", "desc")
    order_by = body.get("order_by", "created_at")
    if order not in ("asc", "desc"):
        raise bad_request("order must be asc or desc.")
    if order_by not in _ORDER_BY:
        raise bad_request(f"order_by must be one of {', '.join(_ORDER_BY)}.")
    # A cursor walk asks for the same selection page after page: keep the last few (a write
    # bumps the store's generation, which drops them).
    cache_key = json.dumps([filters, zone_name, order, order_by], sort_keys=True, default=str)
    cache: dict[str, tuple[int, list[Incident], dict[int, int]]] = sim.__dict__.setdefault(
        "_raw_selections", {}
    )
    hit = cache.get(cache_key)
    if hit is not None and hit[0] == sim.store.generation:
        selected, positions = hit[1], hit[2]
    else:
        selected = _ordered(sim, filters, zone, order, order_by)
        positions = {inc.number: n for n, inc in enumerate(selected)}
        if len(cache) >= 8:
            cache.clear()
        cache[cache_key] = (sim.store.generation, selected, positions)
    start = 0
    if body.get("starting_after"):
        number = _from_cursor(body["starting_after"])
        if number not in positions:
            raise bad_request("starting_after is not a cursor this API returned.")
        start = positions[number] + 1
    elif body.get("ending_before"):
        number = _from_cursor(body["ending_before"])
        if number not in positions:
            raise bad_request("ending_before is not a cursor this API returned.")
        start = max(0, positions[number] - limit)
        selected = selected[: positions[number]]
    page = selected[start : start + limit]
    return {
        "first": _cursor(page[0]) if page else None,
        "last": _cursor(page[-1]) if page else None,
        "limit": limit,
        "more": start + limit < len(selected),
        "order": order,
        "order_by": order_by,
        "filters": filters,
        "time_zone": zone_name,
        "data": [_row(sim, inc, zone) for inc in page],
    }


def _ordered(
    sim: Simulator, filters: dict[str, Any], zone: dt.tzinfo | None, order: str, order_by: str
) -> list[Incident]:
    selected = _select(sim, filters, zone, start="created_at_start", end="created_at_end")
    key: Callable[[Incident], Any]
    if order_by == "created_at":
        key = lambda inc: (inc.created_at, inc.number)  # noqa: E731
    elif order_by == "updated_at":
        key = lambda inc: (inc.updated_at, inc.number)  # noqa: E731
    else:
        key = lambda inc: (  # noqa: E731
            inc.resolved_at - inc.created_at if inc.resolved_at else -1,
            inc.number,
        )
    if order_by != "created_at":
        selected.sort(key=key)
    if order == "desc":
        selected.reverse()
    return selected


def responses(sim: Simulator, call: Call, ident: str) -> dict[str, Any]:
    """``GET /analytics/raw/incidents/{id}/responses``: each assignment as a responder request."""
    inc = _incident(sim, ident)
    a = sim.account
    events = inc.history if inc.history is not None else timeline(a, inc)
    acks = {ev.agent: ev.at for ev in events if ev.kind == "acknowledge" and ev.agent >= 0}
    out = []
    for ev in events:
        if ev.kind not in ("assign", "escalate") or ev.target < 0:
            continue
        acked = acks.get(ev.target)
        row: dict[str, Any] = {
            "responder_id": a.users[ev.target].id,
            "responder_name": a.users[ev.target].name,
            "responder_type": "assigned" if ev.kind == "assign" else "escalated",
            "response_status": "joined" if acked is not None else "pending",
            "requested_at": format_ts(ev.at),
        }
        if acked is not None:
            row["responded_at"] = format_ts(acked)
            row["time_to_respond_seconds"] = acked - ev.at
        out.append(row)
    out.sort(key=lambda r: r["requested_at"], reverse=True)
    return {
        "incident_id": inc.id,
        "limit": len(out),
        "order": "desc",
        "order_by": "requested_at",
        "time_zone": "Etc/UTC",
        "responses": out,
    }


# -- aggregates ------------------------------------------------------------------------------


def _bucket(epoch: int, unit: str | None, zone: dt.tzinfo | None) -> int | None:
    if unit is None:
        return None
    local = dt.datetime.fromtimestamp(epoch, zone or dt.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    if unit == "week":
        local -= dt.timedelta(days=local.weekday())
    elif unit == "month":
        local = local.replace(day=1)
    aware = local.replace(tzinfo=zone or dt.timezone.utc)
    return calendar.timegm(aware.utctimetuple())


def _mean(values: Sequence[float]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def _pct(values: Sequence[float], q: float) -> int | None:
    found = percentile(values, q)
    return None if found is None else round(found)


def _incident_metrics(sim: Simulator, incidents: list[Incident]) -> dict[str, Any]:
    figs = [_figures(sim, inc) for inc in incidents]
    acks = [f["seconds_to_first_ack"] for f in figs if f["seconds_to_first_ack"] is not None]
    res = [f["seconds_to_resolve"] for f in figs if f["seconds_to_resolve"] is not None]
    engage = [f["seconds_to_engage"] for f in figs if f["seconds_to_engage"] is not None]
    mobilize = [f["seconds_to_mobilize"] for f in figs if f["seconds_to_mobilize"] is not None]

    def total(name: str) -> int:
        return sum(int(f[name]) for f in figs)

    row = {
        "mean_assignment_count": _mean([f["assignment_count"] for f in figs]),
        "mean_engaged_seconds": _mean([f["engaged_seconds"] for f in figs]),
        "mean_engaged_user_count": _mean([f["engaged_user_count"] for f in figs]),
        "mean_seconds_to_engage": _mean(engage),
        "mean_seconds_to_first_ack": _mean(acks),
        "mean_seconds_to_mobilize": _mean(mobilize),
        "mean_seconds_to_resolve": _mean(res),
        "p50_seconds_to_first_ack": _pct(acks, 50),
        "p75_seconds_to_first_ack": _pct(acks, 75),
        "p90_seconds_to_first_ack": _pct(acks, 90),
        "p95_seconds_to_first_ack": _pct(acks, 95),
        "p50_seconds_to_resolve": _pct(res, 50),
        "p75_seconds_to_resolve": _pct(res, 75),
        "p90_seconds_to_resolve": _pct(res, 90),
        "p95_seconds_to_resolve": _pct(res, 95),
        "total_business_hour_interruptions": total("business_hour_interruptions"),
        "total_off_hour_interruptions": total("off_hour_interruptions"),
        "total_sleep_hour_interruptions": total("sleep_hour_interruptions"),
        "total_interruptions": total("total_interruptions"),
        "total_notifications": total("total_notifications"),
        "total_engaged_seconds": total("engaged_seconds"),
        "total_escalation_count": total("escalation_count"),
        "total_incident_count": len(figs),
        "total_incidents_acknowledged": sum(1 for f in figs if f["acknowledgement_count"]),
        "total_incidents_auto_resolved": sum(1 for f in figs if f["auto_resolved"]),
        "total_incidents_manual_escalated": sum(1 for f in figs if f["manual_escalation_count"]),
        "total_incidents_timeout_escalated": sum(1 for f in figs if f["timeout_escalation_count"]),
        "total_incidents_reassigned": sum(1 for f in figs if f["reassignment_count"]),
        "total_snoozed_seconds": 0,
    }
    # A mean or percentile over no values (no multi-responder incident, none resolved) is
    # left out rather than sent as null: the schema types them as integers.
    return {k: v for k, v in row.items() if v is not None}


def incident_metrics(sim: Simulator, call: Call, group: str) -> dict[str, Any]:
    """``POST /analytics/metrics/incidents/all|services|teams`` with ``aggregate_unit``."""
    body = _body(call)
    filters = body.get("filters") or {}
    _check_user_key(call, filters)
    zone_name, zone = _zone(body)
    unit = body.get("aggregate_unit")
    if unit not in (None, "day", "week", "month"):
        raise bad_request("aggregate_unit must be day, week or month.")
    selected = _select(sim, filters, zone, start="created_at_start", end="created_at_end")
    eps = _ids(filters, "escalation_policy_ids")
    if eps is not None:
        a = sim.account
        selected = [
            inc
            for inc in selected
            if a.escalation_policies[sim.store.render.incident_ep(inc)].id in eps
        ]
    a = sim.account
    groups: dict[tuple[Any, Any], list[Incident]] = {}
    for inc in selected:
        service = a.services[inc.service]
        who = service.idx if group == "services" else service.team if group == "teams" else None
        groups.setdefault((who, _bucket(inc.created_at, unit, zone)), []).append(inc)
    data = []
    for (who, bucket), members in sorted(
        groups.items(), key=lambda kv: (kv[0][1] or 0, -1 if kv[0][0] is None else kv[0][0])
    ):
        row = _incident_metrics(sim, members)
        if bucket is not None:
            row["range_start"] = format_ts(bucket, zone)
        if group == "services":
            service = a.services[who]
            row |= {"service_id": service.id, "service_name": service.name}
            row |= {"team_id": a.teams[service.team].id, "team_name": a.teams[service.team].name}
        elif group == "teams":
            row |= {"team_id": a.teams[who].id, "team_name": a.teams[who].name}
        data.append(row)
    out: dict[str, Any] = {"filters": filters, "time_zone": zone_name, "data": data}
    if unit is not None:
        out["aggregate_unit"] = unit
    if body.get("order"):
        out["order"] = body["order"]
    return out


def responder_metrics(sim: Simulator, call: Call) -> dict[str, Any]:
    """``POST /analytics/metrics/responders/all``: per responder, for incidents created in
    ``[date_range_start, date_range_end)``; hours on call over the same range."""
    body = _body(call)
    filters = body.get("filters") or {}
    _check_user_key(call, filters)
    zone_name, zone = _zone(body)
    lo = _time(filters, "date_range_start", zone)
    hi = _time(filters, "date_range_end", zone)
    if lo is None or hi is None or hi <= lo:
        raise bad_request("date_range_start and date_range_end are required, start before end.")
    shifted = dict(filters)
    selected = _select(
        sim,
        {
            **shifted,
            "created_at_start": filters["date_range_start"],
            "created_at_end": filters["date_range_end"],
        },
        zone,
        start="created_at_start",
        end="created_at_end",
    )
    a = sim.account
    per = responder_figures(
        ((inc.created_at, inc.resolved_at or None, events_of(sim, inc)) for inc in selected),
        sim.user_zones,
    )
    seconds = oncall_seconds(sim, lo, hi)
    teams = _ids(filters, "team_ids")
    wanted = _ids(filters, "responder_ids")
    by_id = {u.id: u for u in a.users}
    data = []
    for uid in sorted(set(per) | set(seconds), key=lambda u: by_id[u].name.lower()):
        user = by_id[uid]
        if wanted is not None and uid not in wanted:
            continue
        team = a.teams[user.teams[0]]
        if teams is not None and team.id not in teams:
            continue
        r = per.get(uid) or responder_figures([], {}).get(uid) or _empty()
        level1, level2 = seconds.get(uid, (0, 0))
        acked = r["acknowledged"]
        data.append(
            {
                "responder_id": uid,
                "responder_name": user.name,
                "team_id": team.id,
                "team_name": team.name,
                "total_incident_count": r["incidents"],
                "total_incidents_acknowledged": acked,
                "total_notifications": r["notifications"],
                "total_interruptions": r["interruptions"],
                "total_business_hour_interruptions": r["business_hour_interruptions"],
                "total_off_hour_interruptions": r["off_hour_interruptions"],
                "total_sleep_hour_interruptions": r["sleep_hour_interruptions"],
                "total_engaged_seconds": r["engaged_seconds"],
                "mean_engaged_seconds": round(r["engaged_seconds"] / acked) if acked else None,
                "mean_time_to_acknowledge_seconds": round(r["seconds_to_ack"] / acked)
                if acked
                else None,
                "total_incidents_timeout_escalated_to": r["escalated_to"],
                "total_incidents_timeout_escalated_from": r["escalated_from"],
                "total_incidents_manual_escalated_to": 0,
                "total_incidents_manual_escalated_from": 0,
                "total_incidents_reassigned_to": 0,
                "total_incidents_reassigned_from": 0,
                "total_seconds_on_call": level1 + level2,
                "total_seconds_on_call_level_1": level1,
                "total_seconds_on_call_level_2_plus": level2,
            }
        )
    return {"filters": filters, "time_zone": zone_name, "data": data}


def _empty() -> dict[str, int]:
    return {
        k: 0
        for k in (
            "incidents",
            "acknowledged",
            "notifications",
            "interruptions",
            "business_hour_interruptions",
            "off_hour_interruptions",
            "sleep_hour_interruptions",
            "engaged_seconds",
            "seconds_to_ack",
            "escalated_to",
            "escalated_from",
        )
    }


def oncall_seconds(sim: Simulator, lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """Seconds on call in ``[lo, hi)`` per user id: (level 1, level 2 and above), counted per
    escalation policy level, as ``GET /oncalls`` lists them."""
    from ._schedules import final_entries

    a = sim.account
    out: dict[str, list[int]] = {}
    for p in a.escalation_policies:
        for level, (_, _, sched) in enumerate(p.rules, 1):
            for b, e, u in final_entries(a.schedules[sched], lo, hi):
                slot = out.setdefault(a.users[u].id, [0, 0])
                slot[0 if level == 1 else 1] += e - b
    return {k: (v[0], v[1]) for k, v in out.items()}
