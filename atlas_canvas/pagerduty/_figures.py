"""PagerDuty's responder figures from an incident's events: one pure module, two users.

The simulator's Analytics API answers and the library's computed fallback
(``analytics_incidents()`` / ``responder_load()`` when the Analytics API is unavailable) both
call :func:`incident_figures`, so the two sources give the same numbers by construction.
Standard library only: importing it costs nothing.

The rules (PagerDuty's words are quoted in the Analytics schema of its OpenAPI file):

- **Hours**, in the *responder's* time zone: business hours 08:00-18:00 Monday-Friday; off
  hours 18:00-22:00 Monday-Friday and all day Saturday and Sunday; sleep hours 22:00-08:00
  every day. Sleep wins over the weekend, so Saturday 23:00 is sleep, Saturday 12:00 is off.
- **An interruption** is a notification that reaches a person's phone: ``phone``, ``sms`` or
  ``push`` (an email waits until someone reads it, so it counts as a notification only).
- **Unique interruptions**: PagerDuty counts "unique interruptions" without publishing the
  window; here notifications to one responder about one incident that start within
  :data:`UNIQUE_INTERRUPTION_WINDOW` (10 minutes) of the first one of a run count once, at the
  time (and so in the hour kind) of that first one. A default notification rule (push now,
  SMS after a minute, a call after five) is one interruption; a page that is still open 30
  minutes later and escalates or re-notifies is a second one.

Example::

    from atlas_canvas.pagerduty._figures import hour_kind
    hour_kind(1767254340, "America/Los_Angeles")  # 'sleep' (Wed 2025-12-31 23:59 local)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "INTERRUPTING",
    "UNIQUE_INTERRUPTION_WINDOW",
    "Event",
    "Interruption",
    "hour_kind",
    "incident_figures",
    "interruptions",
    "percentile",
    "responder_figures",
]

#: Notifications to one responder about one incident this close to the first of a run
#: (seconds) count as one interruption.
UNIQUE_INTERRUPTION_WINDOW = 600
#: Notification types that interrupt (``Notification.type`` of the REST API).
INTERRUPTING = frozenset({"phone_notification", "sms_notification", "push_notification"})
HOUR_KINDS = ("business", "off", "sleep")


@functools.lru_cache(maxsize=256)
def _zone(name: str | None) -> dt.tzinfo:
    if not name or name in ("UTC", "Etc/UTC"):
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # An unknown zone name (PagerDuty also uses Rails names): count in UTC rather than fail.
        return dt.timezone.utc


def hour_kind(epoch: float, time_zone: str | None) -> str:
    """``'business'``, ``'off'`` or ``'sleep'`` for a moment in a responder's time zone."""
    local = dt.datetime.fromtimestamp(epoch, _zone(time_zone))
    hour = local.hour
    if hour >= 22 or hour < 8:
        return "sleep"
    if local.weekday() >= 5 or hour >= 18:
        return "off"
    return "business"


@dataclasses.dataclass(frozen=True)
class Event:
    """One log entry of an incident, reduced to what the figures need.

    ``kind`` is the log entry type without ``_log_entry`` (``trigger``, ``assign``,
    ``escalate``, ``acknowledge``, ``notify``, ``resolve``, ...); ``at`` epoch seconds;
    ``user`` the user acted upon (assign/escalate/notify) or the acting user (acknowledge,
    resolve), ``None`` for the service; ``channel`` the log entry's channel type;
    ``notification`` the notification type of a notify entry.
    """

    kind: str
    at: float
    user: str | None = None
    channel: str | None = None
    notification: str | None = None


@dataclasses.dataclass(frozen=True)
class Interruption:
    user: str
    at: float
    kind: str  # business, off or sleep


def interruptions(events: Iterable[Event], zones: Mapping[str, str | None]) -> list[Interruption]:
    """The unique interruptions in one incident's events (see the module docstring)."""
    by_user: dict[str, list[float]] = {}
    for ev in events:
        if ev.kind == "notify" and ev.user and ev.notification in INTERRUPTING:
            by_user.setdefault(ev.user, []).append(ev.at)
    out: list[Interruption] = []
    for user, times in by_user.items():
        times.sort()
        run_start: float | None = None
        for at in times:
            if run_start is None or at >= run_start + UNIQUE_INTERRUPTION_WINDOW:
                run_start = at
                out.append(Interruption(user, at, hour_kind(at, zones.get(user))))
    out.sort(key=lambda i: (i.at, i.user))
    return out


