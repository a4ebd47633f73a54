"""On-call endpoints: ``/oncalls``, ``/schedules[/{id}[/users]]``, ``/notifications``.

All of them read the schedules' rendered final segments (``Schedule.segments``) and the
incidents' notify log events, so they agree with each other and with the incidents'
assignments and the Analytics API.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._filters import first, parse_include, parse_page, parse_zone
from ._problems import bad_request, not_found
from ._schedules import final_entries, layer_entries
from ._timefmt import format_ts, parse_ts

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._handler import Call, Simulator

__all__ = [
    "get_schedule",
    "list_notifications",
    "list_oncalls",
    "list_schedules",
    "schedule_users",
]

#: ``GET /oncalls``: since/until at most this far apart (and shifts this far ahead).
ONCALL_MAX_RANGE = 90 * 86400
#: ``GET /notifications``: since/until at most 3 months apart (the API reference).
NOTIFICATIONS_MAX_RANGE = 92 * 86400
NOTIFICATION_TYPES = frozenset(
    {"sms_notification", "email_notification", "phone_notification", "push_notification"}
)


def _bounds(
    sim: Simulator, call: Call, zone: dt.tzinfo | None, default: tuple[int, int] | None = None
) -> tuple[int | None, int | None]:
    read_zone = zone or sim.account_zone
    since_raw, until_raw = first(call.params, "since"), first(call.params, "until")
    try:
        since = parse_ts(since_raw, read_zone) if since_raw else None
        until = parse_ts(until_raw, read_zone) if until_raw else None
    except ValueError:
        bad = "since" if since_raw and not _parses(since_raw) else "until"
        raise bad_request(f"{bad.capitalize()} is not a valid ISO 8601 date.", code=2004) from None
    return since, until


def _parses(text: str) -> bool:
    try:
        parse_ts(text)
    except ValueError:
        return False
    return True


def list_oncalls(sim: Simulator, call: Call) -> bytes:
    """``GET /oncalls``: every on-call (policy, level, user, shift) overlapping the range.

    ``since``/``until`` default to now; the range may be at most 90 days. ``earliest=true``
    keeps only the first on-call of each user, policy and level.
    """
    from ._filters import boolean
    from ._handler import page_of

    page = parse_page(call.params)
    zone = parse_zone(call.params)
    include = parse_include(call.params, frozenset({"escalation_policies", "users", "schedules"}))
    a = sim.account
    users = sim.ids(call.params, "user_ids", sim.store.users_by_id)
    eps = sim.ids(call.params, "escalation_policy_ids", sim.store.eps_by_id)
    schedules = sim.ids(call.params, "schedule_ids", sim.schedules_by_id)
    now = sim.store.clock()
    since, until = _bounds(sim, call, zone)
    # Each bound defaults to the current time (the API reference); a lone future since is
    # the moment it names.
    if until is None:
        until = max(now, since) if since is not None else now
    since = now if since is None else since
    if until < since:
        raise bad_request("Until must be after since.", code=2005)
    if until - since > ONCALL_MAX_RANGE:
        raise bad_request("The range between since and until must be at most 90 days.", code=2005)
    earliest = boolean(call.params, "earliest")
    render = sim.store.render
    out: list[dict[str, Any]] = []
    for p in a.escalation_policies:
        if eps is not None and p.idx not in eps:
            continue
        seen: set[tuple[int, int]] = set()
        for level, (_, _, sched) in enumerate(p.rules, 1):
            if schedules is not None and sched not in schedules:
                continue
            schedule = a.schedules[sched]
            # An on-call overlapping [since, until] is included; since == until means "at".
            for begin, end, user in _segments_overlapping(schedule, since, until):
                if users is not None and user not in users:
                    continue
                if earliest and (level, user) in seen:
                    continue
                seen.add((level, user))
                obj: dict[str, Any] = {
                    "escalation_policy": render.escalation_policy(p.idx)
                    if "escalation_policies" in include
                    else render.ep_refs[p.idx],
                    "escalation_level": level,
                    "schedule": render.schedule(sched, zone)
                    if "schedules" in include
                    else render.schedule_refs[sched],
                    "user": render.user(user, zone)
                    if "users" in include
                    else render.user_refs[user],
                    "start": format_ts(begin, zone),
                    "end": format_ts(end, zone),
                }
                out.append(obj)
    return page_of("oncalls", out, page)


def _segments_overlapping(schedule: Any, since: int, until: int) -> list[tuple[int, int, int]]:
    segs = schedule.segments
    import bisect

    k = max(0, bisect.bisect_right(schedule.seg_starts, since) - 1)
    out = []
    while k < len(segs):
        b, e, u = segs[k]
        if b > until or (b == until and since != until):
            break
        if e > since:
            out.append((b, e, u))
        k += 1
    return out


def list_schedules(sim: Simulator, call: Call) -> bytes:
    from ._handler import page_of, query_matches

    page = parse_page(call.params)
    zone = parse_zone(call.params)
    parse_include(call.params, frozenset({"schedule_layers"}))
    teams = sim.ids(call.params, "team_ids", sim.store.teams_by_id)
    a = sim.account
    out = []
    for s in sorted(a.schedules, key=lambda s: s.name.lower()):
        if not query_matches(call.params, s.name):
            continue
        if teams is not None and not any(t in teams for t in sim.schedule_teams(s.idx)):
            continue
        out.append(sim.store.render.schedule(s.idx, zone))
    return page_of("schedules", out, page)


def _schedule_index(sim: Simulator, ident: str) -> int:
    idx = sim.schedules_by_id.get(ident)
    if idx is None:
        raise not_found()
    return idx


def get_schedule(sim: Simulator, call: Call, ident: str) -> dict[str, Any]:
    """``GET /schedules/{id}``: with ``since``/``until``, layers and the final schedule are
    rendered over that range (default: the next week from now when only one is given)."""
    idx = _schedule_index(sim, ident)
    zone = parse_zone(call.params)
    since, until = _bounds(sim, call, zone)
    obj = sim.store.render.schedule(idx, zone)
    if since is None and until is None:
        return {"schedule": obj}
    now = sim.store.clock()
    since = now if since is None else since
    until = since + 7 * 86400 if until is None else until
    if until <= since:
        raise bad_request("Until must be after since.", code=2005)
    schedule = sim.account.schedules[idx]
    render = sim.store.render

    def entries(items: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
        return [
            {"user": render.user_refs[u], "start": format_ts(b, zone), "end": format_ts(e, zone)}
            for b, e, u in items
        ]

    def coverage(items: list[tuple[int, int, int]]) -> float:
        return round(100.0 * sum(e - b for b, e, _ in items) / (until - since), 2)

    # The object lists the highest layer first.
    for layer_obj, layer in zip(obj["schedule_layers"], reversed(schedule.layers), strict=True):
        rendered = layer_entries(layer, schedule.time_zone, since, until)
        layer_obj["rendered_schedule_entries"] = entries(rendered)
        layer_obj["rendered_coverage_percentage"] = coverage(rendered)
    final = final_entries(schedule, since, until)
    overrides = [
        (max(o.start, since), min(o.end, until), o.user)
        for o in schedule.overrides
        if o.start < until and o.end > since
    ]
    obj["final_schedule"] = {
        "name": "Final Schedule",
        "rendered_schedule_entries": entries(final),
        "rendered_coverage_percentage": coverage(final),
    }
    obj["overrides_subschedule"] = {
        "name": "Overrides",
        "rendered_schedule_entries": entries(overrides),
        "rendered_coverage_percentage": coverage(overrides),
    }
    return {"schedule": obj}


def schedule_users(sim: Simulator, call: Call, ident: str) -> dict[str, Any]:
    """``GET /schedules/{id}/users``: users on call in the range (default: everyone on it)."""
    idx = _schedule_index(sim, ident)
    zone = parse_zone(call.params)
    since, until = _bounds(sim, call, zone)
    schedule = sim.account.schedules[idx]
    if since is None and until is None:
        members = {u for layer in schedule.layers for u in layer.users}
        members |= {o.user for o in schedule.overrides}
    else:
        now = sim.store.clock()
        lo = now if since is None else since
        hi = lo + 7 * 86400 if until is None else until
        if hi <= lo:
            raise bad_request("Until must be after since.", code=2005)
        members = {u for _, _, u in final_entries(schedule, lo, hi)}
    users = sorted(members, key=lambda u: sim.account.users[u].name.lower())
    return {"users": [sim.store.render.user(u, zone) for u in users]}


def list_notifications(sim: Simulator, call: Call) -> bytes:
    """``GET /notifications``: every notification sent in ``[since, until)``, oldest first.

    Both bounds are required and at most 3 months apart; ``filter`` keeps one type;
    ``include[]=users`` expands the users.
    """
    from ._handler import page_bytes

    page = parse_page(call.params)
    zone = parse_zone(call.params)
    include = parse_include(call.params, frozenset({"users"}))
    since, until = _bounds(sim, call, zone)
    if since is None or until is None:
        missing = "since" if since is None else "until"
        raise bad_request(f"{missing.capitalize()} is required.", code=2003)
    if until < since:
        raise bad_request("Until must be after since.", code=2005)
    if until - since > NOTIFICATIONS_MAX_RANGE:
        raise bad_request("The range between since and until must be at most 3 months.", code=2005)
    kind = first(call.params, "filter")
    if kind and kind not in NOTIFICATION_TYPES:
        raise bad_request(f"Filter must be one of {', '.join(sorted(NOTIFICATION_TYPES))}.")
    events = sim.store.account_log(since, until, frozenset({"notify"}))
    if kind:
        events = [(inc, ev) for inc, ev in events if (ev.notice or "push_notification") == kind]
    events = events[::-1]
    render = sim.store.render
    parts = []
    from ._store import dumps

    for _, ev in events[page.offset : page.offset + page.limit]:
        obj = render.notification(ev, zone)
        if "users" in include:
            obj["user"] = render.user(ev.target, zone)
        parts.append(dumps(obj))
    return page_bytes("notifications", parts, page, len(events))
