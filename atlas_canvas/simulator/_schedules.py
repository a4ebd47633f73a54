"""Schedules (layers, rotations, overrides), their rendering, and who gets notified how.

The generator calls :func:`finish` once per account, after the rotations exist and before
any incident is assigned: it adds the extra layers and the overrides and renders every
schedule's final segments over the whole span (plus :data:`FUTURE_DAYS` ahead, since
``GET /oncalls`` looks up to 90 days into the future). Everything else reads those
segments, so ``/oncalls``, ``/schedules/{id}``, incident assignments and the Analytics
API's hours on call agree.

Notifications are derived from an incident's log: each ``assign``/``escalate`` of a user
notifies that user by the user's notification rules (:func:`notices`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import zoneinfo

from ._model import Account, Layer, LogEvent, Override, Schedule, User

__all__ = [
    "FUTURE_DAYS",
    "contact_methods",
    "final_entries",
    "finish",
    "layer_entries",
    "notices",
]

FUTURE_DAYS = 400
_DAY = 86400
_WEEK = 7 * _DAY
#: Extra users' zones so every account has responders on both sides of the world.
_FAR_ZONE = "Asia/Kolkata"
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _pd_id(rng: random.Random, seen: set[str]) -> str:
    while True:
        value = "P" + "".join(rng.choice(_ID_CHARS) for _ in range(6))
        if value not in seen:
            seen.add(value)
            return value


def _restriction_windows(
    restriction: tuple[int, int, int], zone: dt.tzinfo, lo: int, hi: int
) -> list[tuple[int, int]]:
    """The weekly restriction's windows (epoch seconds) that overlap ``[lo, hi)``."""
    day_of_week, offset, duration = restriction
    local = dt.datetime.fromtimestamp(lo - _WEEK, zone).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None
    )
    local -= dt.timedelta(days=local.weekday() - (day_of_week - 1))
    out: list[tuple[int, int]] = []
    while True:
        begin_local = local + dt.timedelta(seconds=offset)
        begin = int(begin_local.replace(tzinfo=zone).timestamp())
        if begin >= hi:
            return out
        if begin + duration > lo:
            out.append((begin, begin + duration))
        local += dt.timedelta(days=7)


def layer_entries(
    layer: Layer, zone_name: str, lo: int, hi: int, *, clip: bool = True
) -> list[tuple[int, int, int]]:
    """The layer's rendered entries ``(start, end, user)`` overlapping ``[lo, hi)``."""
    lo2 = max(lo, layer.start)
    if hi <= lo2 or not layer.users:
        return []
    turn = layer.turn_seconds
    n = len(layer.users)
    zone = zoneinfo.ZoneInfo(zone_name)
    # Hand-offs keep their local wall-clock time across DST changes (Monday 09:00 stays
    # 09:00), so turns are counted on the schedule zone's clock, not in UTC seconds.
    origin = dt.datetime.fromtimestamp(layer.virtual_start, zone).replace(tzinfo=None)

    def begin_of(k: int) -> int:
        local = origin + dt.timedelta(seconds=k * turn)
        return int(local.replace(tzinfo=zone).timestamp())

    k = (lo2 - layer.virtual_start) // turn - 1
    while begin_of(k + 1) <= lo2:
        k += 1
    turns: list[tuple[int, int, int]] = []
    while True:
        begin = begin_of(k)
        if begin >= hi:
            break
        turns.append((max(begin, layer.start), begin_of(k + 1), layer.users[k % n]))
        k += 1
    if layer.restriction is not None:
        windows = _restriction_windows(layer.restriction, zone, lo2, hi)
        cut = []
        for b, e, u in turns:
            for wb, we in windows:
                s, t = max(b, wb), min(e, we)
                if s < t:
                    cut.append((s, t, u))
        turns = cut
    out = []
    for b, e, u in turns:
        if clip:
            b, e = max(b, lo), min(e, hi)
        if b < e and e > lo:
            out.append((b, e, u))
    return out