def incident_figures(
    created_at: float,
    resolved_at: float | None,
    events: Sequence[Event],
    zones: Mapping[str, str | None],
) -> dict[str, object]:
    """The Analytics raw-incident figures PagerDuty derives from an incident's log.

    Keys are the Analytics API's names: ``seconds_to_first_ack``, ``seconds_to_resolve``,
    ``seconds_to_engage``, ``seconds_to_mobilize``, ``engaged_seconds``,
    ``engaged_user_count``, ``active_user_count``, ``acknowledgement_count``,
    ``assignment_count``, ``reassignment_count``, ``escalation_count``,
    ``timeout_escalation_count``, ``manual_escalation_count``, ``auto_resolved``,
    ``total_notifications``, ``total_interruptions``, the three ``*_hour_interruptions``,
    ``assigned_user_ids``, ``acknowledged_user_ids``, ``resolved_by_user_id``. Times that do
    not apply are ``None`` (never acknowledged, not resolved, one responder only).
    """
    ordered = sorted(events, key=lambda e: e.at)
    first_ack: dict[str, float] = {}
    acks = 0
    assigned: list[str] = []
    assignments = reassignments = timeout_esc = manual_esc = notifications = 0
    resolved_by: str | None = None
    auto_resolved = False
    for ev in ordered:
        kind = ev.kind
        if kind == "acknowledge" and ev.user:
            acks += 1
            first_ack.setdefault(ev.user, ev.at)
        elif kind == "assign" and ev.user:
            assignments += 1
            if ev.channel not in (None, "auto"):
                reassignments += 1
            if ev.user not in assigned:
                assigned.append(ev.user)
        elif kind == "escalate" and ev.user:
            if ev.channel == "timeout":
                timeout_esc += 1
            else:
                manual_esc += 1
            if ev.user not in assigned:
                assigned.append(ev.user)
        elif kind == "notify":
            notifications += 1
        elif kind == "resolve":
            resolved_by = ev.user
            auto_resolved = ev.user is None and ev.channel == "timeout"
    engaged = sorted(first_ack.values())
    ack_seconds = round(engaged[0] - created_at) if engaged else None
    resolve_seconds = round(resolved_at - created_at) if resolved_at else None
    multi = len(engaged) > 1
    engaged_seconds = (
        round(sum(resolved_at - at for at in engaged)) if resolved_at and engaged else 0
    )
    found = interruptions(ordered, zones)
    kinds = {k: 0 for k in HOUR_KINDS}
    for item in found:
        kinds[item.kind] += 1
    return {
        "seconds_to_first_ack": ack_seconds,
        "seconds_to_resolve": resolve_seconds,
        "seconds_to_engage": round(engaged[-1] - engaged[0]) if multi else None,
        "seconds_to_mobilize": round(engaged[-1] - created_at) if multi else None,
        "engaged_seconds": engaged_seconds,
        "engaged_user_count": len(engaged),
        "active_user_count": len(engaged),
        "acknowledgement_count": acks,
        "assignment_count": assignments,
        "reassignment_count": reassignments,
        "escalation_count": timeout_esc + manual_esc,
        "timeout_escalation_count": timeout_esc,
        "manual_escalation_count": manual_esc,
        "auto_resolved": auto_resolved,
        "total_notifications": notifications,
        "total_interruptions": len(found),
        "business_hour_interruptions": kinds["business"],
        "off_hour_interruptions": kinds["off"],
        "sleep_hour_interruptions": kinds["sleep"],
        "assigned_user_ids": assigned,
        "acknowledged_user_ids": list(first_ack),
        "resolved_by_user_id": resolved_by,
    }


def responder_figures(
    incidents: Iterable[tuple[float, float | None, Sequence[Event]]],
    zones: Mapping[str, str | None],
) -> dict[str, dict[str, int]]:
    """Per responder, over ``(created_at, resolved_at, events)`` of several incidents.

    A responder is anyone an incident was assigned or escalated to, who was notified, or
    who acknowledged. Keys per responder: ``incidents`` (involved in), ``acknowledged``,
    ``notifications``, ``interruptions`` and ``business_hour_interruptions``,
    ``off_hour_interruptions``, ``sleep_hour_interruptions``, ``engaged_seconds``,
    ``seconds_to_ack`` (sum over the incidents they acknowledged), ``escalated_to``,
    ``escalated_from`` (timeout escalations).
    """
    out: dict[str, dict[str, int]] = {}

    def row(user: str) -> dict[str, int]:
        found = out.get(user)
        if found is None:
            found = out[user] = {
                "incidents": 0,
                "acknowledged": 0,
                "notifications": 0,
                "interruptions": 0,
                "business_hour_interruptions": 0,
                "off_hour_interruptions": 0,
                "sleep_hour_interruptions": 0,
                "engaged_seconds": 0,
                "seconds_to_ack": 0,
                "escalated_to": 0,
                "escalated_from": 0,
            }
        return found

    for created_at, resolved_at, events in incidents:
        ordered = sorted(events, key=lambda e: e.at)
        involved: set[str] = set()
        acked: dict[str, float] = {}
        holder: str | None = None
        for ev in ordered:
            if not ev.user:
                continue
            if ev.kind in ("assign", "escalate"):
                involved.add(ev.user)
                if ev.kind == "escalate" and ev.channel == "timeout":
                    row(ev.user)["escalated_to"] += 1
                    if holder and holder != ev.user:
                        row(holder)["escalated_from"] += 1
                holder = ev.user
            elif ev.kind == "notify":
                involved.add(ev.user)
                row(ev.user)["notifications"] += 1
            elif ev.kind == "acknowledge":
                involved.add(ev.user)
                acked.setdefault(ev.user, ev.at)
        for user in involved:
            row(user)["incidents"] += 1
        for user, at in acked.items():
            r = row(user)
            r["acknowledged"] += 1
            r["seconds_to_ack"] += round(at - created_at)
            if resolved_at:
                r["engaged_seconds"] += round(resolved_at - at)
        for item in interruptions(ordered, zones):
            r = row(item.user)
            r["interruptions"] += 1
            r[f"{item.kind}_hour_interruptions"] += 1
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)
