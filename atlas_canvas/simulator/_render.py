"""Turn the account's records into PagerDuty JSON objects.

References (``*_reference``) and full objects follow ``components/schemas`` of the official
OpenAPI file. ``self`` links use the configured public API base, ``html_url`` links the
account's web host, so a client that follows ``self`` comes back to the same simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from ._model import Account, Incident, LogEvent, Note
from ._schedules import contact_methods, has_low_urgency_rule, notices
from ._timefmt import format_ts

__all__ = ["Renderer", "alert_key", "log_entry_id", "timeline"]

JSON = dict[str, Any]


def log_entry_id(seed: int, k: int, prefix: str = "R") -> str:
    """A stable 26-character id for the ``k``-th derived record of an incident."""
    digest = hashlib.blake2b(b"%d:%d" % (seed, k), digest_size=16).digest()
    return prefix + base64.b32encode(digest)[:25].decode()


class Renderer:
    """Builds JSON objects for one account and one pair of base URLs."""

    def __init__(self, account: Account, api_base: str, web_base: str) -> None:
        self.account = account
        self.api = api_base
        self.web = web_base
        a = account
        # References never change, so they are built once and shared (json.dumps only reads).
        self.user_refs = [self._ref("user", u.id, u.name, "users") for u in a.users]
        self.team_refs = [self._ref("team", t.id, t.name, "teams") for t in a.teams]
        self.service_refs = [
            self._ref("service", s.id, s.name, "services", "service-directory") for s in a.services
        ]
        self.ep_refs = [
            self._ref("escalation_policy", e.id, e.name, "escalation_policies")
            for e in a.escalation_policies
        ]
        self.schedule_refs = [self._ref("schedule", s.id, s.name, "schedules") for s in a.schedules]
        self.priority_objs = [
            {
                "id": p.id,
                "type": "priority",
                "summary": p.name,
                "self": f"{api_base}/priorities/{p.id}",
                "html_url": None,
                "name": p.name,
                "description": p.description,
                "color": p.color,
                "order": (len(a.priorities) - p.idx) * 32,
            }
            for p in a.priorities
        ]
        self.integration_refs = [
            {
                "id": s.integration_id,
                "type": f"{s.integration_type}_reference",
                "summary": s.integration_name,
                "self": f"{api_base}/services/{s.id}/integrations/{s.integration_id}",
                "html_url": f"{web_base}/services/{s.id}/integrations/{s.integration_id}",
            }
            for s in a.services
        ]

        # The same objects as JSON text, for the fast default rendering of incidents.
        self._user_js = [_js(r) for r in self.user_refs]
        self._team_js = [_js(r) for r in self.team_refs]
        self._service_js = [_js(r) for r in self.service_refs]
        self._ep_js = [_js(r) for r in self.ep_refs]
        self._priority_js = [_js(p) for p in self.priority_objs]
        self._text_cache: dict[str, str] = {}

    def _text_js(self, text: str) -> str:
        # Titles and keys repeat (checks re-fire), so their JSON text is worth keeping.
        cached = self._text_cache.get(text)
        if cached is None:
            if len(self._text_cache) > 50_000:
                self._text_cache.clear()
            cached = self._text_cache[text] = _js(text)
        return cached

    def _ref(self, kind: str, id: str, name: str, path: str, web_path: str | None = None) -> JSON:
        return {
            "id": id,
            "type": f"{kind}_reference",
            "summary": name,
            "self": f"{self.api}/{path}/{id}",
            "html_url": f"{self.web}/{web_path or path}/{id}",
        }

    # -- incidents -------------------------------------------------------------------------

    def incident_ref(self, inc: Incident) -> JSON:
        return {
            "id": inc.id,
            "type": "incident_reference",
            "summary": f"[#{inc.number}] {inc.title}",
            "self": f"{self.api}/incidents/{inc.id}",
            "html_url": f"{self.web}/incidents/{inc.id}",
        }

    def incident_ep(self, inc: Incident) -> int:
        if inc.escalation_policy >= 0:
            return inc.escalation_policy
        return self.account.services[inc.service].escalation_policy

    def incident(
        self,
        inc: Incident,
        zone: dt.tzinfo | None = None,
        include: frozenset[str] = frozenset(),
    ) -> JSON:
        """The ``Incident`` object, with ``include[]`` expansions and times in ``zone``."""
        a = self.account
        service = a.services[inc.service]

        def ts(epoch: int) -> str:
            return format_ts(epoch, zone)

        def user(idx: int, key: str) -> JSON:
            return self.user(idx, zone) if key in include else self.user_refs[idx]

        def agent(idx: int) -> JSON:
            if idx >= 0:
                return user(idx, "agents") if "agents" in include else self.user_refs[idx]
            return self.service_refs[inc.service]

        ep = self.incident_ep(inc)
        if inc.status == "resolved":
            changed_at, changed_by = inc.resolved_at, agent(inc.resolved_by)
        elif inc.status == "acknowledged":
            changed_at, changed_by = inc.ack_at, agent(inc.ack_by)
        else:
            changed_at, changed_by = inc.updated_at, self.service_refs[inc.service]
        pending: list[JSON] = []
        if inc.status == "acknowledged" and service.acknowledgement_timeout:
            pending.append(
                {"type": "unacknowledge", "at": ts(inc.ack_at + service.acknowledgement_timeout)}
            )
        if inc.status == "triggered" and inc.level < len(a.escalation_policies[ep].rules):
            delay = a.escalation_policies[ep].rules[inc.level - 1][1] * 60
            pending.append({"type": "escalate", "at": ts(inc.assigned_at + delay)})
        if inc.status != "resolved" and service.auto_resolve_timeout:
            pending.append(
                {"type": "resolve", "at": ts(inc.created_at + service.auto_resolve_timeout)}
            )
        alerts_resolved = inc.alerts if inc.status == "resolved" else 0
        trigger_id = log_entry_id(inc.log_seed, 0)
        if "first_trigger_log_entries" in include:
            first_trigger: JSON = self.log_entries(inc, zone)[-1]
        else:
            first_trigger = {
                "id": trigger_id,
                "type": "trigger_log_entry_reference",
                "summary": "Triggered through the API.",
                "self": f"{self.api}/log_entries/{trigger_id}",
                "html_url": f"{self.web}/incidents/{inc.id}/log_entries/{trigger_id}",
            }
        out: JSON = {
            "id": inc.id,
            "type": "incident",
            "summary": f"[#{inc.number}] {inc.title}",
            "self": f"{self.api}/incidents/{inc.id}",
            "html_url": f"{self.web}/incidents/{inc.id}",
            "incident_number": inc.number,
            "title": inc.title,
            "description": inc.title,
            "created_at": ts(inc.created_at),
            "updated_at": ts(inc.updated_at),
            "status": inc.status,
            "incident_key": inc.key,
            "service": self.service(inc.service, zone)
            if "services" in include
            else self.service_refs[inc.service],
            "assignments": [
                {"at": ts(inc.assigned_at), "assignee": user(u, "assignees")} for u in inc.assignees
            ],
            "assigned_via": inc.assigned_via,
            "last_status_change_at": ts(changed_at),
            "last_status_change_by": changed_by,
            "first_trigger_log_entry": first_trigger,
            "escalation_policy": self.escalation_policy(ep)
            if "escalation_policies" in include
            else self.ep_refs[ep],
            "teams": [
                self.team(service.team) if "teams" in include else self.team_refs[service.team]
            ],
            "pending_actions": pending,
            "acknowledgements": [
                {"at": ts(inc.ack_at), "acknowledger": user(inc.ack_by, "acknowledgers")}
            ]
            if inc.status == "acknowledged" and inc.ack_by >= 0
            else [],
            "alert_counts": {
                "all": inc.alerts,
                "triggered": inc.alerts - alerts_resolved,
                "resolved": alerts_resolved,
            },
            "is_mergeable": True,
            "incident_type": {"name": "incident_default"},
            "urgency": inc.urgency,
            "priority": self.priority_objs[inc.priority] if inc.priority >= 0 else None,
            "resolved_at": ts(inc.resolved_at) if inc.resolved_at else None,
            "resolve_reason": None,
            "alert_grouping": {
                "grouping_type": "advanced" if service.noisy else "basic",
                "started_at": ts(inc.created_at),
                "ended_at": ts(inc.resolved_at) if inc.resolved_at else None,
                "alert_grouping_active": inc.status != "resolved",
            }
            if inc.alerts > 1
            else None,
            "incidents_responders": [],
            "responder_requests": [],
            "subscriber_requests": [],
        }
        if "conference_bridge" in include:
            out["conference_bridge"] = None
        if "users" in include:
            # `users` expands every user reference that the incident mentions.
            out["assignments"] = [
                {"at": ts(inc.assigned_at), "assignee": self.user(u, zone)} for u in inc.assignees
            ]
        return out

    def incident_json(self, inc: Incident) -> bytes:
        """``dumps(self.incident(inc))`` built from pre-serialised pieces, several times faster.

        The default rendering (UTC, no ``include[]``) is what every plain page serves; a test
        checks that both paths give the same bytes for incidents in every state.
        """
        a = self.account
        service = a.services[inc.service]
        ep = self.incident_ep(inc)
        ts = format_ts
        iid = inc.id
        api, web = self.api, self.web
        status = inc.status
        if status == "resolved":
            changed_at = inc.resolved_at
            by = inc.resolved_by
            changed_by = self._user_js[by] if by >= 0 else self._service_js[inc.service]
        elif status == "acknowledged":
            changed_at = inc.ack_at
            by = inc.ack_by
            changed_by = self._user_js[by] if by >= 0 else self._service_js[inc.service]
        else:
            changed_at, changed_by = inc.updated_at, self._service_js[inc.service]
        pending = []
        if status == "acknowledged" and service.acknowledgement_timeout:
            at = ts(inc.ack_at + service.acknowledgement_timeout)
            pending.append(f'{{"type":"unacknowledge","at":"{at}"}}')
        rules = a.escalation_policies[ep].rules
        if status == "triggered" and inc.level < len(rules):
            at = ts(inc.assigned_at + rules[inc.level - 1][1] * 60)
            pending.append(f'{{"type":"escalate","at":"{at}"}}')
        if status != "resolved" and service.auto_resolve_timeout:
            at = ts(inc.created_at + service.auto_resolve_timeout)
            pending.append(f'{{"type":"resolve","at":"{at}"}}')
        assigned_at = ts(inc.assigned_at)
        assignments = ",".join(
            f'{{"at":"{assigned_at}","assignee":{self._user_js[u]}}}' for u in inc.assignees
        )
        if status == "acknowledged" and inc.ack_by >= 0:
            acks = f'{{"at":"{ts(inc.ack_at)}","acknowledger":{self._user_js[inc.ack_by]}}}'
        else:
            acks = ""
        resolved = inc.alerts if status == "resolved" else 0
        resolved_at = f'"{ts(inc.resolved_at)}"' if inc.resolved_at else "null"
        trigger = log_entry_id(inc.log_seed, 0)
        title = self._text_js(inc.title)
        summary = _js(f"[#{inc.number}] {inc.title}")
        if inc.alerts > 1:
            ended = f'"{ts(inc.resolved_at)}"' if inc.resolved_at else "null"
            grouping = (
                f'{{"grouping_type":"{"advanced" if service.noisy else "basic"}",'
                f'"started_at":"{ts(inc.created_at)}","ended_at":{ended},'
                f'"alert_grouping_active":{"true" if status != "resolved" else "false"}}}'
            )
        else:
            grouping = "null"
        text = (
            f'{{"id":"{iid}","type":"incident","summary":{summary},'
            f'"self":"{api}/incidents/{iid}","html_url":"{web}/incidents/{iid}",'
            f'"incident_number":{inc.number},"title":{title},"description":{title},'
            f'"created_at":"{ts(inc.created_at)}","updated_at":"{ts(inc.updated_at)}",'
            f'"status":"{status}","incident_key":{self._text_js(inc.key)},'
            f'"service":{self._service_js[inc.service]},"assignments":[{assignments}],'
            f'"assigned_via":"{inc.assigned_via}",'
            f'"last_status_change_at":"{ts(changed_at)}","last_status_change_by":{changed_by},'
            f'"first_trigger_log_entry":{{"id":"{trigger}","type":"trigger_log_entry_reference",'
            f'"summary":"Triggered through the API.","self":"{api}/log_entries/{trigger}",'
            f'"html_url":"{web}/incidents/{iid}/log_entries/{trigger}"}},'
            f'"escalation_policy":{self._ep_js[ep]},"teams":[{self._team_js[service.team]}],'
            f'"pending_actions":[{",".join(pending)}],"acknowledgements":[{acks}],'
            f'"alert_counts":{{"all":{inc.alerts},"triggered":{inc.alerts - resolved},'
            f'"resolved":{resolved}}},"is_mergeable":true,'
            f'"incident_type":{{"name":"incident_default"}},"urgency":"{inc.urgency}",'
            f'"priority":{self._priority_js[inc.priority] if inc.priority >= 0 else "null"},'
            f'"resolved_at":{resolved_at},'
            f'"resolve_reason":null,"alert_grouping":{grouping},'
            f'"incidents_responders":[],"responder_requests":[],"subscriber_requests":[]}}'
        )
        return text.encode()

    # -- log entries, alerts, notes -------------------------------------------------------

    def log_entries(self, inc: Incident, zone: dt.tzinfo | None = None) -> list[JSON]:
        """The incident's log entries, newest first."""
        events = inc.history if inc.history is not None else timeline(self.account, inc)
        order = sorted(range(len(events)), key=lambda n: (events[n].at, n), reverse=True)
        return [self.log_entry(inc, events[n], zone) for n in order]

    def log_entry(self, inc: Incident, ev: LogEvent, zone: dt.tzinfo | None = None) -> JSON:
        a = self.account
        service = a.services[inc.service]
        who = a.users[ev.agent].name if ev.agent >= 0 else service.name
        target = a.users[ev.target].name if ev.target >= 0 else ""
        channel: JSON = {"type": ev.channel}
        extra: JSON = {}
        kind = ev.kind
        if kind == "trigger":
            if ev.agent >= 0:
                summary = f"Triggered through the website by {who}."
            else:
                summary = "Triggered through the API."
                channel = {
                    "type": "api",
                    "summary": inc.title,
                    "details": {"incident_key": inc.key},
                }
            extra["event_details"] = {"description": inc.title}
        elif kind == "assign":
            summary = (
                f"Assigned to {target}." if ev.agent < 0 else f"Reassigned to {target} by {who}."
            )
            extra["assignees"] = [self.user_refs[ev.target]]
        elif kind == "notify":
            summary = f"Notified {target}."
            extra["user"] = self.user_refs[ev.target]
            if ev.notice:
                channel = {"type": "auto", "notification": self.notification(ev, zone)}
        elif kind == "escalate":
            summary = f"Escalated to {target}."
            extra["assignees"] = [self.user_refs[ev.target]]
        elif kind == "acknowledge":
            summary = f"Acknowledged by {who}."
        elif kind == "unacknowledge":
            summary = f"Unacknowledged by {who}."
        elif kind == "annotate":
            summary = "Note added"
        elif kind == "resolve":
            if ev.agent >= 0:
                summary = f"Resolved by {who}."
            elif ev.agent == -2:
                summary = "Resolved by timeout."
            else:
                summary = "Resolved through the API."
        elif kind == "urgency_change":
            summary = f"Urgency changed by {who}."
        else:
            summary = f"{kind.replace('_', ' ').capitalize()} by {who}."
        if ev.note:
            extra["note"] = ev.note
        out: JSON = {
            "id": ev.id,
            "type": f"{kind}_log_entry",
            "summary": summary,
            "self": f"{self.api}/log_entries/{ev.id}",
            "html_url": f"{self.web}/incidents/{inc.id}/log_entries/{ev.id}",
            "created_at": format_ts(ev.at, zone),
            "agent": self.user_refs[ev.agent] if ev.agent >= 0 else self.service_refs[inc.service],
            "channel": channel,
            "service": self.service_refs[inc.service],
            "incident": self.incident_ref(inc),
            "teams": [self.team_refs[service.team]],
            "contexts": [],
        }
        out.update(extra)
        return out

    def notification(self, ev: LogEvent, zone: dt.tzinfo | None = None) -> JSON:
        """The ``Notification`` a notify event sent (``GET /notifications``)."""
        kind = ev.notice or "push_notification"
        user = self.account.users[ev.target]
        methods = {m[1].removesuffix("_contact_method"): m[3] for m in contact_methods(user)}
        address = methods.get(kind.removesuffix("_notification"))
        return {
            "id": "P" + ev.id[1:14],
            "type": kind,
            "started_at": format_ts(ev.at, zone),
            "address": None if kind == "push_notification" else address,
            "user": self.user_refs[ev.target],
            "status": "success",
        }

    def alerts(self, inc: Incident, zone: dt.tzinfo | None = None) -> list[JSON]:
        """The incident's alerts, oldest first. The first one carries the incident key."""
        service = self.account.services[inc.service]
        end = inc.resolved_at or inc.updated_at
        step = max(1, min(300, (end - inc.created_at) // (inc.alerts + 1))) if inc.alerts > 1 else 0
        trigger_id = log_entry_id(inc.log_seed, 0)
        trigger_ref = {
            "id": trigger_id,
            "type": "trigger_log_entry_reference",
            "summary": "Triggered through the API.",
            "self": f"{self.api}/log_entries/{trigger_id}",
            "html_url": f"{self.web}/incidents/{inc.id}/log_entries/{trigger_id}",
        }
        out = []
        for n in range(inc.alerts):
            alert_id = log_entry_id(inc.log_seed, 1000 + n, "Q")[:14]
            out.append(
                {
                    "id": alert_id,
                    "type": "alert",
                    "summary": inc.title,
                    "self": f"{self.api}/incidents/{inc.id}/alerts/{alert_id}",
                    "html_url": f"{self.web}/alerts/{alert_id}",
                    "created_at": format_ts(inc.created_at + n * step, zone),
                    "status": "resolved" if inc.status == "resolved" else "triggered",
                    "alert_key": alert_key(inc, n),
                    "service": self.service_refs[inc.service],
                    "first_trigger_log_entry": trigger_ref,
                    "incident": self.incident_ref(inc),
                    "suppressed": False,
                    "severity": "critical" if inc.urgency == "high" else "warning",
                    "integration": self.integration_refs[inc.service],
                    "body": {
                        "type": "alert_body",
                        "contexts": [],
                        "details": inc.details
                        if n == 0 and inc.details is not None
                        else {
                            "summary": inc.title,
                            "source": f"{service.slug}.prod.example.com",
                            "occurrence": n + 1,
                        },
                    },
                }
            )
        return out

    def note(self, note: Note, zone: dt.tzinfo | None = None) -> JSON:
        return {
            "id": note.id,
            "user": self.user_refs[note.user],
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": note.content,
            "created_at": format_ts(note.created_at, zone),
            "updated_at": format_ts(note.created_at, zone),
        }

    # -- other resources ------------------------------------------------------------------

    def user(self, idx: int, zone: dt.tzinfo | None = None) -> JSON:
        u = self.account.users[idx]
        return {
            **self.user_refs[idx],
            "type": "user",
            "name": u.name,
            "email": u.email,
            "time_zone": u.time_zone,
            "color": u.color,
            "role": u.role,
            "avatar_url": f"https://secure.gravatar.com/avatar/{u.id.lower()}.png?d=mm&r=PG",
            "description": None,
            "invitation_sent": False,
            "job_title": u.job_title,
            "created_via_sso": False,
            "teams": [self.team_refs[t] for t in u.teams],
            "contact_methods": [
                {
                    "id": cid,
                    "type": f"{ctype}_reference",
                    "summary": label,
                    "self": f"{self.api}/users/{u.id}/contact_methods/{cid}",
                    "html_url": None,
                }
                for cid, ctype, label, _ in contact_methods(u)
            ],
            "notification_rules": [
                {
                    "id": f"PR{n}{u.id[2:]}",
                    "type": "assignment_notification_rule_reference",
                    "summary": f"{delay // 60} minutes: {kind.replace('_', ' ')} ({urgency})",
                    "self": f"{self.api}/users/{u.id}/notification_rules/PR{n}{u.id[2:]}",
                    "html_url": None,
                }
                for n, (delay, kind, urgency) in enumerate(_rules(u))
            ],
        }

    def team(self, idx: int) -> JSON:
        t = self.account.teams[idx]
        return {
            **self.team_refs[idx],
            "type": "team",
            "name": t.name,
            "description": t.description,
            "default_role": "manager",
            "parent": None,
        }

    def escalation_policy(self, idx: int) -> JSON:
        a = self.account
        p = a.escalation_policies[idx]
        return {
            **self.ep_refs[idx],
            "type": "escalation_policy",
            "name": p.name,
            "description": p.description,
            "num_loops": p.num_loops,
            "on_call_handoff_notifications": "if_has_services",
            "escalation_rules": [
                {
                    "id": rule_id,
                    "escalation_delay_in_minutes": delay,
                    "targets": [self.schedule_refs[schedule]],
                }
                for rule_id, delay, schedule in p.rules
            ],
            "services": [
                self.service_refs[s.idx] for s in a.services if s.escalation_policy == idx
            ],
            "teams": [self.team_refs[p.team]],
        }

    def service(
        self,
        idx: int,
        zone: dt.tzinfo | None = None,
        status: str = "active",
        last_incident: int = 0,
    ) -> JSON:
        s = self.account.services[idx]
        return {
            **self.service_refs[idx],
            "type": "service",
            "name": s.name,
            "description": s.description,
            "auto_resolve_timeout": s.auto_resolve_timeout,
            "acknowledgement_timeout": s.acknowledgement_timeout,
            "created_at": format_ts(s.created_at, zone),
            "status": status,
            "last_incident_timestamp": format_ts(last_incident, zone) if last_incident else None,
            "escalation_policy": self.ep_refs[s.escalation_policy],
            "teams": [self.team_refs[s.team]],
            "integrations": [self.integration_refs[idx]],
            "incident_urgency_rule": {"type": "constant", "urgency": "low" if s.noisy else "high"},
            "support_hours": None,
            "scheduled_actions": [],
            "alert_creation": "create_alerts_and_incidents",
        }

    def schedule(self, idx: int, zone: dt.tzinfo | None = None) -> JSON:
        """The ``Schedule`` object (layers, users, policies, teams); not rendered over time."""
        a = self.account
        s = a.schedules[idx]
        policies = [p for p in a.escalation_policies if any(r[2] == idx for r in p.rules)]
        members: list[int] = []
        for layer in s.layers:
            members += [u for u in layer.users if u not in members]
        layers = []
        # PagerDuty lists the highest (winning) layer first.
        for layer in reversed(s.layers):
            obj: JSON = {
                "id": layer.id,
                "name": layer.name,
                "start": format_ts(layer.start, zone),
                "end": None,
                "users": [{"user": self.user_refs[u]} for u in layer.users],
                "restrictions": [],
                "rotation_virtual_start": format_ts(layer.virtual_start, zone),
                "rotation_turn_length_seconds": layer.turn_seconds,
            }
            if layer.restriction is not None:
                day, offset, duration = layer.restriction
                obj["restrictions"] = [
                    {
                        "type": "weekly_restriction",
                        "start_day_of_week": day,
                        "start_time_of_day": f"{offset // 3600:02d}:{offset // 60 % 60:02d}:00",
                        "duration_seconds": duration,
                    }
                ]
            layers.append(obj)
        return {
            **self.schedule_refs[idx],
            "type": "schedule",
            "name": s.name,
            "description": f"{s.name} rotation",
            "time_zone": s.time_zone,
            "schedule_layers": layers,
            "escalation_policies": [self.ep_refs[p.idx] for p in policies],
            "users": [self.user_refs[u] for u in members],
            "teams": [self.team_refs[t] for t in sorted({p.team for p in policies})],
        }


def _rules(user: Any) -> list[tuple[int, str, str]]:
    from ._schedules import HIGH_RULES, LOW_RULES

    out = [(d, k, "high") for d, k in HIGH_RULES]
    if has_low_urgency_rule(user):
        out += [(d, k, "low") for d, k in LOW_RULES]
    return out


def _js(value: Any) -> str:
    """Compact JSON text, the same as ``_store.dumps`` (without the encode)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def alert_key(inc: Incident, n: int) -> str:
    """The dedup key of the incident's ``n``-th alert (the first one is the incident key)."""
    return inc.key if n == 0 else f"{inc.key}#{n}"


def timeline(account: Account, inc: Incident) -> list[LogEvent]:
    """The log of a generated incident, derived from its fields, oldest first.

    Writes copy this into ``inc.history`` before appending, so the derived part stays
    consistent with the generated timeline once the fields change.
    """
    ep = (
        inc.escalation_policy
        if inc.escalation_policy >= 0
        else account.services[inc.service].escalation_policy
    )
    seed = inc.log_seed
    first = account.on_call(ep, 1, inc.created_at)
    events = [
        LogEvent(log_entry_id(seed, 0), "trigger", inc.created_at, -1, "api"),
        LogEvent(log_entry_id(seed, 1), "assign", inc.created_at, -1, "auto", first),
    ]
    if inc.escalated_at:
        second = account.on_call(ep, 2, inc.created_at)
        events.append(
            LogEvent(log_entry_id(seed, 3), "escalate", inc.escalated_at, -1, "timeout", second)
        )
    # Each assignment notifies its user by their rules until someone acknowledges/resolves;
    # the first notification keeps the id the single notify entry always had.
    stops = [t for t in (inc.ack_at, inc.resolved_at) if t]
    sent = notices(account, inc.urgency, min(stops) if stops else 0, events)
    for n, (at, user, kind) in enumerate(sent):
        events.append(
            LogEvent(
                log_entry_id(seed, 2 if n == 0 else 20 + n),
                "notify",
                at,
                -1,
                "auto",
                user,
                notice=kind,
            )
        )
    if inc.ack_at and inc.ack_by >= 0:
        channel = "sms" if seed & 2 else "website"
        events.append(
            LogEvent(log_entry_id(seed, 4), "acknowledge", inc.ack_at, inc.ack_by, channel)
        )
    for n, note in enumerate(inc.notes or ()):
        events.append(
            LogEvent(
                log_entry_id(seed, 10 + n),
                "annotate",
                note.created_at,
                note.user,
                "note",
                note=note.content,
            )
        )
    if inc.resolved_at:
        channel = (
            "website" if inc.resolved_by >= 0 else "timeout" if inc.resolved_by == -2 else "api"
        )
        events.append(
            LogEvent(log_entry_id(seed, 5), "resolve", inc.resolved_at, inc.resolved_by, channel)
        )
    events.sort(key=lambda e: e.at)
    return events
