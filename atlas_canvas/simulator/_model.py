"""The simulated account's data model: small records with ``__slots__``.

Incidents are the bulk (100,000 of them must fit in well under 200 MB), so each one is a
slotted record of small ints and shared strings; JSON is built from it on demand.
"""

from __future__ import annotations

__all__ = [
    "Account",
    "EscalationPolicy",
    "Incident",
    "LogEvent",
    "Note",
    "Priority",
    "Schedule",
    "Service",
    "Team",
    "User",
]

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
class Schedule:
    """A weekly rotation: user ``users[(week - offset) % n]`` is on call."""

    idx: int
    id: str
    name: str
    users: list[int]
    start: int
    shift_seconds: int


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
        return schedule.users[
            ((at - schedule.start) // schedule.shift_seconds) % len(schedule.users)
        ]

    def shift_bounds(self, schedule: int, at: int) -> tuple[int, int]:
        s = self.schedules[schedule]
        begin = s.start + ((at - s.start) // s.shift_seconds) * s.shift_seconds
        return begin, begin + s.shift_seconds
