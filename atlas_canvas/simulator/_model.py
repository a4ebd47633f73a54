"""The simulated account's data model: small records with ``__slots__``.

Incidents are the bulk (100,000 of them must fit in well under 200 MB), so each one is a
slotted record of small ints and shared strings; JSON is built from it on demand.
"""

from __future__ import annotations

__all__ = [
    "Account",
    "EscalationPolicy",
    "Incident",
    "Layer",
    "LogEvent",
    "Note",
    "Override",
    "Priority",
    "Schedule",
    "Service",
    "Team",
    "User",
]

import bisect
import dataclasses


@dataclasses.dataclass(slots=True)
class Team:
    idx: int
    id: str
    name: str
    description: str


@dataclasses.dataclass(slots=True)
class User:
    idx: int
    id: str
    name: str
    email: str
    time_zone: str
    color: str
    role: str
    job_title: str
    teams: list[int]
    created_at: int


@dataclasses.dataclass(slots=True)
class Layer:
    """One schedule layer: ``users`` take turns of ``turn_seconds`` from ``virtual_start``.

    ``restriction`` limits the layer to one weekly window in the schedule's zone:
    (ISO day of week 1-7, seconds after local midnight, duration in seconds), or None.
    """

    id: str
    name: str
    start: int
    users: list[int]
    virtual_start: int
    turn_seconds: int
    restriction: tuple[int, int, int] | None = None


@dataclasses.dataclass(slots=True)
class Override:
    id: str
    start: int
    end: int
    user: int


@dataclasses.dataclass(slots=True)
class Schedule:
    """An on-call schedule: layers (later ones win where they cover) under overrides.

    ``users`` and ``start``/``shift_seconds`` describe the base (first) layer's rotation;
    ``segments`` is the rendered final schedule, ``(start, end, user)`` in time order and
    contiguous, built once by the generator (``_schedules.finish``) so every view (on-calls,
    incident assignment, ``final_schedule``, the Analytics API's hours on call) reads the same.
    """

    idx: int
    id: str
    name: str
    users: list[int]
    start: int
    shift_seconds: int
    time_zone: str = "America/New_York"
    layers: list[Layer] = dataclasses.field(default_factory=list)
    overrides: list[Override] = dataclasses.field(default_factory=list)
    segments: list[tuple[int, int, int]] = dataclasses.field(default_factory=list)
    seg_starts: list[int] = dataclasses.field(default_factory=list)

    def segment_at(self, at: int) -> tuple[int, int, int]:
        """The final-schedule segment covering ``at`` (the base rotation outside the span)."""
        k = bisect.bisect_right(self.seg_starts, at) - 1
        if 0 <= k < len(self.segments) and at < self.segments[k][1]:
            return self.segments[k]
        turn = (at - self.start) // self.shift_seconds
        begin = self.start + turn * self.shift_seconds
        return begin, begin + self.shift_seconds, self.users[turn % len(self.users)]


@dataclasses.dataclass(slots=True)
class EscalationPolicy:
    idx: int
    id: str
    name: str
    description: str
    team: int
    #: (escalation rule id, delay in minutes, schedule idx), level 1 first.
    rules: list[tuple[str, int, int]]
    num_loops: int


@dataclasses.dataclass(slots=True)
class Service:
    idx: int
    id: str
    name: str
    slug: str
    description: str
    team: int
    escalation_policy: int
    created_at: int
    auto_resolve_timeout: int | None
    acknowledgement_timeout: int | None
    integration_id: str
    integration_name: str
    integration_type: str
    noisy: bool
    #: (title, check key) pairs incidents of this service are made from.
    checks: list[tuple[str, str]]


@dataclasses.dataclass(slots=True)
class Priority:
    idx: int
    id: str
    name: str
    description: str
    color: str


@dataclasses.dataclass(slots=True)
class Note:
    id: str
    user: int
    content: str
    created_at: int


@dataclasses.dataclass(slots=True)
class LogEvent:
    """A log entry recorded by a write (generated history is derived, not stored).

    ``kind`` is the log entry type without ``_log_entry``; ``agent`` is a user idx or -1 for
    the service; ``target`` is the user acted upon (assign/escalate) or -1.
    """

    id: str
    kind: str
    at: int
    agent: int
    channel: str
    target: int = -1
    note: str | None = None
    #: The notification type of a ``notify`` event (``push_notification``, ...).
    notice: str | None = None


class Incident:
    """One incident. Times are epoch seconds, 0 meaning "never"; users are indexes.

    ``resolved_by`` is a user index, or -1 when the service resolved it (the monitoring
    integration resolved the alert) or -2 when the service's auto-resolve timeout fired.
    ``history`` holds log entries added by writes; the generated timeline is derived from
    the fields, so it costs nothing until asked for.
    """

    __slots__ = (
        "ack_at",
        "ack_by",
        "alerts",
        "assigned_at",
        "assigned_via",
        "assignees",
        "created_at",
        "details",
        "escalated_at",
        "escalation_policy",
        "history",
        "id",
        "key",
        "level",
        "log_seed",
        "notes",
        "number",
        "priority",
        "resolved_at",
        "resolved_by",
        "service",
        "status",
        "title",
        "updated_at",
        "urgency",
        "version",
    )

    def __init__(
        self,
        number: int,
        id: str,
        created_at: int,
        service: int,
        title: str,
        key: str,
        urgency: str,
        priority: int,
        alerts: int,
    ) -> None:
        self.number = number
        self.id = id
        self.created_at = created_at
        self.service = service
        self.title = title
        self.key = key
        self.urgency = urgency
        self.priority = priority
        self.alerts = alerts
        self.status = "triggered"
        self.ack_at = 0
        self.ack_by = -1
        self.assignees: tuple[int, ...] = ()
        self.assigned_at = created_at
        self.assigned_via = "escalation_policy"
        self.level = 1
        #: The incident's escalation policy index, or -1 for its service's policy.
        self.escalation_policy = -1
        self.escalated_at = 0
        self.resolved_at = 0
        self.resolved_by = -1
        self.updated_at = created_at
        self.log_seed = 0
        self.notes: list[Note] | None = None
        #: ``body.details`` given to ``POST /incidents`` (shown as the first alert's details).
        self.details: object = None
        self.history: list[LogEvent] | None = None
        #: Bumped on every write so cached renderings go stale.
        self.version = 0

    def __repr__(self) -> str:
        return f"<Incident #{self.number} {self.id} {self.status}>"


@dataclasses.dataclass
class Account:
    """A whole simulated account. Lists are indexed by each record's ``idx``."""

    seed: int
    anchor: int
    start: int
    time_zone: str
    teams: list[Team]
    users: list[User]
    schedules: list[Schedule]
    escalation_policies: list[EscalationPolicy]
    services: list[Service]
    priorities: list[Priority]
    incidents: list[Incident]

    def on_call(self, ep: int, level: int, at: int) -> int:
        """The user on call for ``ep`` at escalation ``level`` (1-based) at time ``at``."""
        policy = self.escalation_policies[ep]
        schedule = self.schedules[policy.rules[min(level, len(policy.rules)) - 1][2]]
        return schedule.segment_at(at)[2]

    def shift_bounds(self, schedule: int, at: int) -> tuple[int, int]:
        """Start and end of the final-schedule segment of ``schedule`` covering ``at``."""
        begin, end, _ = self.schedules[schedule].segment_at(at)
        return begin, end