def _render_final(schedule: Schedule, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """Overrides over later layers over earlier ones, merged where one user goes on."""
    levels = [layer_entries(layer, schedule.time_zone, lo, hi) for layer in schedule.layers]
    levels.append(
        sorted((o.start, o.end, o.user) for o in schedule.overrides if o.end > lo and o.start < hi)
    )
    starts = [[p[0] for p in level] for level in levels]
    bounds = sorted({lo, hi, *(x for level in levels for p in level for x in p[:2])})
    out: list[tuple[int, int, int]] = []
    for a, b in itertools.pairwise(bounds):
        if not lo <= a < hi:
            continue
        user = -1
        for level, level_starts in zip(reversed(levels), reversed(starts), strict=True):
            k = bisect.bisect_right(level_starts, a) - 1
            if k >= 0 and level[k][0] <= a < level[k][1]:
                user = level[k][2]
                break
        if user < 0:
            continue
        if out and out[-1][1] == a and out[-1][2] == user:
            out[-1] = (out[-1][0], b, user)
        else:
            out.append((a, b, user))
    return out


def final_entries(schedule: Schedule, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """The final schedule's segments overlapping ``[lo, hi)``, clipped to it."""
    segs = schedule.segments
    k = max(0, bisect.bisect_right(schedule.seg_starts, lo) - 1)
    out = []
    while k < len(segs) and segs[k][0] < hi:
        b, e, u = segs[k]
        if e > lo:
            out.append((max(b, lo), min(e, hi), u))
        k += 1
    return out


def finish(account: Account, seed: int, end: int) -> None:
    """Add weekend layers, overrides and far-away responders; render the final schedules.

    A separate random stream (seeded from ``seed``) keeps the rest of the account exactly as
    the generator's main stream made it.
    """
    rng = random.Random(f"schedules:{seed}")
    seen = {s.id for s in account.schedules} | {u.id for u in account.users}
    for team in account.teams:
        members = [u for u in account.users if team.idx in u.teams]
        if len(members) > 2:
            rng.choice(members[1:]).time_zone = _FAR_ZONE
    for schedule in account.schedules:
        base = Layer(
            _pd_id(rng, seen),
            "Weekly rotation",
            schedule.start,
            list(schedule.users),
            schedule.start,
            schedule.shift_seconds,
        )
        schedule.layers = [base]
        team_index = account.schedules.index(schedule) // 2
        if schedule.name.endswith("Primary") and team_index % 2 == 0:
            # Saturday 09:00 to Monday 09:00 local: someone else covers the weekend.
            weekend = list(reversed(schedule.users))
            schedule.layers.append(
                Layer(
                    _pd_id(rng, seen),
                    "Weekend cover",
                    schedule.start,
                    weekend,
                    schedule.start,
                    _WEEK,
                    (6, 9 * 3600, 2 * _DAY),
                )
            )
        schedule.segments = _render_final(schedule, schedule.start, end)
        schedule.seg_starts = [s[0] for s in schedule.segments]
        # Overrides: every few weeks someone swaps in for a day or three.
        overrides = []
        zone = zoneinfo.ZoneInfo(schedule.time_zone)
        at = schedule.start + rng.randrange(7, 28) * _DAY
        while at < end - 4 * _DAY:
            local = dt.datetime.fromtimestamp(at, zone).replace(
                hour=rng.choice((9, 18)), minute=0, second=0, microsecond=0, tzinfo=None
            )
            begin = int(local.replace(tzinfo=zone).timestamp())
            length = rng.choice((1, 1, 2, 3)) * _DAY
            on_call = schedule.segment_at(begin)[2]
            others = [u for u in schedule.users if u != on_call]
            if others:
                overrides.append(
                    Override(_pd_id(rng, seen), begin, begin + length, rng.choice(others))
                )
            at += rng.randrange(14, 42) * _DAY
        schedule.overrides = overrides
        schedule.segments = _render_final(schedule, schedule.start, end)
        schedule.seg_starts = [s[0] for s in schedule.segments]


def contact_methods(user: User) -> list[tuple[str, str, str, str]]:
    """``(id, type, label, address)`` of a user's contact methods, derived from the user."""
    digits = f"{(user.idx * 7919 + 1234567) % 10_000_000:07d}"
    phone = f"+1 555 {digits[:3]} {digits[3:]}"
    base = user.id[1:]
    return [
        (f"PE{base}", "email_contact_method", "Work", user.email),
        (f"PP{base}", "phone_contact_method", "Mobile", phone),
        (f"PS{base}", "sms_contact_method", "Mobile", phone),
        (f"PN{base}", "push_notification_contact_method", "Phone app", "iPhone"),
    ]


def has_low_urgency_rule(user: User) -> bool:
    """Most users get an email for low-urgency incidents; every fourth opted out."""
    return user.idx % 4 != 3


#: High-urgency rules: (seconds after the assignment, notification type); each one fires
#: only while the incident is still unacknowledged and unresolved.
HIGH_RULES = (
    (5, "push_notification"),
    (5, "email_notification"),
    (65, "sms_notification"),
    (305, "phone_notification"),
)
LOW_RULES = ((5, "email_notification"),)


def notices(
    account: Account, inc_urgency: str, stop: int, events: list[LogEvent]
) -> list[tuple[int, int, str]]:
    """``(at, user, type)`` of the notifications that ``assign``/``escalate`` events send.

    ``stop`` is when the incident was first acknowledged or resolved (0: never): rules due
    at or after it do not fire.
    """
    out = []
    for ev in events:
        if ev.kind not in ("assign", "escalate") or ev.target < 0:
            continue
        user = account.users[ev.target]
        rules: tuple[tuple[int, str], ...]
        if inc_urgency == "high":
            rules = HIGH_RULES
        else:
            rules = LOW_RULES if has_low_urgency_rule(user) else ()
        for delay, kind in rules:
            at = ev.at + delay
            if stop and at >= stop:
                break
            out.append((at, ev.target, kind))
    return out
