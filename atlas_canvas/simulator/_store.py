"""The account's live state: indexes, filtered selections, cached JSON and writes.

Incidents are kept in creation order (``incident_number`` order), so a date window is a
slice found by bisection. Each incident's default JSON (UTC, no ``include[]``) is
serialised once and cached within a byte budget, so a page of 100 is a join of cached
bytes. Filtered selections are cached per filter too; any write clears what it affects.
"""

from __future__ import annotations

import bisect
import json
import random
import time
from array import array
from typing import Any

from ._filters import STATUSES, IncidentQuery
from ._model import Account, Incident, LogEvent, Note
from ._problems import bad_request
from ._render import Renderer, log_entry_id, timeline
from ._schedules import HIGH_RULES, LOW_RULES, has_low_urgency_rule
from ._settings import SimulatorConfig

__all__ = ["Store", "dumps"]

_URGENCY_RANK = {"high": 1, "low": 0}


def dumps(obj: Any) -> bytes:
    """Compact JSON, like the real API sends."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Store:
    """State of one simulated account.

    Example::

        store = Store(SimulatorConfig(seed=1, incidents=100, now=NOW), account)
        store.select(query)   # -> list of Incident, filtered and sorted
    """

    def __init__(self, config: SimulatorConfig, account: Account) -> None:
        self.config = config
        self.account = account
        self.render = Renderer(account, config.api_base, config.web_base)
        self.incidents = account.incidents
        self.by_id = {inc.id: inc for inc in self.incidents}
        self.created = array("q", (inc.created_at for inc in self.incidents))
        self.users_by_id = {u.id: u.idx for u in account.users}
        self.users_by_email = {u.email.lower(): u.idx for u in account.users}
        self.services_by_id = {s.id: s.idx for s in account.services}
        self.teams_by_id = {t.id: t.idx for t in account.teams}
        self.eps_by_id = {e.id: e.idx for e in account.escalation_policies}
        self.priorities_by_id = {p.id: p.idx for p in account.priorities}
        self.priorities_by_name = {p.name.lower(): p.idx for p in account.priorities}
        self._json: dict[int, bytes] = {}
        self._json_size = 0
        self._cache_budget = config.render_cache_mb << 20
        self._selections: dict[tuple[object, ...], list[Incident]] = {}
        # Joined default-rendered pages, keyed by (id of a cached selection, offset, limit).
        self._pages: dict[tuple[int, int, int], bytes] = {}
        self._pages_size = 0
        self._frozen = int(config.now.timestamp()) if config.now is not None else None
        # Ids made by writes come from their own generator so replaying the same writes
        # against the same seed gives the same ids.
        self._rng = random.Random(account.seed * 7919 + 17)
        self._service_status: dict[int, tuple[str, int]] | None = None
        self._trigger_index: dict[str, int] | None = None
        # Account-wide log (GET /log_entries): (generation, incident count) it was built for,
        # then per overview flag the entries newest first and their negated times (ascending,
        # for bisection).
        self._log_key: tuple[int, int] | None = None
        self._log: dict[bool, tuple[array[int], list[tuple[Incident, LogEvent]]]] = {}
        self.generation = 0

    # -- time ------------------------------------------------------------------------------

    def clock(self) -> int:
        """The simulator's "now": frozen at ``config.now`` if set, else the wall clock."""
        return self._frozen if self._frozen is not None else int(time.time())

    # -- reads -----------------------------------------------------------------------------

    def find_incident(self, ident: str) -> Incident | None:
        """By id or by incident number, like ``GET /incidents/{id}``."""
        inc = self.by_id.get(ident)
        if inc is None and ident.isdigit():
            number = int(ident)
            if 1 <= number <= len(self.incidents):
                inc = self.incidents[number - 1]
        return inc

    def incident_json(self, inc: Incident) -> bytes:
        """The default rendering of one incident, cached."""
        cached = self._json.get(inc.number)
        if cached is None:
            cached = self.render.incident_json(inc)
            if self._json_size + len(cached) > self._cache_budget:
                # A full cache is dropped whole: simpler than LRU and amortised O(1).
                self._json.clear()
                self._json_size = 0
            self._json[inc.number] = cached
            self._json_size += len(cached)
        return cached

    def select(self, q: IncidentQuery) -> list[Incident]:
        """Incidents matching ``q``, in the requested order (default: oldest first)."""
        lo = 0 if q.since is None else bisect.bisect_left(self.created, q.since)
        hi = len(self.incidents) if q.until is None else bisect.bisect_left(self.created, q.until)
        key = (lo, hi, *q.filter_key())
        hit = self._selections.get(key)
        if hit is not None:
            return hit
        result = self._filter(self.incidents[lo:hi], q)
        if len(self._selections) >= 256:
            self._forget_selections()
        self._selections[key] = result
        return result

    def page_json(self, selected: list[Incident], offset: int, limit: int) -> bytes:
        """The default rendering of ``selected[offset:offset+limit]``, comma-joined, cached.

        ``selected`` must come from :meth:`select` (its identity keys the cache while the
        selection itself is cached).
        """
        key = (id(selected), offset, limit)
        page = self._pages.get(key)
        if page is None:
            page = b",".join(self.incident_json(i) for i in selected[offset : offset + limit])
            if self._pages_size + len(page) > self._cache_budget // 4:
                self._pages.clear()
                self._pages_size = 0
            self._pages[key] = page
            self._pages_size += len(page)
        return page

    def _forget_selections(self) -> None:
        self._selections.clear()
        # Page keys hold ids of selection lists; drop them together so an id is never reused.
        self._pages.clear()
        self._pages_size = 0

    def _filter(self, items: list[Incident], q: IncidentQuery) -> list[Incident]:
        if q.statuses is not None:
            statuses = q.statuses
            items = [i for i in items if i.status in statuses]
        if q.urgencies is not None:
            urgencies = q.urgencies
            items = [i for i in items if i.urgency in urgencies]
        if q.service_ids is not None:
            svcs = {self.services_by_id[s] for s in q.service_ids if s in self.services_by_id}
            items = [i for i in items if i.service in svcs]
        if q.team_ids is not None:
            teams = {self.teams_by_id[t] for t in q.team_ids if t in self.teams_by_id}
            svcs = {s.idx for s in self.account.services if s.team in teams}
            items = [i for i in items if i.service in svcs]
        if q.user_ids is not None:
            users = {self.users_by_id[u] for u in q.user_ids if u in self.users_by_id}
            # Only currently assigned, hence open, incidents match.
            items = [
                i for i in items if i.status != "resolved" and any(a in users for a in i.assignees)
            ]
        if q.incident_key is not None:
            items = [i for i in items if _key_matches(i, q.incident_key)]
        else:
            items = list(items)
        for field, desc in reversed(q.sort):
            items.sort(key=_SORT_KEYS[field], reverse=desc)
        return items

    def service_status(self) -> dict[int, tuple[str, int]]:
        """(status, last incident time) per service: critical/warning/active from open ones."""
        if self._service_status is None:
            rank = {"triggered": 2, "acknowledged": 1, "resolved": 0}
            worst: dict[int, int] = {}
            last: dict[int, int] = {}
            for inc in self.incidents:
                worst[inc.service] = max(worst.get(inc.service, 0), rank[inc.status])
                last[inc.service] = inc.created_at
            self._service_status = {
                s.idx: (("active", "warning", "critical")[worst.get(s.idx, 0)], last.get(s.idx, 0))
                for s in self.account.services
            }
        return self._service_status

    def find_log_entry(self, entry_id: str) -> tuple[Incident, LogEvent] | None:
        """The incident and event of a log entry id (``GET /log_entries/{id}``).

        Trigger entries (what ``first_trigger_log_entry.self`` links to) are indexed on first
        use; any other id is searched in the incidents' timelines, newest first.
        """
        if self._trigger_index is None or len(self._trigger_index) < len(self.incidents):
            self._trigger_index = {
                log_entry_id(inc.log_seed, 0): inc.number for inc in self.incidents
            }
        number = self._trigger_index.get(entry_id)
        candidates = (
            [self.incidents[number - 1]] if number is not None else reversed(self.incidents)
        )
        for inc in candidates:
            events = inc.history if inc.history is not None else timeline(self.account, inc)
            for event in events:
                if event.id == entry_id:
                    return inc, event
        return None

    def account_log(
        self, since: int, until: int, kinds: frozenset[str] | None
    ) -> list[tuple[Incident, LogEvent]]:
        """Every incident's log events with ``since <= at < until``, newest first.

        ``kinds`` keeps only those event kinds (``is_overview``); ``None`` keeps all. The
        sorted log of the whole account is built on first use and again after a write, so a
        page is a bisection and a slice, not a walk over every incident.
        """
        key = (self.generation, len(self.incidents))
        if self._log_key != key:
            self._log.clear()
            self._log_key = key
        overview = kinds is not None
        built = self._log.get(overview)
        if built is None:
            rows: list[tuple[int, int, int, Incident, LogEvent]] = []
            for inc in self.incidents:
                events = inc.history if inc.history is not None else timeline(self.account, inc)
                for n, ev in enumerate(events):
                    if kinds is None or ev.kind in kinds:
                        rows.append((ev.at, inc.number, n, inc, ev))
            # Same order as an incident's own list (newest first, later entries first on ties),
            # with the incident number breaking ties across incidents so pages are stable.
            rows.sort(key=lambda r: (r[0], r[1], r[2]), reverse=True)
            built = (array("q", (-r[0] for r in rows)), [(r[3], r[4]) for r in rows])
            self._log[overview] = built
        neg, entries = built
        lo = bisect.bisect_right(neg, -until)  # first entry with at < until
        hi = bisect.bisect_right(neg, -since)  # past the last entry with at >= since
        return entries[lo:hi]

    # -- writes ----------------------------------------------------------------------------

    def _changed(self, inc: Incident, at: int) -> None:
        inc.updated_at = max(inc.updated_at, at)
        inc.version += 1
        dropped = self._json.pop(inc.number, None)
        if dropped is not None:
            self._json_size -= len(dropped)
        self._forget_selections()
        self._service_status = None
        self.generation += 1

    def _event(
        self,
        inc: Incident,
        kind: str,
        at: int,
        agent: int,
        channel: str,
        target: int = -1,
        note: str | None = None,
        notice: str | None = None,
    ) -> None:
        if inc.history is None:
            inc.history = timeline(self.account, inc)
        inc.history.append(
            LogEvent(
                log_entry_id(inc.log_seed, 100 + len(inc.history)),
                kind,
                at,
                agent,
                channel,
                target,
                note,
                notice,
            )
        )

    def new_id(self, prefix: str, length: int) -> str:
        chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        while True:
            value = prefix + "".join(self._rng.choice(chars) for _ in range(length - 1))
            if value not in self.by_id:
                return value

    def _ref_id(self, value: Any, what: str) -> str:
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return value["id"]
        raise bad_request(f"{what} must be an object with an id.")

    def update_incident(self, inc: Incident, changes: Any, actor: int) -> None:
        """Apply a ``PUT /incidents[/{id}]`` body for one incident, as user ``actor``.

        Everything is validated before anything changes, so a bad field leaves the incident
        untouched.
        """
        plan, resolution = self.check_update(inc, changes)
        self._apply(inc, plan, actor, resolution)

    def check_update(self, inc: Incident, changes: Any) -> tuple[dict[str, Any], str | None]:
        """Validate one incident's changes; raise the API's 400 or return the plan."""
        if not isinstance(changes, dict):
            raise bad_request("Incident must be an object.")
        kind = changes.get("type", "incident")
        if kind not in ("incident", "incident_reference"):
            raise bad_request("Type must be incident or incident_reference.")
        plan: dict[str, Any] = {}
        if "status" in changes:
            if changes["status"] not in STATUSES:
                raise bad_request("Status must be one of triggered, acknowledged or resolved.")
            plan["status"] = changes["status"]
        if "title" in changes:
            if not isinstance(changes["title"], str) or not changes["title"].strip():
                raise bad_request("Title cannot be empty.")
            plan["title"] = changes["title"]
        if "urgency" in changes:
            if changes["urgency"] not in ("high", "low"):
                raise bad_request("Urgency must be high or low.")
            plan["urgency"] = changes["urgency"]
        if "priority" in changes:
            plan["priority"] = self._priority(changes["priority"])
        if "service" in changes:
            sid = self._ref_id(changes["service"], "Service")
            if sid not in self.services_by_id:
                raise bad_request("Service Not Found", code=5002)
            plan["service"] = self.services_by_id[sid]
        if "escalation_policy" in changes:
            eid = self._ref_id(changes["escalation_policy"], "Escalation policy")
            if eid not in self.eps_by_id:
                raise bad_request("Escalation Policy Not Found", code=1014)
            plan["escalation_policy"] = self.eps_by_id[eid]
        reopens = plan.get("status") in ("triggered", "acknowledged")
        if inc.status == "resolved" and not reopens:
            moves = {"escalation_level", "assignments", "escalation_policy"} & changes.keys()
            if moves:
                raise bad_request(
                    f"Incident Already Resolved: {', '.join(sorted(moves))} needs an open "
                    "incident (set status to reopen it).",
                    code=1001,
                )
        if "escalation_level" in changes:
            level = changes["escalation_level"]
            ep = plan.get("escalation_policy", self.render.incident_ep(inc))
            rules = len(self.account.escalation_policies[ep].rules)
            if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= rules:
                raise bad_request(f"Escalation level must be between 1 and {rules}.")
            plan["escalation_level"] = level
        if "assignments" in changes:
            plan["assignments"] = self._assignees(changes["assignments"])
        resolution = changes.get("resolution")
        if resolution is not None and not isinstance(resolution, str):
            raise bad_request("Resolution must be a string.")
        if resolution is not None and plan.get("status") != "resolved":
            raise bad_request("Resolution can only be given when resolving.")
        return plan, resolution

    def _priority(self, value: Any) -> int:
        if value is None:
            return -1
        if isinstance(value, str):
            idx = self.priorities_by_name.get(value.lower())
        elif isinstance(value, dict) and isinstance(value.get("id"), str):
            idx = self.priorities_by_id.get(value["id"])
        else:
            idx = None
        if idx is None:
            raise bad_request("Invalid Priority", code=1020)
        return idx

    def _assignees(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            raise bad_request("Assignments must be a non-empty list.")
        out: list[int] = []
        for item in value:
            assignee = item.get("assignee") if isinstance(item, dict) else None
            uid = self._ref_id(assignee, "Assignee")
            if uid not in self.users_by_id:
                raise bad_request("Assigned To User Not Found", code=1007)
            if self.users_by_id[uid] not in out:
                out.append(self.users_by_id[uid])
        return tuple(out)

    def _apply(
        self, inc: Incident, plan: dict[str, Any], actor: int, resolution: str | None
    ) -> None:
        if not plan and resolution is None:
            return
        if plan.keys() == {"status"} and plan["status"] == inc.status != "acknowledged":
            return  # resolving a resolved incident (or re-triggering) changes nothing
        at = max(self.clock(), inc.created_at)
        assigned_before = (inc.assignees, inc.assigned_at, inc.level)
        status = plan.get("status")
        if inc.status == "resolved" and status in ("triggered", "acknowledged"):
            # Reopen first, so assignments given in the same change apply to the open incident.
            self._reopen(inc, at)
            inc.status = "triggered"
            self._event(inc, "trigger", at, actor, "website")
        if "title" in plan:
            inc.title = plan["title"]
        if "urgency" in plan and plan["urgency"] != inc.urgency:
            inc.urgency = plan["urgency"]
            self._event(inc, "urgency_change", at, actor, "website")
        if "priority" in plan:
            inc.priority = plan["priority"]
        if "service" in plan and plan["service"] != inc.service:
            inc.service = plan["service"]
        open_now = inc.status != "resolved"
        if "escalation_policy" in plan:
            inc.escalation_policy = plan["escalation_policy"]
            if open_now and "assignments" not in plan:
                self._assign(
                    inc, (self.account.on_call(inc.escalation_policy, 1, at),), at, -1, "assign"
                )
                inc.level = 1
        if "escalation_level" in plan and open_now:
            level = plan["escalation_level"]
            ep = self.render.incident_ep(inc)
            inc.level = level
            inc.assigned_via = "escalation_policy"
            self._assign(inc, (self.account.on_call(ep, level, at),), at, actor, "escalate")
        if "assignments" in plan:
            inc.assigned_via = "direct_assignment"
            self._assign(inc, plan["assignments"], at, actor, "assign")
            if inc.status == "acknowledged":
                # Reassigning hands the incident over: it needs a new acknowledgement.
                inc.status = "triggered"
                inc.ack_at, inc.ack_by = 0, -1
        if status == "acknowledged":
            inc.status = "acknowledged"
            inc.ack_at, inc.ack_by = at, actor
            self._event(inc, "acknowledge", at, actor, "website")
        elif status == "triggered" and inc.status != "triggered":
            self._event(inc, "unacknowledge", at, actor, "website")
            inc.status = "triggered"
            inc.ack_at, inc.ack_by = 0, -1
        elif status == "resolved" and inc.status != "resolved":
            inc.status = "resolved"
            inc.resolved_at, inc.resolved_by = at, actor
            inc.assignees = ()
            self._event(inc, "resolve", at, actor, "website", note=resolution)
        if (inc.assignees, inc.assigned_at, inc.level) != assigned_before:
            self._notify(inc, at, actor)
        self._changed(inc, at)

    def _reopen(self, inc: Incident, at: int) -> None:
        inc.resolved_at, inc.resolved_by = 0, -1
        inc.level = 1
        ep = self.render.incident_ep(inc)
        inc.assignees = (self.account.on_call(ep, 1, at),)
        inc.assigned_at = at

    def _assign(
        self, inc: Incident, users: tuple[int, ...], at: int, actor: int, kind: str
    ) -> None:
        inc.assignees = users
        inc.assigned_at = at
        for user in users:
            self._event(inc, kind, at, actor, "website" if actor >= 0 else "auto", target=user)

    def _notify(self, inc: Incident, at: int, actor: int) -> None:
        """The assignees' immediate notification rules fire (push and e-mail for high urgency,
        e-mail for low) when a change leaves the incident triggered with new assignees.

        The delayed rules (SMS, phone) would need a clock that moves by itself, which writes
        do not model; assigning yourself notifies nobody.
        """
        if inc.status != "triggered":
            return
        for user in inc.assignees:
            if user == actor:
                continue
            if inc.urgency == "high":
                rules: tuple[tuple[int, str], ...] = HIGH_RULES
            else:
                rules = LOW_RULES if has_low_urgency_rule(self.account.users[user]) else ()
            for delay, notice in rules:
                if delay <= 5:
                    self._event(inc, "notify", at, -1, "auto", target=user, notice=notice)

    def create_incident(self, body: Any, actor: int) -> Incident:
        """``POST /incidents``: a new incident on a service, triggered (or acknowledged when
        the requester assigns it to themselves, as the docs describe)."""
        if not isinstance(body, dict) or body.get("type", "incident") != "incident":
            raise bad_request("Incident type must be incident.")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request("Title cannot be empty.")
        sid = self._ref_id(body.get("service"), "Service")
        if sid not in self.services_by_id:
            raise bad_request("Service Not Found", code=5002)
        service = self.services_by_id[sid]
        urgency = body.get("urgency", "high")
        if urgency not in ("high", "low"):
            raise bad_request("Urgency must be high or low.")
        priority = self._priority(body["priority"]) if "priority" in body else -1
        key = body.get("incident_key")
        if key is not None and (not isinstance(key, str) or not key):
            raise bad_request("Incident key must be a non-empty string.")
        if key is not None:
            for other in reversed(self.incidents):
                if other.key == key and other.service == service and other.status != "resolved":
                    raise bad_request(
                        "Open incident with key already exists on this service.", code=2001
                    )
        ep = -1
        if "escalation_policy" in body:
            eid = self._ref_id(body["escalation_policy"], "Escalation policy")
            if eid not in self.eps_by_id:
                raise bad_request("Escalation Policy Not Found", code=1014)
            ep = self.eps_by_id[eid]
        assignees = self._assignees(body["assignments"]) if "assignments" in body else None
        details = None
        if "body" in body:
            incident_body = body["body"]
            if (
                not isinstance(incident_body, dict)
                or incident_body.get("type", "incident_body") != "incident_body"
            ):
                raise bad_request("Body must be an object of type incident_body.")
            details = incident_body.get("details")
            if details is not None and not isinstance(details, (str, dict)):
                raise bad_request("Body details must be a string or an object.")
        at = max(self.clock(), self.incidents[-1].created_at if self.incidents else 0)
        inc = Incident(
            len(self.incidents) + 1,
            self.new_id("Q", 14),
            at,
            service,
            title,
            key or f"{self._rng.getrandbits(128):032x}",
            urgency,
            priority,
            1,
        )
        inc.log_seed = self._rng.getrandbits(32)
        inc.escalation_policy = ep
        inc.details = details
        inc.history = []
        self._event(inc, "trigger", at, actor, "website")
        if assignees:
            inc.assigned_via = "direct_assignment"
            self._assign(inc, assignees, at, actor, "assign")
            if actor in assignees:
                inc.status = "acknowledged"
                inc.ack_at, inc.ack_by = at, actor
                self._event(inc, "acknowledge", at, actor, "website")
        else:
            first = self.account.on_call(self.render.incident_ep(inc), 1, at)
            self._assign(inc, (first,), at, -1, "assign")
        self._notify(inc, at, actor)
        self.incidents.append(inc)
        self.by_id[inc.id] = inc
        self.created.append(at)
        self._changed(inc, at)
        return inc

    def add_note(self, inc: Incident, content: Any, actor: int) -> Note:
        if not isinstance(content, str) or not content.strip():
            raise bad_request("Content cannot be empty.")
        if len(content) > 25_000:
            raise bad_request("Content is too long (maximum is 25000 characters).")
        at = max(self.clock(), inc.created_at)
        if inc.history is None:
            inc.history = timeline(self.account, inc)
        note = Note(self.new_id("N", 14), actor, content, at)
        inc.notes = [*(inc.notes or ()), note]
        self._event(inc, "annotate", at, actor, "note", note=content)
        self._changed(inc, at)
        return note


def _key_matches(inc: Incident, key: str) -> bool:
    if inc.key == key:
        return True
    # Grouped alerts carry "<incident key>#<n>" keys (see _render.alert_key).
    base, sep, n = key.rpartition("#")
    return bool(sep) and base == inc.key and n.isdigit() and 0 < int(n) < inc.alerts


def _resolved_key(inc: Incident) -> tuple[int, int]:
    # Unresolved incidents sort after resolved ones ascending (NULLS LAST), before descending.
    return (1, 0) if not inc.resolved_at else (0, inc.resolved_at)


_SORT_KEYS: dict[str, Any] = {
    "incident_number": lambda i: i.number,
    "created_at": lambda i: i.created_at,
    "resolved_at": _resolved_key,
    "urgency": lambda i: _URGENCY_RANK[i.urgency],
}
